#include "core/storage/gradual_removal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "tests/unit/temp_dir.hpp"
#include "tests/unit/thread_nice.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, size_t bytes) {
  std::ofstream f(p, std::ios::binary);
  const std::string chunk(64 * 1024, 'x');
  for (size_t done = 0; done < bytes; done += chunk.size())
    f.write(chunk.data(), std::streamsize(std::min(chunk.size(), bytes - done)));
}

size_t files_in(const fs::path& dir) {
  return size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

fs::path removing(fs::path p) { return p.concat(".removing"); }

class GradualRemovalTest : public ::testing::Test {
 protected:
  TempDir dir;
  Logger log{nullptr};
};

TEST_F(GradualRemovalTest, RemovesAFileOfSeveralStepsAndLeavesNothingBehind) {
  GradualRemover remover("test-rm", "test file", log);
  const fs::path p = dir.path() / "00000000000000000001.log";
  write_file(p, 5u << 20);  // three shrinking steps, then the unlink
  write_file(dir.path() / "neighbour", 10);
  EXPECT_FALSE(remover.remove(p));
  EXPECT_FALSE(fs::exists(p));  // at once, under its own name
  remover.wait_idle();
  EXPECT_FALSE(fs::exists(removing(p)));
  EXPECT_EQ(files_in(dir.path()), 1u);
  EXPECT_TRUE(fs::exists(dir.path() / "neighbour"));
}

// Removal is background work (SegmentLogOptions::background_nice).
TEST_F(GradualRemovalTest, RunsAtTheBackgroundPriority) {
  const int mine = nice_of_this_thread();
  GradualRemover remover("test-rm", "test file", log, 4);
  const fs::path p = dir.path() / "doomed";
  write_file(p, 10);
  EXPECT_FALSE(remover.remove(p));
  remover.wait_idle();
  EXPECT_EQ(nice_of_thread("test-rm"), std::min(19, mine + 4));
  EXPECT_EQ(nice_of_this_thread(), mine);
}

TEST_F(GradualRemovalTest, AMissingFileIsAnErrorAndChangesNothing) {
  GradualRemover remover("test-rm", "test file", log);
  write_file(dir.path() / "other", 10);
  EXPECT_EQ(remover.remove(dir.path() / "missing"), std::errc::no_such_file_or_directory);
  remover.wait_idle();
  EXPECT_EQ(files_in(dir.path()), 1u);
}

TEST_F(GradualRemovalTest, AFileIsNotShrunkWhileItsHolderIsShared) {
  GradualRemover remover("test-rm", "test file", log);
  const fs::path p = dir.path() / "finished-00000000000000000001.run";
  write_file(p, 5u << 20);
  auto reader = std::make_shared<int>(1);  // a run a lookup still holds
  ASSERT_FALSE(remover.remove(p, reader));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(removing(p)));
  EXPECT_EQ(fs::file_size(removing(p)), 5u << 20);  // the reader's preads stay whole
  reader.reset();
  remover.wait_idle();
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST_F(GradualRemovalTest, FilesStillQueuedAtDestructionAreUnlinkedAtOnce) {
  auto reader = std::make_shared<int>(1);  // holds the first file back
  {
    GradualRemover remover("test-rm", "test file", log);
    for (int i = 0; i < 3; ++i) {
      const fs::path p = dir.path() / ("f" + std::to_string(i));
      write_file(p, 3u << 20);
      ASSERT_FALSE(remover.remove(p, i == 0 ? reader : nullptr));
    }
  }
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST_F(GradualRemovalTest, LeftoversOfACutShortRemovalAreDeletedAndNothingElse) {
  write_file(dir.path() / "00000000000000000001.log.removing", 100);
  write_file(dir.path() / "finished-00000000000000000003.run.removing", 100);
  write_file(dir.path() / "00000000000000000002.log", 100);
  EXPECT_EQ(remove_leftovers(dir.path()), 2u);
  EXPECT_EQ(files_in(dir.path()), 1u);
  EXPECT_TRUE(fs::exists(dir.path() / "00000000000000000002.log"));
}

}  // namespace
}  // namespace herald
