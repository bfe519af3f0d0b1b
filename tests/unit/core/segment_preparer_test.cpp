#include "core/storage/segment_preparer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <vector>

#include "tests/unit/temp_dir.hpp"
#include "tests/unit/thread_nice.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;

bool all_zeros(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> buf(64 * 1024);
  while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount() > 0)
    for (std::streamsize i = 0; i < in.gcount(); ++i)
      if (buf[size_t(i)] != 0) return false;
  return true;
}

class SegmentPreparerTest : public ::testing::Test {
 protected:
  std::unique_ptr<SegmentPreparer> make(uint64_t bytes, uint64_t per_second = 0, fs::path where = {}, int nice = 0) {
    return std::make_unique<SegmentPreparer>(
        SegmentPreparer::Options{where.empty() ? dir.path() : where, "test-prep", "test segment", bytes, per_second,
                                 nice},
        log, [this](const fs::path& p, uint64_t bytes) {
          std::lock_guard lock(mutex);
          ready.emplace_back(p, bytes);
        });
  }
  std::vector<std::pair<fs::path, uint64_t>> made() {
    std::lock_guard lock(mutex);
    return ready;
  }

  TempDir dir;
  Logger log{nullptr};
  std::mutex mutex;
  std::vector<std::pair<fs::path, uint64_t>> ready;
};

TEST_F(SegmentPreparerTest, WritesAZeroFileOfTheSegmentSizeUnderASpareName) {
  auto p = make(1'000'000);  // not a multiple of a step
  p->request();
  p->wait_idle();
  ASSERT_EQ(made().size(), 1u);
  const fs::path file = dir.path() / "prepared-1.spare";
  EXPECT_EQ(made()[0].first, file);
  EXPECT_EQ(made()[0].second, 1'000'000u);
  EXPECT_EQ(fs::file_size(file), 1'000'000u);
  EXPECT_TRUE(all_zeros(file));
  EXPECT_FALSE(fs::exists(dir.path() / "next.preparing"));
  EXPECT_EQ(p->prepared(), 1u);
}

// Preparation is background work (SegmentLogOptions::background_nice).
TEST_F(SegmentPreparerTest, RunsAtTheBackgroundPriority) {
  const int mine = nice_of_this_thread();
  auto p = make(64 * 1024, 0, {}, 4);
  p->request();
  p->wait_idle();
  ASSERT_EQ(made().size(), 1u);
  EXPECT_EQ(nice_of_thread("test-prep"), std::min(19, mine + 4));
}

// A name left from before (a restart) is never replaced.
TEST_F(SegmentPreparerTest, TakesTheFirstFreeName) {
  dir.write("prepared-1.spare", "kept");
  auto p = make(256 * 1024);
  p->request();
  p->wait_idle();
  p->request();
  p->wait_idle();
  ASSERT_EQ(made().size(), 2u);
  EXPECT_EQ(made()[0].first.filename(), "prepared-2.spare");
  EXPECT_EQ(made()[1].first.filename(), "prepared-3.spare");
  std::ifstream kept(dir.path() / "prepared-1.spare");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "kept");
}

// Requests while a file is under way ask for nothing more.
TEST_F(SegmentPreparerTest, RequestsDuringAPreparationMakeNoSecondFile) {
  auto p = make(4u << 20, 64u << 20);  // ~60 ms
  for (int i = 0; i < 100; ++i) p->request();
  p->wait_idle();
  EXPECT_EQ(made().size(), 1u);
}

// Stopped half way (shutdown): no file is left, neither half written nor as a spare.
TEST_F(SegmentPreparerTest, StoppingHalfWayLeavesNoFile) {
  auto p = make(64u << 20, 1u << 20);  // a minute at this rate
  p->request();
  for (int i = 0; i < 500 && !fs::exists(dir.path() / "next.preparing"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(dir.path() / "next.preparing"));
  p.reset();
  EXPECT_TRUE(made().empty());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// A failure (here: no directory) is logged and not retried per request.
TEST_F(SegmentPreparerTest, AFailureIsNotRetriedAtOnce) {
  auto p = make(256 * 1024, 0, dir.path() / "missing");
  p->request();
  p->wait_idle();
  fs::create_directories(dir.path() / "missing");
  p->request();  // within kRetryAfter: nothing
  p->wait_idle();
  EXPECT_TRUE(made().empty());
  EXPECT_EQ(p->prepared(), 0u);
  EXPECT_TRUE(fs::is_empty(dir.path() / "missing"));
}

// Less than two segments of free space: nothing is written (the commits
// need the space more).
TEST_F(SegmentPreparerTest, NeverTakesTheDisksLastSpace) {
  auto p = make(uint64_t(1) << 52);  // 4 PB
  p->request();
  p->wait_idle();
  EXPECT_TRUE(made().empty());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST_F(SegmentPreparerTest, DiscardsUnfinishedFilesOnly) {
  dir.write("next.preparing", "half");
  dir.write("prepared-1.spare", "whole");
  dir.write("00000000000000000001.log", "segment");
  EXPECT_EQ(SegmentPreparer::discard_unfinished(dir.path()), 1u);
  EXPECT_FALSE(fs::exists(dir.path() / "next.preparing"));
  EXPECT_TRUE(fs::exists(dir.path() / "prepared-1.spare"));
  EXPECT_TRUE(fs::exists(dir.path() / "00000000000000000001.log"));
}

}  // namespace
}  // namespace herald
