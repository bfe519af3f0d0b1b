#pragma once
// PaddedStringBody: Beast's string_body for request bodies, read so that
// EventDecoder can parse them where they are.
//
// simdjson reads up to SIMDJSON_PADDING bytes past a document's end. With
// string_body, every request body was zero-filled (its reader resizes, then
// copies) and then copied again into the decoder's padded buffer: two passes
// over up to max_body_bytes that decode no faster. This reader reserves the
// body's Content-Length plus kDecoderPadding, appends without zero-filling,
// and leaves that many zero bytes of spare capacity after the body.
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional/optional.hpp>

#include <cstdint>
#include <string>

#include "core/ingest/event_decoder.hpp"

namespace herald {

struct PaddedStringBody : boost::beast::http::string_body {
  class reader {
   public:
    template <bool isRequest, class Fields>
    explicit reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::beast::error_code& ec) {
      ec = {};
      if (!length) return;  // chunked: grows as it arrives
      if (*length > body_.max_size() - kDecoderPadding) {
        ec = boost::beast::http::error::buffer_overflow;
        return;
      }
      body_.reserve(static_cast<size_t>(*length) + kDecoderPadding);
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
      // Appended and cut off again: the zeros stay in the spare capacity (a
      // shorter length moves no bytes), so nothing past the body is
      // uninitialized when simdjson reads it.
      body_.append(kDecoderPadding, '\0');
      body_.resize(body_.size() - kDecoderPadding);
    }

   private:
    value_type& body_;
  };
};

// True when `body` has the spare capacity EventDecoder::decode's `padded`
// asks for (bodies read with PaddedStringBody have it).
inline bool has_decoder_padding(const std::string& body) {
  return body.capacity() - body.size() >= kDecoderPadding;
}

}  // namespace herald
