#include "core/journal/pending_run.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace herald {
namespace {

// A key's hash: any function will do for the index (the journal passes its
// seeded one); a constant one makes every key collide.
uint64_t test_hash(std::string_view k) { return std::hash<std::string_view>{}(k); }

std::string body_of(std::string_view key, int64_t at) { return "body:" + std::string(key) + "@" + std::to_string(at); }

// The run value PendingRun::encode_with() writes around a body: 0, varint(n), n bytes.
std::string run_value(std::string_view body) {
  std::string v(1, '\0');
  v.push_back(static_cast<char>(body.size()));  // bodies here are under 128 bytes
  v.append(body);
  return v;
}

// Encodes `keys` as one batch (as Journal::settle does before its lock).
void add_batch(PendingRun& run, const std::vector<std::string>& keys, int64_t at,
               uint64_t (*hash)(std::string_view) = test_hash) {
  std::string encoded;
  std::vector<PendingRun::Placed> placed;
  for (const auto& k : keys) {
    placed.push_back({hash(k), static_cast<uint32_t>(encoded.size())});
    const size_t before = encoded.size();
    const std::string body = body_of(k, at);
    PendingRun::encode_with(encoded, k, at, body.size(), [&](std::string& out) { out.append(body); });
    EXPECT_EQ(encoded.size() - before, PendingRun::encoded_size(k, at, body.size()));
  }
  run.add(std::move(encoded), placed);
}

void expect_found(const PendingRun& run, const std::string& key, int64_t at,
                  uint64_t (*hash)(std::string_view) = test_hash) {
  auto r = run.find(key, hash(key));
  ASSERT_TRUE(r) << key;
  EXPECT_EQ(r->key, key);
  EXPECT_EQ(r->accepted_ms, at) << key;
  EXPECT_EQ(r->value, run_value(body_of(key, at))) << key;
}

std::vector<std::string> keys(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST(PendingRunTest, FindsEveryRecordAddedOneByOneOrInSmallAndLargeBatches) {
  PendingRun run;
  for (const auto& k : keys("one-", 50)) run.add(k, test_hash(k), 7, body_of(k, 7));
  add_batch(run, keys("small-", 3), 8);   // joins the last piece
  add_batch(run, keys("large-", 300), 9);  // over 4 KB: a piece of its own
  add_batch(run, keys("after-", 2), 10);
  EXPECT_EQ(run.size(), 355u);
  for (const auto& k : keys("one-", 50)) expect_found(run, k, 7);
  for (const auto& k : keys("small-", 3)) expect_found(run, k, 8);
  for (const auto& k : keys("large-", 300)) expect_found(run, k, 9);
  for (const auto& k : keys("after-", 2)) expect_found(run, k, 10);
  EXPECT_FALSE(run.find("one-50", test_hash("one-50")));
  EXPECT_FALSE(run.find("", test_hash("")));

  // for_each: every record, in the order added.
  std::vector<std::string> seen;
  run.for_each([&](const PendingRun::Record& r) {
    seen.emplace_back(r.key);
    EXPECT_EQ(r.value, run_value(body_of(r.key, r.accepted_ms)));
  });
  std::vector<std::string> expected = keys("one-", 50);
  for (auto* p : {"small-", "large-", "after-"})
    for (const auto& k : keys(p, p[0] == 's' ? 3 : p[0] == 'l' ? 300 : 2)) expected.push_back(k);
  EXPECT_EQ(seen, expected);
}

TEST(PendingRunTest, AKeyAddedAgainIsFoundAtItsNewestRecordAndBothAreKept) {
  PendingRun run;
  add_batch(run, {"a", "b"}, 1);
  run.add("a", test_hash("a"), 2, body_of("a", 2));
  add_batch(run, keys("x", 200), 3);
  add_batch(run, {"b"}, 4);
  expect_found(run, "a", 2);
  expect_found(run, "b", 4);
  EXPECT_EQ(run.size(), 204u);  // the flush keeps the newest (Journal::move_to_run)
  int a_records = 0;
  run.for_each([&](const PendingRun::Record& r) { a_records += r.key == "a"; });
  EXPECT_EQ(a_records, 2);
}

TEST(PendingRunTest, KeysWithTheSameHashAreToldApartByTheirBytes) {
  auto same = [](std::string_view) -> uint64_t { return 42; };
  PendingRun run;
  add_batch(run, keys("k", 40), 5, same);
  for (const auto& k : keys("k", 40)) expect_found(run, k, 5, same);
  EXPECT_FALSE(run.find("k40", 42));
  add_batch(run, {"k7"}, 6, same);
  expect_found(run, "k7", 6, same);
  expect_found(run, "k8", 5, same);
}

TEST(PendingRunTest, SwappedRunsKeepEachIndexWithItsRecords) {
  PendingRun a, b;
  add_batch(a, keys("a", 100), 1);
  add_batch(b, keys("b", 3), 2);
  a.swap(b);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(b.size(), 100u);
  for (const auto& k : keys("b", 3)) expect_found(a, k, 2);
  for (const auto& k : keys("a", 100)) expect_found(b, k, 1);
  EXPECT_FALSE(a.find("a1", test_hash("a1")));
  // Each keeps adding to its own records.
  add_batch(a, {"a1"}, 3);
  expect_found(a, "a1", 3);
  expect_found(b, "a1", 1);
}

TEST(PendingRunTest, AbsorbedOlderRecordsNeverHideNewerOnes) {
  PendingRun newer, older;
  add_batch(older, keys("k", 120), 1);
  older.add("k5", test_hash("k5"), 2, body_of("k5", 2));  // older's own newest of k5
  add_batch(newer, {"k3", "n"}, 9);
  newer.absorb(older);
  EXPECT_TRUE(older.empty());
  EXPECT_FALSE(older.find("k1", test_hash("k1")));
  EXPECT_EQ(newer.size(), 123u);
  expect_found(newer, "k3", 9);
  expect_found(newer, "n", 9);
  expect_found(newer, "k5", 2);
  expect_found(newer, "k0", 1);
  expect_found(newer, "k119", 1);
  // Added after: newest again.
  newer.add("k0", test_hash("k0"), 10, body_of("k0", 10));
  expect_found(newer, "k0", 10);
  size_t n = 0;
  newer.for_each([&](const PendingRun::Record&) { ++n; });
  EXPECT_EQ(n, 124u);
}

TEST(PendingRunTest, ClearGivesTheBytesBackAndLeavesItEmptyAndReusable) {
  PendingRun run;
  add_batch(run, keys("k", 500), 1);
  const std::vector<std::string> bytes = run.clear();
  size_t total = 0;
  for (const auto& piece : bytes) total += piece.size();
  size_t expected = 0;
  for (const auto& k : keys("k", 500)) expected += PendingRun::encoded_size(k, 1, body_of(k, 1).size());
  EXPECT_EQ(total, expected);
  EXPECT_TRUE(run.empty());
  EXPECT_FALSE(run.find("k1", test_hash("k1")));
  size_t n = 0;
  run.for_each([&](const PendingRun::Record&) { ++n; });
  EXPECT_EQ(n, 0u);
  add_batch(run, {"k1"}, 2);
  expect_found(run, "k1", 2);
  EXPECT_FALSE(run.find("k2", test_hash("k2")));
}

TEST(PendingRunTest, AcceptedTimesAndBodiesOfAnySizeRoundTrip) {
  PendingRun run;
  const std::string long_body(70'000, 'x');  // varint lengths of three bytes
  run.add("long", test_hash("long"), int64_t(1) << 45, long_body);
  run.add("neg", test_hash("neg"), -5, "b");  // stored as 0, as runs do
  run.add(std::string(300, 'k'), test_hash(std::string(300, 'k')), 0, "");
  auto r = run.find("long", test_hash("long"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted_ms, int64_t(1) << 45);
  EXPECT_EQ(r->value.size(), 1 + 3 + long_body.size());
  EXPECT_EQ(r->value.substr(4), long_body);
  r = run.find("neg", test_hash("neg"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted_ms, 0);
  const std::string k300(300, 'k');
  r = run.find(k300, test_hash(k300));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->key, k300);
  EXPECT_EQ(r->value, std::string(2, '\0'));
}

}  // namespace
}  // namespace herald
