#pragma once
// LogIo: how the log's flusher puts a group commit on disk and makes it
// durable. A commit is a list of slices (IoSlices: the small batches copied
// together, each large batch in its own buffer) written as one.
//
// Two backends behind one seam so both can be tested and chosen at runtime:
//   UringLogIo  — one io_uring submission of WRITEV linked to FSYNC(DATASYNC):
//                 one syscall for both, the kernel orders them.
//   PwriteLogIo — pwritev() loop + fdatasync(): works everywhere (old kernels,
//                 seccomp profiles that block io_uring, libfiu fault injection).
// The seam is also where unit tests inject write/sync failures.
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "core/storage/file_io.hpp"

namespace herald {

struct LogWriteResult {
  std::error_code write;  // the bytes are not (all) in the file
  std::error_code sync;   // written, but durability is unknown: the caller must fence
};

class LogIo {
 public:
  virtual ~LogIo() = default;
  virtual const char* name() const = 0;
  // Writes all of `data` at `offset` of `fd`, then fdatasyncs `fd`. The sync
  // is skipped (and `sync` left clear) when the write fails.
  virtual LogWriteResult write_and_sync(int fd, IoSlices data, off_t offset) = 0;
  LogWriteResult write_and_sync(int fd, std::string_view data, off_t offset) {
    const iovec one = io_slice(data);
    return write_and_sync(fd, IoSlices(&one, 1), offset);
  }
  // fdatasync alone (rotation, header writes, a deferred sync).
  virtual std::error_code sync(int fd) = 0;
  // Writes all of `data` at `offset` without syncing (a log whose syncs are
  // deferred, see SegmentLogOptions::sync_interval). A buffered write only
  // copies into the page cache, so both backends use pwritev().
  virtual std::error_code write(int fd, IoSlices data, off_t offset);
};

enum class LogIoMode { automatic, uring, pwrite };

std::unique_ptr<LogIo> make_pwrite_log_io();
// nullptr with `why` set when io_uring cannot be set up here.
std::unique_ptr<LogIo> make_uring_log_io(std::string& why);
// automatic: io_uring when it works, else pwrite. uring: io_uring or throw.
std::unique_ptr<LogIo> make_log_io(LogIoMode mode, std::string& note);

}  // namespace herald
