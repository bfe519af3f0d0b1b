#include "core/storage/commit_pacer.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace herald {
namespace {

using std::chrono::microseconds;

// Feeds windows of 1 000 ticks each with the given steal shares (in ‰)
// and returns the interval after each.
class Windows {
 public:
  explicit Windows(CommitPacer& p) : pacer_(p) {}
  std::vector<long> feed(std::initializer_list<unsigned> steal_permille) {
    std::vector<long> out;
    for (unsigned s : steal_permille) {
      const CpuTicks before = now_;
      now_.total += 1000;
      now_.steal += s;
      out.push_back(long(pacer_.observe(before, now_).count()));
    }
    return out;
  }
  std::vector<long> calm(unsigned n) {
    std::vector<long> out;
    for (unsigned i = 0; i < n; ++i) out.push_back(feed({0})[0]);
    return out;
  }

 private:
  CommitPacer& pacer_;
  CpuTicks now_{1'000'000, 100};
};

CommitPacer::Options opts() {
  CommitPacer::Options o;
  o.floor = microseconds(1000);
  o.ceiling = microseconds(4000);
  o.raise_steal = 0.02;
  o.calm_steal = 0.005;
  o.calm_windows = 3;
  o.max_calm_windows = 12;
  o.probe_windows = 2;
  return o;
}

TEST(CommitPacerTest, StaysAtTheFloorWithoutSteal) {
  CommitPacer p(opts());
  Windows w(p);
  EXPECT_EQ(p.interval(), microseconds(1000));
  EXPECT_EQ(w.feed({0, 3, 10, 19, 0}), (std::vector<long>{1000, 1000, 1000, 1000, 1000}));
}

TEST(CommitPacerTest, StealDoublesUpToTheCeiling) {
  CommitPacer p(opts());
  Windows w(p);
  EXPECT_EQ(w.feed({50, 21, 90, 90}), (std::vector<long>{2000, 4000, 4000, 4000}));
  EXPECT_DOUBLE_EQ(p.last_steal(), 0.09);
}

TEST(CommitPacerTest, CalmWindowsInARowHalveItBackToTheFloor) {
  CommitPacer p(opts());
  Windows w(p);
  w.feed({50, 50});  // 4 000
  // Steal between the thresholds holds it and restarts the count.
  EXPECT_EQ(w.feed({0, 0, 10, 0, 0}), (std::vector<long>{4000, 4000, 4000, 4000, 4000}));
  EXPECT_EQ(w.feed({0}), (std::vector<long>{2000}));
  // Halved and unanswered for longer than probe_windows: the next halving
  // needs only calm_windows again.
  EXPECT_EQ(w.calm(3), (std::vector<long>{2000, 2000, 1000}));
  EXPECT_EQ(w.calm(5), (std::vector<long>{1000, 1000, 1000, 1000, 1000}));
}

TEST(CommitPacerTest, AHalvingAnsweredWithStealIsTriedLessOften) {
  CommitPacer p(opts());
  Windows w(p);
  w.feed({50});                                                    // 2 000
  EXPECT_EQ(w.calm(3), (std::vector<long>{2000, 2000, 1000}));     // halved
  EXPECT_EQ(w.feed({40}), (std::vector<long>{2000}));              // answered: calm_windows 3 → 6
  EXPECT_EQ(w.calm(6), (std::vector<long>{2000, 2000, 2000, 2000, 2000, 1000}));
  EXPECT_EQ(w.feed({0, 40}), (std::vector<long>{1000, 2000}));     // answered within 2 windows: → 12
  EXPECT_EQ(w.calm(11).back(), 2000);
  EXPECT_EQ(w.calm(1).back(), 1000);
  EXPECT_EQ(w.feed({40}), (std::vector<long>{2000}));              // capped at max_calm_windows
  EXPECT_EQ(w.calm(11).back(), 2000);
  EXPECT_EQ(w.calm(1).back(), 1000);
}

TEST(CommitPacerTest, StealLongAfterAHalvingDoesNotCountAgainstIt) {
  CommitPacer p(opts());
  Windows w(p);
  w.feed({50});
  EXPECT_EQ(w.calm(3).back(), 1000);  // halved
  w.calm(3);                          // longer ago than probe_windows
  EXPECT_EQ(w.feed({40}), (std::vector<long>{2000}));
  EXPECT_EQ(w.calm(3), (std::vector<long>{2000, 2000, 1000}));  // still calm_windows
}

TEST(CommitPacerTest, AFloorOfZeroIsRaisedToTheLeastRaisedFirst) {
  auto o = opts();
  o.floor = microseconds(0);
  CommitPacer p(o);
  Windows w(p);
  EXPECT_EQ(w.feed({50, 50}), (std::vector<long>{250, 500}));
  EXPECT_EQ(w.calm(6), (std::vector<long>{500, 500, 250, 250, 250, 0}));
}

TEST(CommitPacerTest, EqualFloorAndCeilingIsFixed) {
  auto o = opts();
  o.ceiling = o.floor;
  CommitPacer p(o);
  Windows w(p);
  EXPECT_TRUE(p.fixed());
  EXPECT_EQ(w.feed({500, 500, 0}), (std::vector<long>{1000, 1000, 1000}));
}

TEST(CommitPacerTest, WindowsWithoutTicksOrWithCountersGoingBackChangeNothing) {
  CommitPacer p(opts());
  EXPECT_EQ(p.observe({1000, 10}, {1000, 10}), microseconds(1000));
  EXPECT_EQ(p.observe({2000, 10}, {1000, 900}), microseconds(1000));
  EXPECT_EQ(p.observe({1000, 900}, {2000, 10}), microseconds(1000));
}

TEST(CommitPacerTest, ParsesTheCpuLineOfProcStat) {
  auto t = parse_proc_stat("cpu  100 2 30 4000 5 6 7 80 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->total, 100u + 2 + 30 + 4000 + 5 + 6 + 7 + 80);  // guest time is in user already
  EXPECT_EQ(t->steal, 80u);
  // Old kernels: no steal column.
  t = parse_proc_stat("cpu  100 2 30 4000 5 6 7\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->steal, 0u);
  EXPECT_FALSE(parse_proc_stat("cpu0 1 2 3 4 5 6 7 8\n"));
  EXPECT_FALSE(parse_proc_stat("cpu  x y z\n"));
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("cpu  1 2\n"));
  // This machine's own.
  auto here = read_cpu_ticks();
  ASSERT_TRUE(here);
  EXPECT_GT(here->total, 0u);
}

}  // namespace
}  // namespace herald
