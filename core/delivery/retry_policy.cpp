#include "core/delivery/retry_policy.hpp"

#include <algorithm>

namespace herald {

std::chrono::milliseconds RetryPolicy::delay(int attempts_made) const {
  const double initial = double(settings_.initial.count());
  const double cap = double(settings_.max.count());
  int exp = std::clamp(attempts_made - 1, 0, 62);
  double ceiling = std::min(cap, initial * double(uint64_t(1) << std::min(exp, 40)));
  double floor = std::min(initial / 2, ceiling);
  double d = floor + (ceiling - floor) * uniform01_();
  return std::chrono::milliseconds(int64_t(d));
}

}  // namespace herald
