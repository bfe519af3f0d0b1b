#include "core/storage/log_format.hpp"

#include "core/storage/crc32c.hpp"
#include "core/util/fixed_width.hpp"

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

// Segments written before format version 2: no salt, no end marker.
const SegmentHeader kVersion1{7, 1};

std::vector<Decoded> decode_all(std::string_view data, ScanResult* result = nullptr,
                                const SegmentHeader& header = kVersion1) {
  std::vector<Decoded> out;
  auto r = scan_records(data, header, [&](uint8_t t, std::string_view p, size_t) { out.push_back({t, std::string(p)}); });
  if (result) *result = r;
  return out;
}

std::string sample_log(std::vector<size_t>& record_starts, uint32_t salt = 0, char letters = 'a') {
  std::string data;
  for (int i = 0; i < 20; ++i) {
    record_starts.push_back(data.size());
    encode_record(data, uint8_t(1 + i % 3), std::string(size_t(i * 7), char(letters + i)) + "\n{\"i\":" + std::to_string(i) + "}",
                  salt);
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
  ASSERT_TRUE(decode_segment_header(h));
  EXPECT_EQ(decode_segment_header(h)->number, 42u);
  EXPECT_EQ(decode_segment_header(h)->version, 2u);
  for (size_t i = 0; i < 28; ++i) {
    std::string bad = h;
    bad[i] ^= 0x10;
    EXPECT_FALSE(decode_segment_header(bad)) << "byte " << i;
  }
  EXPECT_FALSE(decode_segment_header(h.substr(0, 31)));
  EXPECT_EQ(segment_file_name(7), "00000000000000000007.log");
  EXPECT_EQ(parse_segment_file_name("00000000000000000007.log"), 7u);
  EXPECT_FALSE(parse_segment_file_name("00000000000000000007.spare"));
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

// 10 000 random single-bit flips of a sample log in `header`'s segment:
// records before the damaged one survive intact; it and later ones are
// never replayed.
void expect_every_bit_flip_detected(const SegmentHeader& header, uint32_t seed) {
  std::vector<size_t> starts;
  const std::string data = sample_log(starts, header.salt());
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 10000; ++trial) {
    std::string bad = data;
    const size_t bit = rng() % (bad.size() * 8);
    bad[bit / 8] ^= char(1 << (bit % 8));
    ScanResult r;
    auto recs = decode_all(bad, &r, header);
    const size_t hit = size_t(std::upper_bound(starts.begin(), starts.end(), bit / 8) - starts.begin()) - 1;
    ASSERT_NE(r.stop, ScanStop::end) << "flip at bit " << bit;
    ASSERT_EQ(recs.size(), hit) << "flip at bit " << bit;
    EXPECT_EQ(r.valid_bytes, starts[hit]);
  }
}

TEST(LogFormatTest, EveryRandomBitFlipIsDetected) { expect_every_bit_flip_detected(kVersion1, 1234); }

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

// Version 2 (a journal reuses the files of removed segments) -------------

TEST(LogFormatTest, Version1HeadersAreStillReadAndTheirRecordsCarryNoSalt) {
  std::string h;
  encode_segment_header(h, 0x1234567);
  h[8] = 1;  // as written before version 2, with its CRC
  store_u32(h.data() + 24, crc32c(std::string_view(h).substr(0, 24)));
  auto header = decode_segment_header(h);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->version, 1u);
  EXPECT_EQ(header->salt(), 0u);
  EXPECT_EQ((SegmentHeader{0x1234567}.salt()), 0x234567u);
  h[8] = 3;  // a version from the future
  store_u32(h.data() + 24, crc32c(std::string_view(h).substr(0, 24)));
  EXPECT_FALSE(decode_segment_header(h));
}

TEST(LogFormatTest, SealingFramedRecordsGivesTheEncodedRecords) {
  const uint32_t salt = SegmentHeader{0xABCDEF01}.salt();
  std::string encoded, framed;
  for (const std::string& p : {std::string("first"), std::string(), std::string(300, 'x')}) {
    encode_record(encoded, 9, p, salt);
    const size_t start = begin_record(framed, 9);
    framed += p;
    end_record(framed, start);
  }
  EXPECT_NE(framed, encoded);  // not sealed yet
  seal_records(framed.data(), framed.size(), salt);
  EXPECT_EQ(framed, encoded);
  ScanResult r;
  EXPECT_EQ(decode_all(framed, &r, SegmentHeader{0xABCDEF01}).size(), 3u);
  EXPECT_EQ(r.stop, ScanStop::end);
  // The same bytes in another segment (another salt) are not its records.
  EXPECT_EQ(decode_all(framed, &r, SegmentHeader{0xABCDEF02}).size(), 0u);
  EXPECT_EQ(r.stop, ScanStop::torn);
}

TEST(LogFormatTest, AnEndMarkerEndsTheRecordsWhateverFollows) {
  const SegmentHeader seg{5};
  std::vector<size_t> starts;
  std::string data = sample_log(starts, seg.salt());
  const size_t valid = data.size();
  data.append(kRecordHeaderSize, '\0');
  ScanResult r;
  std::string zeros = data + std::string(8192, '\0');
  EXPECT_EQ(decode_all(zeros, &r, seg).size(), starts.size());
  EXPECT_EQ(r.stop, ScanStop::preallocated);
  EXPECT_EQ(r.valid_bytes, valid);
  // A reused file: the records of its earlier use (segment 2) after the marker.
  std::vector<size_t> old_starts;
  std::string reused = data + sample_log(old_starts, SegmentHeader{2}.salt());
  EXPECT_EQ(decode_all(reused, &r, seg).size(), starts.size());
  EXPECT_EQ(r.stop, ScanStop::marked);
  EXPECT_EQ(r.valid_bytes, valid);
}

// RELIABILITY.md's torn write, in a reused file: a commit whose later pages
// never landed leaves the earlier use's bytes there, where an old record can
// start exactly at a frame boundary and be whole. Its salt gives it away.
TEST(LogFormatTest, AWholeOldRecordAfterATornWriteIsNeverReplayed) {
  std::vector<size_t> old_starts, new_starts;
  const std::string old_use = sample_log(old_starts, SegmentHeader{2}.salt(), 'A');
  const std::string new_use = sample_log(new_starts, SegmentHeader{6}.salt());  // the same lengths
  for (size_t landed = 0; landed < new_starts.size(); ++landed) {
    const std::string data = new_use.substr(0, new_starts[landed]) + old_use.substr(old_starts[landed]);
    ScanResult r;
    auto recs = decode_all(data, &r, SegmentHeader{6});
    ASSERT_EQ(recs.size(), landed);
    EXPECT_EQ(r.stop, ScanStop::torn) << landed;
    EXPECT_EQ(r.valid_bytes, new_starts[landed]);
  }
  // At every byte of the last records (old bytes from there on): nothing
  // torn or old is replayed. (A record cut where the old bytes happen to be
  // the same as the new ones, in its closing `"i":N}`, is whole.)
  new_starts.push_back(new_use.size());
  for (size_t cut = new_starts[new_starts.size() - 4]; cut < new_use.size(); ++cut) {
    const std::string data = new_use.substr(0, cut) + old_use.substr(cut);
    ScanResult r;
    auto recs = decode_all(data, &r, SegmentHeader{6});
    size_t whole = 0;
    while (whole + 1 < new_starts.size() &&
           data.compare(new_starts[whole], new_starts[whole + 1] - new_starts[whole], new_use, new_starts[whole],
                        new_starts[whole + 1] - new_starts[whole]) == 0)
      ++whole;
    ASSERT_EQ(recs.size(), whole) << cut;
    if (whole + 1 < new_starts.size()) {
      EXPECT_NE(r.stop, ScanStop::end) << cut;
    }
    EXPECT_EQ(r.valid_bytes, new_starts[whole]) << cut;
  }
}

TEST(LogFormatTest, EveryRandomBitFlipIsDetectedWithSalts) {
  expect_every_bit_flip_detected(SegmentHeader{0x345678}, 4321);
}

}  // namespace
}  // namespace herald
