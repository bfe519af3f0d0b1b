#include "core/journal/finished_store.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/util/hash.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;

struct Owned {
  std::string key, value;
  int64_t at;
};

// Records for `n` keys "<prefix><i>", values of a few dozen bytes.
std::vector<Owned> make_records(const std::string& prefix, int n, int64_t at) {
  std::vector<Owned> out;
  for (int i = 0; i < n; ++i)
    out.push_back({prefix + std::to_string(i), "value-of-" + prefix + std::to_string(i) + std::string(i % 50, 'v'),
                   at + i});
  return out;
}

std::vector<FinishedRecord> views(const std::vector<Owned>& owned) {
  std::vector<FinishedRecord> v;
  for (const auto& o : owned) v.push_back({0, o.key, o.at, o.value});
  return v;
}

void flip_byte(const fs::path& p, uint64_t offset) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

class FinishedStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<FinishedStore> open_store(uint64_t base = 1000) {
    auto s = std::make_unique<FinishedStore>(dir.path() / "finished", base, log);
    s->open();
    return s;
  }
  FinishedStore::RunPtr add_run(FinishedStore& s, const std::vector<Owned>& owned) {
    auto recs = views(owned);
    std::error_code ec;
    auto run = s.write(s.sort_by_hash(recs), ec);
    EXPECT_FALSE(ec) << ec.message();
    s.publish(run, {});
    return run;
  }

  TempDir dir;
  Logger log{nullptr};
};

// The bucket sort of large batches orders them exactly as (hash, key)
// comparison would, repeated keys included, for small and large batches.
TEST_F(FinishedStoreTest, SortByHashOrdersByHashThenKeyAndKeepsEveryRecord) {
  auto s = open_store();
  for (int n : {0, 1, 255, 256, 5'000, 70'000}) {
    auto owned = make_records("k-", n, 1'700'000'000'000);
    for (int i = 0; i < n / 10; ++i) owned.push_back(owned[size_t(i) * 7 % size_t(n)]);  // repeats
    auto recs = views(owned);
    s->sort_by_hash(recs);
    ASSERT_EQ(recs.size(), owned.size()) << n;
    for (size_t i = 0; i < recs.size(); ++i) ASSERT_EQ(recs[i].hash, s->hash(recs[i].key)) << n;
    EXPECT_TRUE(std::is_sorted(recs.begin(), recs.end(), hash_order)) << n;
    std::vector<std::string> got, want;
    for (const auto& r : recs) got.emplace_back(r.key);
    for (const auto& o : owned) want.push_back(o.key);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << n;
  }
}

TEST_F(FinishedStoreTest, EveryRecordIsFoundAndUnknownKeysMostlySkipTheDisk) {
  auto s = open_store();
  const auto owned = make_records("ev-", 20'000, 1'700'000'000'000);
  auto run = add_run(*s, owned);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->records(), 20'000u);
  EXPECT_EQ(run->min_accepted_ms(), 1'700'000'000'000);
  EXPECT_EQ(run->max_accepted_ms(), 1'700'000'000'000 + 19'999);
  for (const auto& o : owned) {
    auto hit = s->find(o.key);
    ASSERT_TRUE(hit) << o.key;
    EXPECT_EQ(hit->value, o.value);
    EXPECT_EQ(hit->accepted_ms, o.at);
  }
  int filter_passes = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::string k = "other-" + std::to_string(i);
    EXPECT_FALSE(s->find(k));
    filter_passes += run->may_contain(hash_bytes(k, run->seed()));
  }
  // 16 bits per key and 7 probes in one cache line: about 0.1 % pass.
  EXPECT_LT(filter_passes, 20'000 * 3 / 1000);
  // Memory per record: filter and index, far below the ~180 B an entry takes in the map.
  EXPECT_LT(run->memory_bytes(), 20'000u * 3);
}

// The batch lookup (filter blocks fetched a few keys ahead) answers each key
// as find() does: known keys from any run, the newest of a key in two runs,
// unknown keys absent, batches shorter and longer than the look-ahead.
TEST_F(FinishedStoreTest, BatchLookupAnswersEachKeyAsASingleLookupDoes) {
  auto s = open_store();
  add_run(*s, make_records("a-", 300, 1000));
  auto newer = make_records("b-", 300, 5000);
  newer.push_back({"a-7", "again", 9000});
  add_run(*s, newer);
  const auto runs = s->snapshot();
  for (size_t n : {0u, 3u, 8u, 9u, 200u}) {
    std::vector<std::string> keys;
    for (size_t i = 0; i < n; ++i) keys.push_back((i % 3 == 0 ? "a-" : i % 3 == 1 ? "b-" : "none-") + std::to_string(i));
    if (n) keys.back() = "a-7";
    std::vector<std::optional<FinishedStore::Hit>> out(n);
    s->find_all_in(*runs, keys, out);
    ASSERT_EQ(out.size(), n);
    for (size_t i = 0; i < n; ++i) {
      auto one = s->find_in(*runs, keys[i]);
      ASSERT_EQ(out[i].has_value(), one.has_value()) << keys[i];
      if (one) {
        EXPECT_EQ(out[i]->value, one->value);
        EXPECT_EQ(out[i]->accepted_ms, one->accepted_ms);
      }
    }
    if (n) {
      EXPECT_EQ(out.back()->value, "again");
    }
    if (n > 3) {
      EXPECT_FALSE(out[2]);  // "none-2"
    }
  }
}

// Runs written before format 2 (12 bits and 6 probes per key) are still
// read, and a merge rewrites their records in the current format.
TEST_F(FinishedStoreTest, FormatOneRunsAreReadAndMergedIntoTheCurrentFormat) {
  constexpr uint64_t kSeed = 7;
  fs::create_directories(dir.path() / "finished");
  std::vector<Owned> all;
  for (int r = 1; r <= 3; ++r) {
    auto owned = make_records("old" + std::to_string(r) + "-", 800, 1000 * r);
    auto recs = views(owned);
    for (auto& rec : recs) rec.hash = hash_bytes(rec.key, kSeed);
    std::sort(recs.begin(), recs.end(), [](const auto& a, const auto& b) { return a.hash < b.hash; });
    FinishedRunWriter w(dir.path() / ("finished/finished-0000000000000000000" + std::to_string(r) + ".run"), kSeed,
                        recs.size(), FinishedRunFormat::v1);
    for (const auto& rec : recs) ASSERT_FALSE(w.add(rec));
    ASSERT_FALSE(w.finish());
    all.insert(all.end(), owned.begin(), owned.end());
  }
  auto header_version = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    char head[8] = {};
    f.read(head, 8);
    return std::string(head, 8);
  };
  auto s = open_store();
  ASSERT_EQ(s->runs(), 3u);
  EXPECT_EQ(header_version(s->snapshot()->runs.front()->path()), "HRLDRUN1");
  for (const auto& o : all) {
    auto hit = s->find(o.key);
    ASSERT_TRUE(hit) << o.key;
    EXPECT_EQ(hit->value, o.value);
  }
  int passes = 0;
  const auto& v1 = *s->snapshot()->runs.front();
  for (int i = 0; i < 20'000; ++i) passes += v1.may_contain(hash_bytes("other-" + std::to_string(i), kSeed));
  EXPECT_LT(passes, 20'000 * 15 / 1000);  // ~0.45 %

  auto fresh = make_records("new-", 800, 9000);
  auto v2 = add_run(*s, fresh);  // the store continues the runs' seed: one tier, one merge
  EXPECT_EQ(header_version(v2->path()), "HRLDRUN2");
  const auto inputs = s->pick_merge(s->snapshot()->runs);
  ASSERT_EQ(inputs.size(), 4u);
  std::error_code ec;
  auto merged = s->merge(inputs, 0, ec);
  ASSERT_TRUE(merged) << ec.message();
  s->publish(merged, inputs);
  EXPECT_EQ(header_version(merged->path()), "HRLDRUN2");
  EXPECT_EQ(merged->records(), 4 * 800u);
  all.insert(all.end(), fresh.begin(), fresh.end());
  for (const auto& o : all) ASSERT_TRUE(s->find(o.key)) << o.key;
}

TEST_F(FinishedStoreTest, RecordsOfOneHashStayInOneBlock) {
  // The writer takes the hash as given, so collisions can be forced: 300
  // records of one hash (~30 KB, several blocks' worth) must be one block,
  // or a lookup reading "the block of this hash" would miss some.
  const fs::path path = dir.path() / "finished-00000000000000000001.run";
  {
    FinishedRunWriter w(path, 7, 400);
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(w.add({uint64_t(i), "a" + std::to_string(i), 1, std::string(100, 'a')}));
    for (int i = 0; i < 300; ++i)
      ASSERT_FALSE(w.add({1000, "same-" + std::to_string(1000 + i), 2, std::string(100, 's') + std::to_string(i)}));
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(w.add({uint64_t(2000 + i), "z" + std::to_string(i), 3, "z"}));
    EXPECT_EQ(w.add({5, "backwards", 1, "x"}), std::make_error_code(std::errc::invalid_argument));
  }
  EXPECT_FALSE(fs::exists(path));  // a failed writer leaves nothing behind
  {
    FinishedRunWriter w(path, 7, 400);
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(w.add({uint64_t(i), "a" + std::to_string(i), 1, std::string(100, 'a')}));
    for (int i = 0; i < 300; ++i)
      ASSERT_FALSE(w.add({1000, "same-" + std::to_string(1000 + i), 2, std::string(100, 's') + std::to_string(i)}));
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(w.add({uint64_t(2000 + i), "z" + std::to_string(i), 3, "z"}));
    ASSERT_FALSE(w.finish());
  }
  std::string why;
  auto run = FinishedRun::open(path, why);
  ASSERT_TRUE(run) << why;
  int64_t at = 0;
  std::string value;
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(run->find(1000, "same-" + std::to_string(1000 + i), at, value), FinishedRun::Find::found) << i;
    EXPECT_EQ(value, std::string(100, 's') + std::to_string(i));
  }
  EXPECT_EQ(run->find(1000, "same-999", at, value), FinishedRun::Find::absent);
  EXPECT_EQ(run->find(2049, "z49", at, value), FinishedRun::Find::found);
  // A cursor walks every record in order.
  FinishedRun::Cursor c(*run);
  FinishedRecord r;
  int n = 0;
  uint64_t last = 0;
  while (c.next(r)) {
    EXPECT_GE(r.hash, last);
    last = r.hash;
    ++n;
  }
  EXPECT_FALSE(c.damaged());
  EXPECT_EQ(n, 400);
}

TEST_F(FinishedStoreTest, DamagedBlockIsReportedAndTreatedAsAbsent) {
  auto s = open_store();
  const auto owned = make_records("dmg-", 2000, 1000);
  auto run = add_run(*s, owned);
  const fs::path path = run->path();
  flip_byte(path, 16 + 100);  // inside the first block
  int found = 0, damaged = 0;
  int64_t at;
  std::string value;
  for (const auto& o : owned) {
    auto r = run->find(hash_bytes(o.key, run->seed()), o.key, at, value);
    found += r == FinishedRun::Find::found;
    damaged += r == FinishedRun::Find::damaged;
  }
  EXPECT_GT(damaged, 0);
  EXPECT_EQ(found + damaged, 2000);
  // The store answers "unknown" for those, never a wrong hit.
  for (const auto& o : owned) {
    if (auto hit = s->find(o.key)) {
      EXPECT_EQ(hit->value, o.value);
    }
  }
  FinishedRun::Cursor c(*run);
  FinishedRecord r;
  EXPECT_FALSE(c.next(r));
  EXPECT_TRUE(c.damaged());
}

TEST_F(FinishedStoreTest, BadFilesAreMovedAsideAndTemporariesRemoved) {
  {
    auto s = open_store();
    add_run(*s, make_records("keep-", 100, 1));
    auto bad = add_run(*s, make_records("bad-", 100, 1));
    auto bad2 = add_run(*s, make_records("bad2-", 100, 1));
    flip_byte(bad->path(), fs::file_size(bad->path()) - 70);  // the index/filter checksum no longer holds
    fs::resize_file(bad2->path(), fs::file_size(bad2->path()) - 1);  // no footer magic
  }
  // A footer whose sizes promise 2^60 blocks must be refused before any allocation.
  std::string hostile(16 + 64, '\0');  // header, then a 64-byte footer
  std::memcpy(hostile.data(), "HRLDRUN1", 8);
  const uint64_t huge = uint64_t(1) << 60, off = 16;
  std::memcpy(hostile.data() + 16, &off, 8);
  std::memcpy(hostile.data() + 24, &huge, 8);
  std::memcpy(hostile.data() + 32, &huge, 8);
  std::memcpy(hostile.data() + 16 + 60, "HRUN", 4);
  dir.write("finished/finished-00000000000000000009.run", hostile);
  dir.write("finished/finished-00000000000000000010.run.tmp", "half written");
  dir.write("finished/finished-00000000000000000011.run", "");
  auto s = open_store();
  EXPECT_EQ(s->runs(), 1u);
  EXPECT_TRUE(s->find("keep-5"));
  EXPECT_FALSE(s->find("bad-5"));
  EXPECT_FALSE(fs::exists(dir.path() / "finished/finished-00000000000000000010.run.tmp"));
  int corrupt = 0;
  for (const auto& e : fs::directory_iterator(dir.path() / "finished"))
    corrupt += e.path().extension() == ".corrupt";
  EXPECT_EQ(corrupt, 4);
  // New runs get numbers above every file seen, moved aside or not.
  auto run = add_run(*s, make_records("new-", 10, 1));
  EXPECT_EQ(run->path().filename(), "finished-00000000000000000012.run");
}

TEST_F(FinishedStoreTest, CursorWalksARunLargerThanOneReadAndStopsAtADamagedBlock) {
  auto s = open_store();
  const auto owned = make_records("walk-", 20000, 1000);
  auto run = add_run(*s, owned);
  ASSERT_GT(run->file_bytes(), 4 * FinishedRun::kCursorRead);  // several reads
  auto walk = [&](size_t& records, bool& damaged) {
    FinishedRun::Cursor c(*run);
    FinishedRecord r;
    uint64_t last = 0;
    records = 0;
    while (c.next(r)) {
      EXPECT_GE(r.hash, last);
      last = r.hash;
      ++records;
    }
    damaged = c.damaged();
  };
  size_t records = 0;
  bool damaged = true;
  walk(records, damaged);
  EXPECT_EQ(records, 20000u);
  EXPECT_FALSE(damaged);
  // A block in the middle of the file (not in the first read) goes bad:
  // the walk returns the records before it, then stops.
  run.reset();
  s.reset();
  s = open_store();
  const fs::path path = fs::directory_iterator(dir.path() / "finished")->path();
  flip_byte(path, fs::file_size(path) / 2);
  s.reset();
  std::string error;
  auto reopened = FinishedRun::open(path, error);
  ASSERT_TRUE(reopened) << error;
  run = std::move(reopened);
  walk(records, damaged);
  EXPECT_TRUE(damaged);
  EXPECT_GT(records, 0u);
  EXPECT_LT(records, 20000u);
}

TEST_F(FinishedStoreTest, MergeKeepsTheNewestOfEachKeyAndDropsExpired) {
  auto s = open_store(100);
  // Four tier-0 runs; "dup-*" appears in all, newest in the last.
  for (int r = 0; r < 4; ++r) {
    auto recs = make_records("run" + std::to_string(r) + "-", 80, 1000 * (r + 1));
    for (int i = 0; i < 10; ++i)
      recs.push_back({"dup-" + std::to_string(i), "gen" + std::to_string(r), 1000 * (r + 1) + 500});
    add_run(*s, recs);
  }
  EXPECT_EQ(s->find("dup-3")->value, "gen3");  // the newest across runs
  auto inputs = s->pick_merge(s->snapshot()->runs);
  ASSERT_EQ(inputs.size(), 4u);
  std::error_code ec;
  // Everything accepted before 2000 leaves the window: all of run 0.
  auto merged = s->merge(inputs, 2000, ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->records(), 3u * 80 + 10);
  EXPECT_EQ(merged->min_accepted_ms(), 2000);
  s->publish(merged, inputs);
  s->remove_files(inputs);
  EXPECT_EQ(s->runs(), 1u);
  for (const auto& in : inputs) EXPECT_FALSE(fs::exists(in->path()));
  EXPECT_EQ(s->find("dup-7")->value, "gen3");
  EXPECT_FALSE(s->find("run0-5"));
  EXPECT_EQ(s->find("run2-79")->accepted_ms, 3079);
  EXPECT_TRUE(s->pick_merge(s->snapshot()->runs).empty());
  // Whole runs leave once their newest record is out of the window.
  EXPECT_EQ(merged->max_accepted_ms(), 4500);
  EXPECT_TRUE(s->expired(s->snapshot()->runs, 4500).empty());
  EXPECT_EQ(s->expired(s->snapshot()->runs, 4501).size(), 1u);
  // Reopened: same answers, and the seed carries on into new runs.
  const uint64_t seed = merged->seed();
  s.reset();
  s = open_store(100);
  EXPECT_EQ(s->find("dup-7")->value, "gen3");
  auto next = add_run(*s, make_records("later-", 5, 9000));
  EXPECT_EQ(next->seed(), seed);
}

TEST_F(FinishedStoreTest, MergeOfOnlyExpiredRecordsLeavesNoFile) {
  auto s = open_store(10);
  for (int r = 0; r < 4; ++r) add_run(*s, make_records("x" + std::to_string(r) + "-", 5, 100));
  auto inputs = s->pick_merge(s->snapshot()->runs);
  ASSERT_EQ(inputs.size(), 4u);
  std::error_code ec;
  EXPECT_FALSE(s->merge(inputs, 1'000'000, ec));
  EXPECT_FALSE(ec);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path() / "finished")) files += e.path().extension() == ".run";
  EXPECT_EQ(files, 4);  // the inputs only; no empty run, no temporary
}

// While four large runs are merged, four small runs flushed meanwhile are
// merged in its pauses (not after it), and every key stays findable.
TEST_F(FinishedStoreTest, RunsFlushedDuringALargeMergeAreMergedInItsPauses) {
  auto s = open_store(1000);
  std::vector<Owned> all;
  for (int r = 0; r < 4; ++r) {  // tier 1: 2100 records each, 8400 to merge
    auto owned = make_records("big" + std::to_string(r) + "-", 2100, 1000);
    add_run(*s, owned);
    all.insert(all.end(), owned.begin(), owned.end());
  }
  std::vector<FinishedStore::RunPtr> later;  // tier 0, written but not yet published
  for (int r = 0; r < 4; ++r) {
    auto owned = make_records("small" + std::to_string(r) + "-", 500, 2000);
    auto recs = views(owned);
    std::error_code ec;
    later.push_back(s->write(s->sort_by_hash(recs), ec));
    ASSERT_TRUE(later.back()) << ec.message();
    all.insert(all.end(), owned.begin(), owned.end());
  }
  int snapshots = 0;
  std::vector<uint64_t> published;  // records of each merged run, in order
  std::error_code ec;
  s->merge_tiers(
      [&] {
        // The second look is the large merge's first pause: the small runs
        // arrive as if a flush published them meanwhile.
        if (++snapshots == 2)
          for (auto& run : later) s->publish(run, {});
        return s->snapshot();
      },
      [&](FinishedStore::RunPtr added, const std::vector<FinishedStore::RunPtr>& removed,
          const FinishedFilter* covered_by) {
        ASSERT_TRUE(added);
        EXPECT_EQ(removed.size(), 4u);
        published.push_back(added->records());
        s->publish(added, removed, covered_by);
      },
      [] { return true; }, 0, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(published, (std::vector<uint64_t>{2000, 8400}));  // the small merge first
  EXPECT_EQ(s->runs(), 2u);
  for (const auto& o : all) ASSERT_TRUE(s->find(o.key)) << o.key;

  // keep_going false: nothing more is merged.
  for (int r = 0; r < 4; ++r) add_run(*s, make_records("stop" + std::to_string(r) + "-", 10, 1));
  s->merge_tiers([&] { return s->snapshot(); }, [&](auto, const auto&, auto) { ADD_FAILURE() << "merged"; },
                 [] { return false; }, 0, ec);
  EXPECT_EQ(s->runs(), 6u);
}


TEST(FinishedFilterTest, HoldsEveryKeyAddedAndFewOthersAtCapacity) {
  FinishedFilter f(50'000, 7);
  std::mt19937_64 rng(42);
  std::vector<uint64_t> in(50'000);
  for (auto& h : in) h = rng();
  f.add(std::span(in).first(20'000));
  f.add(std::span(in).subspan(20'000));
  EXPECT_EQ(f.added(), 50'000u);
  for (uint64_t h : in) ASSERT_TRUE(f.may_contain(h));
  int passes = 0;
  for (int i = 0; i < 200'000; ++i) passes += f.may_contain(rng());
  EXPECT_LT(passes, 200'000 * 3 / 1000);  // ~0.1 % at capacity, as a format-2 run
  EXPECT_EQ(f.memory_bytes(), 100'032u);  // 16 bits per key, whole 64-byte blocks
}

// The shared filter: built once a run above tier 0 exists; a run written
// with it (a flush) adds its keys; a merge of runs it does not cover adds
// its output's keys; a merge of covered runs needs none; a lookup finds
// every key whatever the filter covers; rebuilt once it took more keys than
// it was sized for; dropped when no run is left.
TEST_F(FinishedStoreTest, TheLargeRunsShareOneFilterAndEveryKeyIsStillFound) {
  auto s = std::make_unique<FinishedStore>(dir.path() / "finished", 100, log, 1000);
  s->open();
  std::vector<Owned> all;
  // Four runs of tier 0, written as a flush does with `filter` (or none).
  auto add_tier0 = [&](const std::string& prefix, FinishedFilter* filter = nullptr) {
    for (int r = 0; r < 4; ++r) {
      auto owned = make_records(prefix + std::to_string(r) + "-", 100, 1000);
      auto recs = views(owned);
      std::error_code ec;
      auto run = s->write(s->sort_by_hash(recs), ec, filter);
      ASSERT_TRUE(run) << ec.message();
      s->publish(run, {}, filter);
      all.insert(all.end(), owned.begin(), owned.end());
    }
  };
  auto merge_all = [&] {
    std::error_code ec;
    s->merge_tiers([&] { return s->snapshot(); },
                   [&](FinishedStore::RunPtr added, const std::vector<FinishedStore::RunPtr>& removed,
                       const FinishedFilter* covered_by) { s->publish(added, removed, covered_by); },
                   [] { return true; }, 0, ec);
    ASSERT_FALSE(ec) << ec.message();
  };
  auto covered = [&] {
    const auto set = s->snapshot();
    std::vector<int> out;
    for (size_t j = 0; j < set->runs.size(); ++j) out.push_back(set->covered[j]);
    return out;
  };
  auto expect_all_found = [&] {
    const auto set = s->snapshot();
    std::vector<std::string> keys;
    for (const auto& o : all) keys.push_back(o.key);
    for (int i = 0; i < 2000; ++i) keys.push_back("absent-" + std::to_string(i));
    std::vector<std::optional<FinishedStore::Hit>> out(keys.size());
    s->find_all_in(*set, keys, out);
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_TRUE(out[i]) << keys[i];
      EXPECT_EQ(out[i]->value, all[i].value);
      ASSERT_TRUE(s->find_in(*set, keys[i])) << keys[i];
    }
    for (size_t i = all.size(); i < keys.size(); ++i) ASSERT_FALSE(out[i]) << keys[i];
  };

  // Only tier-0 runs: nothing to build.
  add_tier0("a");
  EXPECT_FALSE(s->build_filter(*s->snapshot(), [] { return true; }));
  merge_all();  // one run of 400, tier 1; no filter yet, so not covered
  EXPECT_EQ(covered(), (std::vector<int>{0}));
  auto build = s->build_filter(*s->snapshot(), [] { return true; });
  ASSERT_TRUE(build && build->filter);
  EXPECT_EQ(build->covered.size(), 1u);
  EXPECT_EQ(build->filter->capacity(), 1000u);  // the minimum (twice 400 is less)
  s->publish_filter(std::move(*build));
  EXPECT_EQ(covered(), (std::vector<int>{1}));
  expect_all_found();
  EXPECT_FALSE(s->build_filter(*s->snapshot(), [] { return true; }));  // not due

  // Runs written without it stay out; their merge's output goes in as it
  // is written.
  add_tier0("b");
  EXPECT_EQ(covered(), (std::vector<int>{1, 0, 0, 0, 0}));
  expect_all_found();
  FinishedFilter* filter = s->snapshot()->filter.get();
  merge_all();
  EXPECT_EQ(covered(), (std::vector<int>{1, 1}));
  EXPECT_EQ(s->snapshot()->filter.get(), filter);
  EXPECT_EQ(filter->added(), 800u);
  expect_all_found();

  // Runs written with it are covered, and so is their merge, which adds
  // nothing.
  add_tier0("c", filter);
  EXPECT_EQ(covered(), (std::vector<int>{1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(filter->added(), 1200u);
  expect_all_found();
  merge_all();
  EXPECT_EQ(covered(), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(filter->added(), 1200u);

  // The fourth tier-1 run: the four merge into one covered run of 1600
  // without adding a key. The filter then holds 1600 keys, over its 1000.
  add_tier0("d");
  merge_all();
  EXPECT_EQ(covered(), (std::vector<int>{1}));
  EXPECT_EQ(s->snapshot()->runs.front()->records(), 1600u);
  EXPECT_EQ(filter->added(), 1600u);
  expect_all_found();
  build = s->build_filter(*s->snapshot(), [] { return true; });
  ASSERT_TRUE(build && build->filter);
  EXPECT_EQ(build->filter->capacity(), 3200u);
  EXPECT_EQ(build->filter->added(), 1600u);
  // Stopped midway: no filter.
  EXPECT_FALSE(s->build_filter(FinishedStore::RunSet{s->snapshot()->runs, {0}, nullptr}, [] { return false; }));
  s->publish_filter(std::move(*build));
  EXPECT_NE(s->snapshot()->filter.get(), filter);
  EXPECT_EQ(covered(), (std::vector<int>{1}));
  expect_all_found();

  // The last run leaves the window: the filter goes with it.
  const auto gone = s->expired(s->snapshot()->runs, 5000);
  ASSERT_EQ(gone.size(), 1u);
  s->publish(nullptr, gone);
  build = s->build_filter(*s->snapshot(), [] { return true; });
  ASSERT_TRUE(build);
  EXPECT_FALSE(build->filter);
  s->publish_filter(std::move(*build));
  EXPECT_FALSE(s->snapshot()->filter);
}

// Under sustained ingest the merges never all finish, so the journal builds
// the shared filter between them (merge_tiers' between_merges), even in
// the pause of a large merge. Such a build also reads the runs flushed
// while it ran (cover_new_runs), and the merge that paused for it publishes
// an output covered by it: the build read that merge's inputs.
TEST_F(FinishedStoreTest, AFilterBuiltBetweenMergesCoversRunsFlushedMeanwhileAndThePausedMergesOutput) {
  auto s = std::make_unique<FinishedStore>(dir.path() / "finished", 100, log, 1000);
  s->open();
  std::vector<Owned> all;
  auto add = [&](const std::string& prefix, int n) {
    auto owned = make_records(prefix, n, 1000);
    add_run(*s, owned);
    all.insert(all.end(), owned.begin(), owned.end());
  };
  add("a-", 300);  // tier 1: a filter is due from now on
  for (int r = 0; r < 4; ++r) add("b" + std::to_string(r) + "-", 1200);  // four of tier 2: a merge pausing once
  int calls = 0;
  bool built = false;
  std::error_code ec;
  s->merge_tiers(
      [&] { return s->snapshot(); },
      [&](FinishedStore::RunPtr added, const std::vector<FinishedStore::RunPtr>& removed,
          const FinishedFilter* covered_by) {
        EXPECT_TRUE(built);  // the build came in the merge's pause
        EXPECT_EQ(covered_by, nullptr);  // its inputs were not covered when it started
        s->publish(added, removed, covered_by);
      },
      [] { return true; }, 0, ec,
      [&] {
        ++calls;
        if (built) return;
        auto build = s->build_filter(*s->snapshot(), [] { return true; });
        ASSERT_TRUE(build && build->filter);
        EXPECT_EQ(build->covered.size(), 5u);
        add("late-", 50);  // a flush while the filter was being built
        EXPECT_EQ(s->cover_new_runs(*build, *s->snapshot(), [] { return true; }), 1u);
        EXPECT_EQ(s->cover_new_runs(*build, *s->snapshot(), [] { return true; }), 0u);
        s->publish_filter(std::move(*build));
        built = true;
      });
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(built);
  EXPECT_GE(calls, 2);  // in the pause, and after the merge was published
  const auto set = s->snapshot();
  ASSERT_EQ(set->runs.size(), 3u);  // a, late, and the merge of the b runs
  EXPECT_EQ(set->runs.back()->records(), 4800u);
  EXPECT_EQ(s->covered_runs(), 3u);
  EXPECT_EQ(set->filter->added(), 300u + 4800u + 50u);
  std::vector<std::string> keys;
  for (const auto& o : all) keys.push_back(o.key);
  for (int i = 0; i < 1000; ++i) keys.push_back("absent-" + std::to_string(i));
  std::vector<std::optional<FinishedStore::Hit>> out(keys.size());
  s->find_all_in(*set, keys, out);
  for (size_t i = 0; i < all.size(); ++i) ASSERT_TRUE(out[i] && out[i]->value == all[i].value) << keys[i];
  for (size_t i = all.size(); i < keys.size(); ++i) ASSERT_FALSE(out[i]) << keys[i];
}

// Runs of tier 1 and up loaded at start are covered by the first build; a
// run with a damaged block is not (its keys are not all in the filter) and
// keeps being tested on its own.
TEST_F(FinishedStoreTest, TheFirstBuildCoversLoadedRunsButNotDamagedOnes) {
  std::vector<Owned> good = make_records("good-", 3000, 1000), bad = make_records("bad-", 3000, 1000);
  fs::path bad_path;
  {
    auto s = std::make_unique<FinishedStore>(dir.path() / "finished", 100, log, 1000);
    s->open();
    add_run(*s, good);
    bad_path = add_run(*s, bad)->path();
  }
  flip_byte(bad_path, 40);  // inside the first block: its CRC no longer holds
  auto s = std::make_unique<FinishedStore>(dir.path() / "finished", 100, log, 1000);
  s->open();
  ASSERT_EQ(s->runs(), 2u);
  auto build = s->build_filter(*s->snapshot(), [] { return true; });
  ASSERT_TRUE(build && build->filter);
  ASSERT_EQ(build->covered.size(), 1u);
  EXPECT_EQ(build->covered.front()->path().filename(), s->snapshot()->runs.front()->path().filename());
  s->publish_filter(std::move(*build));
  for (const auto& o : good) ASSERT_TRUE(s->find(o.key)) << o.key;
  int found = 0;
  for (const auto& o : bad) found += s->find(o.key).has_value();
  EXPECT_GT(found, 2500);  // all but the damaged block's
  EXPECT_LT(found, 3000);
  // Not due again for the damaged run, though it holds half the keys (else
  // every merge would rebuild the filter for it).
  EXPECT_FALSE(s->build_filter(*s->snapshot(), [] { return true; }));
}

}  // namespace
}  // namespace herald
