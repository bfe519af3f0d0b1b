#pragma once
// TokenBucket: a messages-per-second limit for one relay.
//
// reserve(n) takes n tokens even if that drives the balance negative and
// returns how long the caller must wait before sending: reservations queue up
// in order, so concurrent lanes share the rate fairly without polling.
// rate 0 means unlimited. Pure; time is passed in.
#include <chrono>

namespace herald {

class TokenBucket final {
 public:
  using Clock = std::chrono::steady_clock;

  // `burst`: tokens that may accumulate while idle (at least 1).
  TokenBucket(double per_second, double burst, Clock::time_point now)
      : rate_(per_second), burst_(burst < 1 ? 1 : burst), tokens_(burst_), last_(now) {}

  bool unlimited() const { return rate_ <= 0; }
  double burst() const { return burst_; }
  std::chrono::nanoseconds reserve(double n, Clock::time_point now);

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace herald
