#pragma once
// Small durable-file helpers shared by the logs, the finished-event runs,
// the resource store and the outbox.
#include <sys/types.h>

#include <filesystem>
#include <string_view>
#include <system_error>

namespace herald {

// pwrite() until all of `data` is written; EINTR is retried.
std::error_code pwrite_all(int fd, std::string_view data, off_t offset);

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
