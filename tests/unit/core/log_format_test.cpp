#include "core/storage/log_format.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace herald {
namespace {

struct Decoded {
  uint8_t type;
  std::string payload;
};

std::vector<Decoded> decode_all(std::string_view data, ScanResult* result = nullptr) {
  std::vector<Decoded> out;
  auto r = scan_records(data, [&](uint8_t t, std::string_view p, size_t) { out.push_back({t, std::string(p)}); });
  if (result) *result = r;
  return out;
}

std::string sample_log(std::vector<size_t>& record_starts) {
  std::string data;
  for (int i = 0; i < 20; ++i) {
    record_starts.push_back(data.size());
    encode_record(data, uint8_t(1 + i % 3), std::string(size_t(i * 7), char('a' + i)) + "\n{\"i\":" + std::to_string(i) + "}");
  }
  return data;
}

TEST(LogFormatTest, RecordsRoundTrip) {
  std::string data;
  encode_record(data, 1, "hello");
  encode_record(data, 255, "");
  encode_record(data, 2, std::string("\0\r\n\xff", 4));
  ScanResult r;
  auto recs = decode_all(data, &r);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(r.stop, ScanStop::end);
  EXPECT_EQ(r.valid_bytes, data.size());
  EXPECT_EQ(recs[0].payload, "hello");
  EXPECT_EQ(recs[1].type, 255);
  EXPECT_EQ(recs[1].payload, "");
  EXPECT_EQ(recs[2].payload, std::string("\0\r\n\xff", 4));
}

TEST(LogFormatTest, SegmentHeaderRoundTripsAndRejectsDamage) {
  std::string h;
  encode_segment_header(h, 42);
  ASSERT_EQ(h.size(), kSegmentHeaderSize);
  EXPECT_EQ(decode_segment_header(h), 42u);
  for (size_t i = 0; i < 28; ++i) {
    std::string bad = h;
    bad[i] ^= 0x10;
    EXPECT_FALSE(decode_segment_header(bad)) << "byte " << i;
  }
  EXPECT_FALSE(decode_segment_header(h.substr(0, 31)));
  EXPECT_EQ(segment_file_name(7), "00000000000000000007.log");
  EXPECT_EQ(parse_segment_file_name("00000000000000000007.log"), 7u);
  EXPECT_FALSE(parse_segment_file_name("7.log"));
  EXPECT_FALSE(parse_segment_file_name("00000000000000000007.log.corrupt"));
}

// RELIABILITY.md: truncate at every byte of the last 3 records; everything
// before the tear is recovered, nothing torn is replayed.
TEST(LogFormatTest, TornTailAtEveryByteKeepsEveryWholeRecordBefore) {
  std::vector<size_t> starts;
  std::string data = sample_log(starts);
  const size_t from = starts[starts.size() - 3];
  for (size_t cut = from; cut < data.size(); ++cut) {
    ScanResult r;
    auto recs = decode_all(std::string_view(data).substr(0, cut), &r);
    size_t whole = size_t(std::upper_bound(starts.begin(), starts.end(), cut) - starts.begin()) - 1;
    if (std::find(starts.begin(), starts.end(), cut) != starts.end()) {
      EXPECT_EQ(r.stop, ScanStop::end) << cut;
    } else {
      EXPECT_EQ(r.stop, ScanStop::torn) << cut;
    }
    ASSERT_EQ(recs.size(), whole) << cut;
    EXPECT_EQ(r.valid_bytes, starts[whole]) << cut;
    for (size_t i = 0; i < whole; ++i) EXPECT_EQ(recs[i].payload.back(), '}');
  }
}

TEST(LogFormatTest, ZerosToTheEndArePreallocatedSpace) {
  std::vector<size_t> starts;
  std::string data = sample_log(starts);
  const size_t n = starts.size();
  data.append(8192, '\0');
  ScanResult r;
  auto recs = decode_all(data, &r);
  EXPECT_EQ(recs.size(), n);
  EXPECT_EQ(r.stop, ScanStop::preallocated);
  EXPECT_EQ(r.valid_bytes, data.size() - 8192);
}

// A write whose first pages never reached the disk leaves zeros before the
// bytes that did: a tear, never "preallocated", so the tail gets cut.
TEST(LogFormatTest, ZerosFollowedByDataAreATear) {
  std::vector<size_t> starts;
  std::string data = sample_log(starts);
  const size_t valid = data.size();
  data.append(8192, '\0');
  data.append("stale record bytes");
  ScanResult r;
  decode_all(data, &r);
  EXPECT_EQ(r.stop, ScanStop::torn);
  EXPECT_EQ(r.valid_bytes, valid);
}

TEST(LogFormatTest, EveryRandomBitFlipIsDetected) {
  std::vector<size_t> starts;
  const std::string data = sample_log(starts);
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 10000; ++trial) {
    std::string bad = data;
    const size_t bit = rng() % (bad.size() * 8);
    bad[bit / 8] ^= char(1 << (bit % 8));
    ScanResult r;
    auto recs = decode_all(bad, &r);
    const size_t hit = size_t(std::upper_bound(starts.begin(), starts.end(), bit / 8) - starts.begin()) - 1;
    // Records before the damaged one survive intact; it and later ones are never replayed.
    ASSERT_NE(r.stop, ScanStop::end) << "flip at bit " << bit;
    ASSERT_EQ(recs.size(), hit) << "flip at bit " << bit;
    EXPECT_EQ(r.valid_bytes, starts[hit]);
  }
}

TEST(LogFormatTest, ImpossibleLengthIsCorruptNotAnAllocation) {
  std::string data;
  encode_record(data, 1, "ok");
  std::string bad = "\xff\xff\xff\x7f";
  bad.append(8, '\x01');
  data += bad;
  ScanResult r;
  auto recs = decode_all(data, &r);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_EQ(r.stop, ScanStop::corrupt);
}

}  // namespace
}  // namespace herald
