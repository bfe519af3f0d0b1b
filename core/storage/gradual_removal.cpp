#include "core/storage/gradual_removal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "core/storage/file_io.hpp"
#include "core/util/threads.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;

// ~2 ms of discard each on this VM's disk (81 MB took 71 ms of device time).
constexpr off_t kStep = 2 << 20;
constexpr auto kPause = std::chrono::milliseconds(5);
constexpr std::string_view kSuffix = ".removing";

std::error_code errno_code() { return {errno, std::generic_category()}; }

// Cuts the file kStep at a time, until `stop` is set.
std::error_code shrink(const fs::path& path, const std::atomic<bool>& stop) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_code();
  std::error_code ec;
  struct stat st {};
  if (::fstat(fd, &st) != 0) ec = errno_code();
  for (off_t size = st.st_size; !ec && size > kStep && !stop.load(std::memory_order_relaxed);) {
    size -= kStep;
    if (::ftruncate(fd, size) != 0 || ::fsync(fd) != 0) ec = errno_code();
    std::this_thread::sleep_for(kPause);
  }
  ::close(fd);
  return ec;
}

}  // namespace

GradualRemover::GradualRemover(std::string thread_name, std::string what, Logger& log, int nice)
    : thread_name_(std::move(thread_name)), what_(std::move(what)), log_(log), nice_(nice) {}

GradualRemover::~GradualRemover() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::error_code GradualRemover::remove(const fs::path& path, std::shared_ptr<const void> hold) {
  fs::path doomed = path;
  doomed += kSuffix;
  if (::rename(path.c_str(), doomed.c_str()) != 0) return errno_code();
  // Synced before the caller goes on (to delete what made the file
  // redundant, say): after a crash the file is a leftover, never replayed.
  const std::error_code ec = fsync_directory(path.parent_path());
  std::lock_guard lock(mutex_);
  queue_.push_back({std::move(doomed), std::move(hold)});
  if (!thread_.joinable())
    thread_ = std::thread([this] {
      name_this_thread(thread_name_);
      make_this_thread_background(nice_);
      run();
    });
  cv_.notify_all();
  return ec;
}

void GradualRemover::wait_idle() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return queue_.empty() && in_progress_ == 0; });
}

void GradualRemover::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++in_progress_;
    lock.unlock();
    finish(job);
    lock.lock();
    --in_progress_;
    cv_.notify_all();  // wait_idle()
  }
}

void GradualRemover::finish(Job& job) {
  std::error_code ec;
  if (!stop_) {
    const auto deadline = std::chrono::steady_clock::now() + kHoldWait;
    while (job.hold && job.hold.use_count() > 1 && !stop_ && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!job.hold || job.hold.use_count() == 1) ec = shrink(job.doomed, stop_);
  }
  if (::unlink(job.doomed.c_str()) != 0 && !ec) ec = errno_code();
  job.hold.reset();
  if (ec) log_.warn("cannot remove a file", {{"what", what_}, {"file", job.doomed.string()}, {"error", ec.message()}});
}

size_t remove_leftovers(const fs::path& dir) { return remove_files_ending_in(dir, kSuffix); }

}  // namespace herald
