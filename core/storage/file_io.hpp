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

}  // namespace herald
