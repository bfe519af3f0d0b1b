#pragma once
// PresizedAppender: appends pieces whose total size is known beforehand to
// a std::string with one resize, then plain memcpys — no capacity check
// and growth test per piece. Used by the encoders that run once per
// ingested event (history "received" records, journal "accepted" headers),
// where some fifteen std::string appends cost about twice as much.
#include <cassert>
#include <cstring>
#include <string>
#include <string_view>

namespace herald {

class PresizedAppender {
 public:
  // Grows `out` by exactly `bytes`; the caller then puts exactly that many.
  PresizedAppender(std::string& out, size_t bytes) : out_(out), start_(out.size()) {
    out.resize(start_ + bytes);
    p_ = out.data() + start_;
  }
  ~PresizedAppender() { assert(p_ == out_.data() + out_.size()); }
  PresizedAppender(const PresizedAppender&) = delete;
  PresizedAppender& operator=(const PresizedAppender&) = delete;

  void put(std::string_view s) noexcept {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void put(char c) noexcept { *p_++ = c; }

 private:
  std::string& out_;
  size_t start_;
  char* p_;
};

}  // namespace herald
