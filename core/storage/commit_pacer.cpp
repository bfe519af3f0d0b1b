#include "core/storage/commit_pacer.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>

namespace herald {

std::optional<CpuTicks> parse_proc_stat(std::string_view text) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice":
  // guest time is counted in user/nice already, so the total stops at steal.
  if (!text.starts_with("cpu ")) return std::nullopt;
  text.remove_prefix(4);
  CpuTicks t;
  int fields = 0;
  for (; fields < 8; ++fields) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end == text.data()) break;
    text.remove_prefix(size_t(end - text.data()));
    t.total += v;
    if (fields == 7) t.steal = v;
  }
  // Kernels before 2.6.11 have no steal column: no steal to follow.
  if (fields < 4) return std::nullopt;
  return t;
}

std::optional<CpuTicks> read_cpu_ticks() {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return parse_proc_stat(line);
}

CommitPacer::CommitPacer(Options o)
    : options_(o),
      interval_(o.floor),
      calm_needed_(std::max(1u, o.calm_windows)),
      since_lowered_(o.probe_windows + 1) {}

std::chrono::microseconds CommitPacer::observe(const CpuTicks& before, const CpuTicks& after) {
  if (fixed() || after.total <= before.total || after.steal < before.steal) return interval_;
  const double steal = double(after.steal - before.steal) / double(after.total - before.total);
  last_steal_ = steal;
  if (since_lowered_ <= options_.probe_windows) ++since_lowered_;
  if (steal > options_.raise_steal) {
    calm_run_ = 0;
    // The last halving was answered with steal: probe less often.
    if (since_lowered_ <= options_.probe_windows)
      calm_needed_ = std::min(options_.max_calm_windows, calm_needed_ * 2);
    since_lowered_ = options_.probe_windows + 1;
    interval_ = std::min(options_.ceiling, std::max(interval_ * 2, kLeastRaised));
    return interval_;
  }
  if (steal >= options_.calm_steal || interval_ <= options_.floor) {
    calm_run_ = 0;
    return interval_;
  }
  if (++calm_run_ >= calm_needed_) {
    calm_run_ = 0;
    const auto half = interval_ / 2;
    interval_ = half < kLeastRaised ? options_.floor : std::max(options_.floor, half);
    since_lowered_ = 0;
  }
  return interval_;
}

}  // namespace herald
