#pragma once
// Exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): delay = uniform(0, min(max, initial * 2^(attempt-1))),
// floored at initial/2 so a retry never hammers a relay instantly.
// Pure maths; the random source is injected so tests are deterministic.
#include <chrono>
#include <cstdint>
#include <functional>

#include "core/config/settings.hpp"

namespace herald {

class RetryPolicy final {
 public:
  // `uniform01` returns a value in [0, 1).
  RetryPolicy(RetrySettings settings, std::function<double()> uniform01)
      : settings_(settings), uniform01_(std::move(uniform01)) {}

  // Delay before attempt number `attempts_made + 1`; attempts_made >= 1.
  std::chrono::milliseconds delay(int attempts_made) const;
  bool exhausted(int attempts_made) const { return attempts_made >= settings_.max_attempts; }

 private:
  RetrySettings settings_;
  std::function<double()> uniform01_;
};

}  // namespace herald
