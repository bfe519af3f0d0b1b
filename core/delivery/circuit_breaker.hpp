#pragma once
// CircuitBreaker: stops hammering a relay that keeps failing.
//
// closed --(N consecutive relay faults, or one throttle)--> open
// open --(open_for elapsed)--> half-open: exactly one probe batch may go
// half-open --probe succeeds--> closed;  --probe fails--> open again.
// While open, the dispatcher parks messages until reopens_at() without
// counting an attempt, so a relay outage expires messages by TTL, not by
// burning their attempts. Pure state; time is passed in so tests are exact.
#include <chrono>

namespace herald {

class CircuitBreaker final {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { closed, open, half_open };
  enum class Admit { yes, probe, no };

  CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for)
      : threshold_(failure_threshold), open_for_(open_for) {}

  // May a batch be sent now? `probe` means: send one message and report it.
  Admit admit(Clock::time_point now);
  void on_success();
  void on_fault(Clock::time_point now);
  void on_throttle(Clock::time_point now);  // opens at once

  State state() const { return state_; }
  Clock::time_point reopens_at() const { return reopens_at_; }
  int consecutive_faults() const { return faults_; }

 private:
  void open(Clock::time_point now);

  int threshold_;
  std::chrono::milliseconds open_for_;
  State state_ = State::closed;
  int faults_ = 0;
  bool probing_ = false;
  Clock::time_point reopens_at_{};
};

}  // namespace herald
