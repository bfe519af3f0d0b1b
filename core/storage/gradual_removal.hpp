#pragma once
// GradualRemover: deletes big files a few megabytes at a time, on a thread
// of its own.
//
// Why gradually: on a filesystem mounted with online discard (ext4
// `-o discard`, the default on many cloud images, this VM's included),
// unlinking a 64 MB journal segment issues one 64 MB discard, and the disk
// works it off before the flushes queued behind it: the journal's group
// commits, i.e. the 202s. After a checkpoint the accept p99 at 5 000
// events/s went from ~5 ms to 11-30 ms here, with single stalls of
// 50-200 ms; remounted without discard, the same runs stayed at ~5 ms.
// Shrunk step by step, each step synced (so its discard is issued on its
// own, not merged with the next) with a pause between steps, the discards
// are small and commits pass between them.
//
// Why a thread: shrinking a 64 MB segment that way takes ~0.2-0.5 s. Done on
// the journal's maintenance thread (session 19), it held back the next
// flush of finished events: under NDJSON ingest at ~300k events/s the map
// grew to ~300k entries and the checkpoint after it held the journal lock,
// which every accept takes, for up to 93 ms.
//
// remove() renames the file to `<name>.removing` and syncs the directory
// before it returns, so the file is gone under its real name at once, and a
// crash half way leaves a file that recovery deletes (remove_leftovers),
// never a cut-short segment or run. The shrinking and the unlink follow on
// the remover's thread, started at the first removal.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "core/util/log.hpp"

namespace herald {

class GradualRemover {
 public:
  // `thread_name`: its thread's name (15 bytes); `what`: the files, in log
  // lines; `nice`: its thread's make_this_thread_background increment.
  GradualRemover(std::string thread_name, std::string what, Logger& log, int nice = 0);
  // Stops the thread; files still queued (or half shrunk) are unlinked at once.
  ~GradualRemover();
  GradualRemover(const GradualRemover&) = delete;
  GradualRemover& operator=(const GradualRemover&) = delete;

  // Renames `path` away now; shrinks and unlinks it later. `hold`: a
  // reference to what reads the file (a run); the file is shrunk only once
  // `hold` is the last reference (else a reader's pread would come back
  // short), waiting up to `kHoldWait`, then unlinked unshrunk (the readers
  // keep their open file). Errors of the rename are returned; later ones
  // are logged.
  std::error_code remove(const std::filesystem::path& path, std::shared_ptr<const void> hold = {});
  // Blocks until every file handed to remove() so far is unlinked.
  void wait_idle();

  static constexpr std::chrono::seconds kHoldWait{10};

 private:
  struct Job {
    std::filesystem::path doomed;
    std::shared_ptr<const void> hold;
  };
  void run();
  void finish(Job& job);

  const std::string thread_name_;
  const std::string what_;
  Logger& log_;
  const int nice_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  size_t in_progress_ = 0;
  bool stopping_ = false;  // under mutex_; read by the shrinking loop through stop_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Deletes the `*.removing` files a crash left in `dir` (at startup); returns how many.
size_t remove_leftovers(const std::filesystem::path& dir);

}  // namespace herald
