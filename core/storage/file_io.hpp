#pragma once
// Small durable-file helpers shared by the logs, the finished-event runs,
// the resource store and the outbox.
#include <sys/types.h>
#include <sys/uio.h>

#include <filesystem>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace herald {

// pwritev_all() of one buffer: until all of `data` is written; EINTR is retried.
std::error_code pwrite_all(int fd, std::string_view data, off_t offset);

// Byte ranges written one after the other as if they were one: a log's
// group commit, whose large batches are written from their own buffers
// instead of being copied together first.
using IoSlices = std::span<const iovec>;
inline iovec io_slice(std::string_view s) { return {const_cast<char*>(s.data()), s.size()}; }
size_t total_bytes(IoSlices slices);
// The slices without their first `skip` bytes (what a short write left),
// built in `storage` when a slice is cut.
IoSlices slices_after(IoSlices slices, size_t skip, std::vector<iovec>& storage);
// The first `bytes` of the slices, built in `storage`.
IoSlices slices_before(IoSlices slices, size_t bytes, std::vector<iovec>& storage);
// The most slices one pwritev() or io_uring writev takes (IOV_MAX).
constexpr size_t kMaxIoSlices = 1024;
// pwritev() until all of `data` is written (kMaxIoSlices at a time); EINTR
// is retried.
std::error_code pwritev_all(int fd, IoSlices data, off_t offset);

// fsync of a directory: makes the names created, renamed or removed in it
// durable.
std::error_code fsync_directory(const std::filesystem::path& dir);

// Deletes the files in `dir` whose names end in `suffix` (what a crash left
// half done); returns how many.
size_t remove_files_ending_in(const std::filesystem::path& dir, std::string_view suffix);

// rename() that never replaces an existing `to` (a segment's records):
// false with errno EEXIST if it exists. Filesystems without
// RENAME_NOREPLACE get a check first, so the caller must be the only one
// creating names in the directory (the logs hold its flock).
bool rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace herald
