#include "core/storage/file_io.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

std::string joined(IoSlices slices) {
  std::string out;
  for (const iovec& v : slices) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return out;
}

TEST(FileIoTest, SlicesAfterAndBeforeCutAtAnyByte) {
  const std::string a = "abc", b, c = "defgh", d = "ij";
  const std::vector<iovec> slices = {io_slice(a), io_slice(b), io_slice(c), io_slice(d)};
  const std::string all = "abcdefghij";
  EXPECT_EQ(total_bytes(slices), all.size());
  for (size_t n = 0; n <= all.size(); ++n) {
    std::vector<iovec> storage;
    EXPECT_EQ(joined(slices_after(slices, n, storage)), all.substr(n)) << n;
    EXPECT_EQ(total_bytes(slices_after(slices, n, storage)), all.size() - n) << n;
    EXPECT_EQ(joined(slices_before(slices, n, storage)), all.substr(0, n)) << n;
  }
  // A cut of slices that already live in the storage (a second short write).
  std::vector<iovec> storage;
  IoSlices rest = slices_after(slices, 1, storage);
  rest = slices_after(rest, 4, storage);
  EXPECT_EQ(joined(rest), "fghij");
  // Only whole slices skipped (and the empty one after them): no copy.
  EXPECT_EQ(slices_after(slices, 3, storage).data(), slices.data() + 2);
}

TEST(FileIoTest, PwritevAllWritesMoreSlicesThanOneCallTakes) {
  TempDir dir;
  const auto path = dir.path() / "f";
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::vector<std::string> parts;
  for (size_t i = 0; i < 3 * kMaxIoSlices + 7; ++i) parts.push_back(std::to_string(i) + (i % 3 ? "," : ""));
  std::vector<iovec> slices;
  std::string expected = "head";
  for (const auto& p : parts) {
    slices.push_back(io_slice(p));
    expected += p;
  }
  ASSERT_FALSE(pwrite_all(fd, "head", 0));
  ASSERT_FALSE(pwritev_all(fd, slices, 4));
  ::close(fd);
  std::ifstream in(path, std::ios::binary);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), expected);
}

TEST(FileIoTest, PwritevAllReportsTheError) {
  const std::string data = "x";
  const iovec one = io_slice(data);
  EXPECT_EQ(pwritev_all(-1, IoSlices(&one, 1), 0), std::error_code(EBADF, std::generic_category()));
}

}  // namespace
}  // namespace herald
