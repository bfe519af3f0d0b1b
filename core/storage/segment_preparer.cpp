#include "core/storage/segment_preparer.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/storage/file_io.hpp"
#include "core/util/threads.hpp"

namespace herald {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSuffix = ".preparing";

std::error_code errno_code() { return {errno, std::generic_category()}; }

// kStepBytes of zeros in one pwritev, from one small buffer.
std::error_code write_zeros(int fd, off_t at, size_t bytes) {
  static constexpr char kZeros[64 << 10] = {};
  std::array<iovec, SegmentPreparer::kStepBytes / sizeof kZeros> iov;
  while (bytes > 0) {
    size_t n = 0, total = 0;
    for (; n < iov.size() && total < bytes; ++n) {
      const size_t len = std::min(sizeof kZeros, bytes - total);
      iov[n] = {const_cast<char*>(kZeros), len};
      total += len;
    }
    const ssize_t w = ::pwritev(fd, iov.data(), int(n), at);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno_code();
    if (w == 0) return {EIO, std::generic_category()};
    at += w;
    bytes -= size_t(w);
  }
  return {};
}

}  // namespace

SegmentPreparer::SegmentPreparer(Options options, Logger& log, Ready ready)
    : options_(std::move(options)), log_(log), ready_(std::move(ready)) {}

SegmentPreparer::~SegmentPreparer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SegmentPreparer::request() {
  std::lock_guard lock(mutex_);
  if (stopping_ || wanted_ || busy_) return;
  if (failed_at_ && std::chrono::steady_clock::now() - *failed_at_ < kRetryAfter) return;
  wanted_ = true;
  // Started at the first request: a log that never fills zeros ahead (a
  // small one, or one that reuses its segments) never runs it.
  if (!thread_.joinable())
    thread_ = std::thread([this] {
      name_this_thread(options_.thread_name);
      make_this_thread_background(options_.nice);
      run();
    });
  cv_.notify_all();
}

void SegmentPreparer::wait_idle() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return stopping_ || (!wanted_ && !busy_); });
}

size_t SegmentPreparer::prepared() const {
  std::lock_guard lock(mutex_);
  return prepared_;
}

size_t SegmentPreparer::discard_unfinished(const fs::path& dir) { return remove_files_ending_in(dir, kSuffix); }

void SegmentPreparer::run() {
  const fs::path temp = options_.dir / (std::string("next") + std::string(kSuffix));
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || wanted_; });
    if (stopping_) break;
    wanted_ = false;
    busy_ = true;
    lock.unlock();
    const bool ok = prepare_one(temp);
    lock.lock();
    busy_ = false;
    if (ok) {
      ++prepared_;
      failed_at_.reset();
    }
    cv_.notify_all();
  }
}

bool SegmentPreparer::prepare_one(const fs::path& temp) {
  std::string failed;
  // Never the disk's last space: the commits need it more than a segment
  // ahead does (a full disk turns accepts into 503s).
  struct statvfs vfs {};
  if (::statvfs(options_.dir.c_str(), &vfs) == 0 && uint64_t(vfs.f_bavail) * vfs.f_frsize < 2 * options_.bytes)
    failed = "less than two segments of free space (" + std::to_string(uint64_t(vfs.f_bavail) * vfs.f_frsize) +
             " bytes)";
  const int fd = failed.empty() ? ::open(temp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0640) : -1;
  if (fd < 0 && failed.empty()) failed = std::string("open: ") + std::strerror(errno);
  const auto started = std::chrono::steady_clock::now();
  bool stopped = false;
  for (uint64_t at = 0; fd >= 0 && failed.empty() && at < options_.bytes;) {
    const size_t n = size_t(std::min<uint64_t>(kStepBytes, options_.bytes - at));
    if (auto ec = write_zeros(fd, off_t(at), n)) {
      failed = "write: " + ec.message();
      break;
    }
    // Out to the disk now, one step at a time (not as one burst when the
    // kernel's writeback or the final sync gets to it); data only, so no
    // cache flush and no metadata commit per step.
    if (::sync_file_range(fd, off_t(at), off_t(n),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
      failed = std::string("sync_file_range: ") + std::strerror(errno);
      break;
    }
    at += n;
    if (options_.bytes_per_second &&
        !pause_until(started + std::chrono::microseconds(at * 1'000'000 / options_.bytes_per_second))) {
      stopped = true;
      break;
    }
  }
  if (fd >= 0 && failed.empty() && !stopped && ::fdatasync(fd) != 0)
    failed = std::string("fdatasync: ") + std::strerror(errno);
  if (fd >= 0) ::close(fd);

  fs::path done;
  if (failed.empty() && !stopped) {
    // The first free name: files prepared before a restart may still be there.
    for (unsigned k = 1; done.empty(); ++k) {
      fs::path name = options_.dir / ("prepared-" + std::to_string(k) + ".spare");
      if (rename_no_replace(temp, name)) done = std::move(name);
      else if (errno != EEXIST) {
        failed = std::string("rename: ") + std::strerror(errno);
        break;
      }
    }
  }
  if (!done.empty()) {
    if (auto ec = fsync_directory(options_.dir)) {
      failed = "directory fsync: " + ec.message();
      std::error_code ignored;
      fs::remove(done, ignored);
      done.clear();
    }
  }
  if (done.empty()) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    if (!failed.empty()) {
      log_.warn("cannot prepare a segment; segments grow as they are written until it can",
                {{"what", options_.what}, {"error", failed}});
      std::lock_guard lock(mutex_);
      failed_at_ = std::chrono::steady_clock::now();
    }
    return false;
  }
  ready_(done, options_.bytes);
  return true;
}

bool SegmentPreparer::pause_until(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_until(lock, until, [&] { return stopping_; });
}

}  // namespace herald
