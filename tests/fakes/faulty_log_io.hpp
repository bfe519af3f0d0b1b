#pragma once
// A LogIo that fails on command, for fault injection in unit tests (the real
// backends underneath do the I/O). libfiu cannot see io_uring, and ENOSPC or
// EIO on fdatasync cannot be provoked on a healthy test disk.
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/storage/log_io.hpp"

namespace herald {

class FaultyLogIo final : public LogIo {
 public:
  explicit FaultyLogIo(std::unique_ptr<LogIo> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return inner_->name(); }

  LogWriteResult write_and_sync(int fd, IoSlices data, off_t offset) override {
    wait_while_held();
    if (fail_writes > 0) {
      --fail_writes;
      // Like a disk filling up mid-batch: half the bytes land, then ENOSPC.
      std::vector<iovec> half;
      inner_->write_and_sync(fd, slices_before(data, total_bytes(data) / 2, half), offset);
      return {std::error_code(ENOSPC, std::generic_category()), {}};
    }
    auto r = inner_->write_and_sync(fd, data, offset);
    if (fail_syncs > 0) {
      --fail_syncs;
      r.sync = std::error_code(EIO, std::generic_category());
    }
    ++writes;
    return r;
  }
  std::error_code sync(int fd) override {
    if (fail_syncs > 0) {
      --fail_syncs;
      return std::error_code(EIO, std::generic_category());
    }
    ++syncs;
    return inner_->sync(fd);
  }
  std::error_code write(int fd, IoSlices data, off_t offset) override {
    wait_while_held();
    if (fail_writes > 0) {
      --fail_writes;
      std::vector<iovec> half;
      inner_->write(fd, slices_before(data, total_bytes(data) / 2, half), offset);
      return std::error_code(ENOSPC, std::generic_category());
    }
    ++writes_only;
    return inner_->write(fd, data, offset);
  }

  // While held, writes wait (a commit kept in flight); `waiting` counts the
  // writes that waited.
  void hold() {
    std::lock_guard lock(hold_mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(hold_mutex_);
      held_ = false;
    }
    hold_cv_.notify_all();
  }
  std::atomic<int> waiting{0};

  std::atomic<int> fail_writes{0};
  std::atomic<int> fail_syncs{0};
  std::atomic<int> writes{0};       // write_and_sync calls that wrote
  std::atomic<int> writes_only{0};  // write calls (deferred sync)
  std::atomic<int> syncs{0};        // sync calls (deferred sync, rotation)

 private:
  void wait_while_held() {
    std::unique_lock lock(hold_mutex_);
    if (!held_) return;
    ++waiting;
    hold_cv_.wait(lock, [&] { return !held_; });
  }

  std::unique_ptr<LogIo> inner_;
  std::mutex hold_mutex_;
  std::condition_variable hold_cv_;
  bool held_ = false;
};

}  // namespace herald
