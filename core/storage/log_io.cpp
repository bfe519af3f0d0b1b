#include "core/storage/log_io.hpp"

#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "core/storage/file_io.hpp"

namespace herald {
namespace {

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

class PwriteLogIo final : public LogIo {
 public:
  const char* name() const override { return "pwrite"; }

  LogWriteResult write_and_sync(int fd, IoSlices data, off_t offset) override {
    LogWriteResult r;
    r.write = pwritev_all(fd, data, offset);
    if (!r.write) r.sync = sync(fd);
    return r;
  }

  std::error_code sync(int fd) override {
    if (::fdatasync(fd) != 0) return errno_code(errno);
    return {};
  }
};

class UringLogIo final : public LogIo {
 public:
  explicit UringLogIo(io_uring ring) : ring_(ring) {}
  ~UringLogIo() override { io_uring_queue_exit(&ring_); }

  const char* name() const override { return "io_uring"; }

  LogWriteResult write_and_sync(int fd, IoSlices data, off_t offset) override {
    LogWriteResult r;
    const size_t total = total_bytes(data);
    size_t done = 0;
    if (data.size() <= kMaxIoSlices) {
      // First try: WRITEV → FSYNC linked in one submission. A short write
      // breaks the link (the fsync completes with -ECANCELED); the rest is
      // then written and synced separately below.
      io_uring_sqe* w = io_uring_get_sqe(&ring_);
      io_uring_prep_writev(w, fd, data.data(), unsigned(data.size()), offset);
      w->flags |= IOSQE_IO_LINK;
      w->user_data = 1;
      io_uring_sqe* s = io_uring_get_sqe(&ring_);
      io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
      s->user_data = 2;
      int wres = 0, sres = 0;
      const std::error_code submitted = submit_and_reap(2, wres, sres);
      if (auto e = write_error(submitted, wres)) {
        r.write = e;
        return r;
      }
      done = size_t(wres);
      if (done == total) {
        if (sres < 0) r.sync = errno_code(-sres);
        return r;
      }
    }
    // A short write, or more slices than one writev takes: the rest in
    // writes of their own, then the sync alone.
    std::vector<iovec> storage;
    IoSlices rest = slices_after(data, done, storage);
    while (done < total) {
      int res = 0, unused = 0;
      io_uring_sqe* w = io_uring_get_sqe(&ring_);
      io_uring_prep_writev(w, fd, rest.data(), unsigned(std::min(rest.size(), kMaxIoSlices)), offset + off_t(done));
      w->user_data = 1;
      const std::error_code submitted = submit_and_reap(1, res, unused);
      if (auto e = write_error(submitted, res == 0 ? -EIO : res)) {
        r.write = e;
        return r;
      }
      done += size_t(res);
      rest = slices_after(rest, size_t(res), storage);
    }
    r.sync = sync(fd);
    return r;
  }

  std::error_code sync(int fd) override {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
    s->user_data = 2;
    int unused = 0, sres = 0;
    if (auto e = submit_and_reap(1, unused, sres)) return e;
    if (sres < 0) return errno_code(-sres);
    return {};
  }

 private:
  // A submitted write's failure: the submission's, else the write's own.
  static std::error_code write_error(std::error_code submitted, int res) {
    if (submitted) return submitted;
    return res < 0 ? errno_code(-res) : std::error_code();
  }
  // Submits the prepared SQEs and collects `n` completions by user_data
  // (1 = write result, 2 = sync result).
  std::error_code submit_and_reap(unsigned n, int& wres, int& sres) {
    int rc;
    do {
      rc = io_uring_submit_and_wait(&ring_, n);
    } while (rc == -EINTR);
    if (rc < 0) return errno_code(-rc);
    for (unsigned got = 0; got < n;) {
      io_uring_cqe* cqe = nullptr;
      int wr = io_uring_wait_cqe(&ring_, &cqe);
      if (wr == -EINTR) continue;
      if (wr < 0) return errno_code(-wr);
      (cqe->user_data == 1 ? wres : sres) = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      ++got;
    }
    return {};
  }

  io_uring ring_;
};

}  // namespace

std::error_code LogIo::write(int fd, IoSlices data, off_t offset) { return pwritev_all(fd, data, offset); }

std::unique_ptr<LogIo> make_pwrite_log_io() { return std::make_unique<PwriteLogIo>(); }

std::unique_ptr<LogIo> make_uring_log_io(std::string& why) {
  io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    why = std::string("io_uring_queue_init: ") + errno_code(-rc).message();
    return nullptr;
  }
  return std::make_unique<UringLogIo>(ring);
}

std::unique_ptr<LogIo> make_log_io(LogIoMode mode, std::string& note) {
  if (mode == LogIoMode::pwrite) return make_pwrite_log_io();
  std::string why;
  if (auto io = make_uring_log_io(why)) return io;
  if (mode == LogIoMode::uring) throw std::runtime_error("io_uring requested but unavailable: " + why);
  note = "io_uring unavailable (" + why + "); using pwrite + fdatasync";
  return make_pwrite_log_io();
}

}  // namespace herald
