#include "core/storage/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace herald {

std::error_code pwrite_all(int fd, std::string_view data, off_t offset) {
  const iovec one = io_slice(data);
  return pwritev_all(fd, IoSlices(&one, 1), offset);
}

size_t total_bytes(IoSlices slices) {
  size_t n = 0;
  for (const iovec& v : slices) n += v.iov_len;
  return n;
}

IoSlices slices_after(IoSlices slices, size_t skip, std::vector<iovec>& storage) {
  size_t i = 0;
  while (i < slices.size() && skip >= slices[i].iov_len) skip -= slices[i++].iov_len;
  if (skip == 0) return slices.subspan(i);
  std::vector<iovec> rest(slices.begin() + std::ptrdiff_t(i), slices.end());  // `slices` may be `storage`
  rest[0].iov_base = static_cast<char*>(rest[0].iov_base) + skip;
  rest[0].iov_len -= skip;
  storage.swap(rest);
  return storage;
}

IoSlices slices_before(IoSlices slices, size_t bytes, std::vector<iovec>& storage) {
  std::vector<iovec> head;
  for (const iovec& v : slices) {
    if (bytes == 0) break;
    head.push_back({v.iov_base, std::min(v.iov_len, bytes)});
    bytes -= head.back().iov_len;
  }
  storage.swap(head);
  return storage;
}

std::error_code pwritev_all(int fd, IoSlices data, off_t offset) {
  std::vector<iovec> storage;
  while (!data.empty()) {
    const ssize_t n = ::pwritev(fd, data.data(), int(std::min(data.size(), kMaxIoSlices)), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, std::generic_category()};
    }
    // Nothing written of slices that hold bytes (empty ones are skipped).
    if (n == 0 && total_bytes(data.first(std::min(data.size(), kMaxIoSlices))) > 0)
      return {EIO, std::generic_category()};
    offset += n;
    data = slices_after(data, size_t(n), storage);
  }
  return {};
}

std::error_code fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  std::error_code ec;
  if (::fsync(fd) != 0) ec = {errno, std::generic_category()};
  ::close(fd);
  return ec;
}

size_t remove_files_ending_in(const std::filesystem::path& dir, std::string_view suffix) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().filename().string().ends_with(suffix) && std::filesystem::remove(entry.path(), ec)) ++n;
  return n;
}

bool rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno != EINVAL && errno != ENOSYS) return false;
  if (::access(to.c_str(), F_OK) == 0) {
    errno = EEXIST;
    return false;
  }
  return ::rename(from.c_str(), to.c_str()) == 0;
}

}  // namespace herald
