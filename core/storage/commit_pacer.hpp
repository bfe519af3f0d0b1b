#pragma once
// CommitPacer: how long a log's group commits wait for each other
// (SegmentLogOptions::min_commit_interval), chosen from what the machine
// reports instead of fixed for one machine.
//
// The interval exists because on some VMs every fdatasync costs the host
// CPU time charged to the guest: with commits 1 ms apart under deliveries,
// one of our VMs showed 5-9 % steal time and the host stopping the whole
// guest for 5-12 ms every 100 ms (accept p99 ~10.6 ms); 2 ms apart, 0.5 %
// and 7.9 ms. Another VM of the same kind shows no steal at all, and there
// 2 ms only holds every accept back: HTTP ingest 52-54k events/s against
// 61-64k at 1 ms, accept p99 at 5 000/s 3.0-3.4 ms against 2.2 ms.
//
// So the interval starts at its floor and follows the guest's steal time
// (/proc/stat), sampled once a window (a second): a window with more than
// raise_steal of the CPU time stolen doubles it (up to the ceiling); after
// calm_windows windows in a row under calm_steal it is halved (down to the
// floor). A halving that steal answers within probe_windows windows was
// too far: the next halving then waits twice as many calm windows (up to
// max_calm_windows), so a host that throttles at the lower interval is
// probed rarely, not every few seconds. A floor equal to the ceiling is a
// fixed interval. Steal from other guests raises the interval too: it
// costs accepts a millisecond, and the host is short of CPU anyway.
//
// Pure arithmetic on samples (tests feed it windows); the daemon reads
// /proc/stat and applies the result to its logs.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace herald {

// Cumulative CPU time of the whole machine, in clock ticks, from the "cpu"
// line of /proc/stat.
struct CpuTicks {
  uint64_t total = 0;
  uint64_t steal = 0;
};
// nullopt when the text has no well-formed "cpu " line.
std::optional<CpuTicks> parse_proc_stat(std::string_view text);
std::optional<CpuTicks> read_cpu_ticks();  // /proc/stat now

class CommitPacer {
 public:
  struct Options {
    std::chrono::microseconds floor{1'000};
    std::chrono::microseconds ceiling{4'000};
    double raise_steal = 0.02;
    double calm_steal = 0.005;
    unsigned calm_windows = 10;
    unsigned max_calm_windows = 640;
    unsigned probe_windows = 3;
  };
  explicit CommitPacer(Options o);

  // One window's ticks since the previous sample; returns the interval to
  // use from now on. A window with no ticks (clock not advanced) changes nothing.
  std::chrono::microseconds observe(const CpuTicks& before, const CpuTicks& after);
  std::chrono::microseconds interval() const { return interval_; }
  double last_steal() const { return last_steal_; }  // the share stolen in the last window observed
  bool fixed() const { return options_.floor >= options_.ceiling; }
  // A floor of 0 (commit as soon as the last sync ended) is raised to this first.
  static constexpr std::chrono::microseconds kLeastRaised{250};

 private:
  Options options_;
  std::chrono::microseconds interval_;
  unsigned calm_needed_;
  unsigned calm_run_ = 0;
  double last_steal_ = 0.0;
  // Windows since the last halving; probe_windows + 1 when none is recent.
  unsigned since_lowered_;
};

}  // namespace herald
