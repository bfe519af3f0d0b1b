#include "core/delivery/circuit_breaker.hpp"

namespace herald {

CircuitBreaker::Admit CircuitBreaker::admit(Clock::time_point now) {
  switch (state_) {
    case State::closed: return Admit::yes;
    case State::open:
      if (now < reopens_at_) return Admit::no;
      state_ = State::half_open;
      probing_ = false;
      [[fallthrough]];
    case State::half_open:
      if (probing_) return Admit::no;
      probing_ = true;
      // Others wait a full period for the probe's verdict.
      reopens_at_ = now + open_for_;
      return Admit::probe;
  }
  return Admit::no;
}

void CircuitBreaker::on_success() {
  state_ = State::closed;
  faults_ = 0;
  probing_ = false;
}

void CircuitBreaker::on_fault(Clock::time_point now) {
  ++faults_;
  if (state_ == State::half_open || faults_ >= threshold_) open(now);
}

void CircuitBreaker::on_throttle(Clock::time_point now) {
  ++faults_;
  open(now);
}

void CircuitBreaker::open(Clock::time_point now) {
  state_ = State::open;
  probing_ = false;
  reopens_at_ = now + open_for_;
}

}  // namespace herald
