#include "core/storage/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace herald {

std::error_code pwrite_all(int fd, std::string_view data, off_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, offset + off_t(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, std::generic_category()};
    }
    if (n == 0) return {EIO, std::generic_category()};
    done += size_t(n);
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

}  // namespace herald
