#include "core/delivery/token_bucket.hpp"

#include <algorithm>

namespace herald {

std::chrono::nanoseconds TokenBucket::reserve(double n, Clock::time_point now) {
  if (unlimited()) return std::chrono::nanoseconds(0);
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  tokens_ -= n;
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(int64_t(-tokens_ / rate_ * 1e9));
}

}  // namespace herald
