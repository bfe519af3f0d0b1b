#include "core/storage/gradual_removal.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, size_t bytes) {
  std::ofstream f(p, std::ios::binary);
  const std::string chunk(64 * 1024, 'x');
  for (size_t done = 0; done < bytes; done += chunk.size())
    f.write(chunk.data(), std::streamsize(std::min(chunk.size(), bytes - done)));
}

TEST(GradualRemovalTest, RemovesAFileOfSeveralStepsAndLeavesNothingBehind) {
  TempDir dir;
  const fs::path p = dir.path() / "00000000000000000001.log";
  write_file(p, 5u << 20);  // three shrinking steps, then the unlink
  write_file(dir.path() / "neighbour", 10);
  EXPECT_FALSE(remove_file_gradually(p));
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(fs::path(p).concat(".removing")));
  EXPECT_TRUE(fs::exists(dir.path() / "neighbour"));
}

TEST(GradualRemovalTest, AMissingFileIsAnErrorAndChangesNothing) {
  TempDir dir;
  write_file(dir.path() / "other", 10);
  EXPECT_EQ(remove_file_gradually(dir.path() / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(GradualRemovalTest, LeftoversOfACutShortRemovalAreDeletedAndNothingElse) {
  TempDir dir;
  write_file(dir.path() / "00000000000000000001.log.removing", 100);
  write_file(dir.path() / "finished-00000000000000000003.run.removing", 100);
  write_file(dir.path() / "00000000000000000002.log", 100);
  EXPECT_EQ(remove_leftovers(dir.path()), 2u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  EXPECT_TRUE(fs::exists(dir.path() / "00000000000000000002.log"));
}

}  // namespace
}  // namespace herald
