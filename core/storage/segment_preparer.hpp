#pragma once
// SegmentPreparer: writes a log's next segment file ahead of time, all
// zeros, a little at a time, on a thread of its own.
//
// Why: a segment made when it is needed grows by fill_ahead (a megabyte of
// zeros written just before the group commit that needs them), so every
// megabyte a sync also writes the zeros and the new file size, and ext4
// commits its own journal for it. At 5 000 events/s with deliveries (the
// journal ~3.3 MB/s, the history ~4.6 MB/s: a size change every ~0.13 s)
// the journal's commits that ran beside the history's size-changing syncs
// took 9-17 ms instead of ~1 ms (session 27, bench/PERFORMANCE_LOG.md).
// PostgreSQL prepares WAL segments ahead the same way (PreallocXlogFiles).
//
// Why slowly: the zeros share the disk with the commits. A whole 64 MB
// segment written at once (a trial: filled at its first commit) held
// commits up to 90-120 ms. Each kStepBytes step is pushed to the disk on
// its own (sync_file_range: data only, no cache flush, no metadata commit),
// then the thread pauses to keep to bytes_per_second. The default 8 MB/s
// prepares a 64 MB segment in 8 s, ahead of a log that fills one in 20 s.
//
// The file is written as `next.preparing`, made durable, then renamed to
// `prepared-<k>.spare`: the log takes it as a spare segment
// (segment_log.hpp). A crash half way leaves a `.preparing` file that
// discard_unfinished() deletes at startup.
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/util/log.hpp"

namespace herald {

class SegmentPreparer {
 public:
  struct Options {
    std::filesystem::path dir;
    std::string thread_name;  // 15 bytes at most
    std::string what;         // in log lines: "journal segment"
    uint64_t bytes = 0;       // the file's size
    uint64_t bytes_per_second = 8ull << 20;  // 0 = as fast as the disk takes it
    int nice = 0;                            // make_this_thread_background's increment
  };
  // `ready(path, bytes)` is called on the preparer's thread once a file is
  // durable under its final name.
  using Ready = std::function<void(const std::filesystem::path& path, uint64_t bytes)>;

  SegmentPreparer(Options options, Logger& log, Ready ready);
  // Stops the thread; a file half written is deleted.
  ~SegmentPreparer();
  SegmentPreparer(const SegmentPreparer&) = delete;
  SegmentPreparer& operator=(const SegmentPreparer&) = delete;

  // Starts one file unless one is under way, or a failure is less than
  // kRetryAfter old (a full disk: no retry per commit). Cheap: the flusher
  // calls it whenever it fills zeros ahead itself.
  void request();
  // Blocks until no file is under way (tests).
  void wait_idle();
  size_t prepared() const;  // files made so far

  // Deletes the `.preparing` files a crash left in `dir`; returns how many.
  static size_t discard_unfinished(const std::filesystem::path& dir);

  static constexpr uint64_t kStepBytes = 128 << 10;
  static constexpr std::chrono::seconds kRetryAfter{60};

 private:
  void run();
  // Writes one file; false if stopped or failed (the file is gone then).
  bool prepare_one(const std::filesystem::path& temp);
  // Sleeps until `until` or stop; false on stop.
  bool pause_until(std::chrono::steady_clock::time_point until);

  const Options options_;
  Logger& log_;
  const Ready ready_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool busy_ = false;
  bool stopping_ = false;
  size_t prepared_ = 0;
  std::optional<std::chrono::steady_clock::time_point> failed_at_;  // the last failure, since the last success
  std::thread thread_;
};

}  // namespace herald
