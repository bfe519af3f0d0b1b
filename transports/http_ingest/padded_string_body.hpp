#pragma once
// PaddedStringBody: the request body type, read so that EventDecoder can
// parse bodies where they are.
//
// simdjson reads up to SIMDJSON_PADDING bytes past a document's end. With
// string_body, every request body was zero-filled (its reader resizes, then
// copies) and then copied again into the decoder's padded buffer: two passes
// over up to max_body_bytes that decode no faster. This body's buffer
// (PaddedBuffer) is allocated for the Content-Length plus kDecoderPadding
// without being zero-filled, and has that many zero bytes after the body
// once it is read.
//
// A large body is also read straight into its buffer (HttpServer reads into
// spare() and hands the parser those bytes, which the reader then keeps
// where they are) instead of into the connection's buffer and copied from
// there: under NDJSON ingest (500 events, ~250 KB a request) that copy was
// ~5 % of the HTTP thread's samples. std::string cannot do this in C++20: it
// cannot grow without writing what it grows by (resize_and_overwrite is
// C++23), and bytes written past its size are not its own.
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "core/ingest/event_decoder.hpp"

namespace herald {

// Bytes with kDecoderPadding zero bytes readable after them (padded()),
// except while a body is being read into it.
class PaddedBuffer {
 public:
  PaddedBuffer() = default;
  PaddedBuffer(std::string_view s) { assign(s); }  // NOLINT: a body is set from text in tests and previews
  PaddedBuffer(const PaddedBuffer& other) { assign(other.view()); }
  PaddedBuffer(PaddedBuffer&& other) noexcept { swap(other); }
  PaddedBuffer& operator=(const PaddedBuffer& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  PaddedBuffer& operator=(PaddedBuffer&& other) noexcept {
    PaddedBuffer(std::move(other)).swap(*this);
    return *this;
  }
  PaddedBuffer& operator=(std::string_view s) {
    assign(s);
    return *this;
  }

  const char* data() const { return bytes_ ? bytes_.get() : kZeros; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }  // allocated bytes, the padding's included
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data(), size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: read as text everywhere
  friend bool operator==(const PaddedBuffer& a, std::string_view b) { return a.view() == b; }

  // Zero bytes follow the bytes (an empty buffer points at kZeros).
  bool padded() const { return padded_; }
  // Room for `n` more bytes and the padding after them; keeps the bytes.
  void reserve_more(size_t n) {
    const size_t need = size_ + n + kDecoderPadding;
    if (need <= capacity_) return;
    grow_to(std::max(need, capacity_ + capacity_ / 2));
  }
  // The room after the bytes, uninitialized: a read may fill it and then
  // append() what it read from there.
  char* spare() { return bytes_.get() + size_; }
  size_t spare_size() const { return capacity_ > size_ + kDecoderPadding ? capacity_ - size_ - kDecoderPadding : 0; }
  // Appends `n` bytes from `p`; bytes already at spare() (read there) stay
  // where they are.
  void append(const char* p, size_t n) {
    if (n == 0) return;
    padded_ = false;
    if (bytes_ && p == spare() && n <= spare_size()) {
      size_ += n;
      return;
    }
    reserve_more(n);
    std::memcpy(bytes_.get() + size_, p, n);
    size_ += n;
  }
  // Zeros the padding after the bytes.
  void pad() {
    if (bytes_) {
      reserve_more(0);
      std::memset(bytes_.get() + size_, 0, kDecoderPadding);
    }
    padded_ = true;
  }
  void swap(PaddedBuffer& other) noexcept {
    std::swap(bytes_, other.bytes_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    std::swap(padded_, other.padded_);
  }

 private:
  static constexpr char kZeros[kDecoderPadding] = {};

  void assign(std::string_view s) {
    size_ = 0;
    append(s.data(), s.size());
    pad();
  }
  void grow_to(size_t capacity) {
    // Uninitialized: what is not read into it is written by pad() or never read.
    auto grown = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_) std::memcpy(grown.get(), bytes_.get(), size_);
    bytes_ = std::move(grown);
    capacity_ = capacity;
    padded_ = false;
  }

  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
  size_t capacity_ = 0;  // allocated bytes, the padding's included
  bool padded_ = true;
};

struct PaddedStringBody {
  using value_type = PaddedBuffer;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    explicit reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::beast::error_code& ec) {
      ec = {};
      if (!length) return;  // chunked: grows as it arrives
      if (*length > std::numeric_limits<size_t>::max() / 2) {
        ec = boost::beast::http::error::buffer_overflow;
        return;
      }
      body_.reserve_more(static_cast<size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      ec = {};
      std::size_t n = 0;
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      return n;
    }

    void finish(boost::beast::error_code& ec) {
      ec = {};
      body_.pad();
    }

   private:
    value_type& body_;
  };
};

// True when `body` has the zero bytes after it that EventDecoder::decode's
// `padded` asks for (bodies read with PaddedStringBody have them).
inline bool has_decoder_padding(const PaddedBuffer& body) { return body.padded(); }

}  // namespace herald
