#pragma once
// FinishedRun: one immutable file of finished journal entries, sorted by key
// hash, with a Bloom filter and a block index kept in memory (~2.1 B per
// entry), so the idempotency window (7 days by default: millions of events)
// lives on disk and the daemon's memory stays flat (FinishedStore, Journal).
//
// File layout (little-endian):
//   header  "HRLDRUN" + the format version ('1' or '2'), 8 zero bytes
//   blocks  records sorted by (hash, key), cut after ~4 KB; the records of
//           one hash never straddle two blocks, so a lookup reads one block.
//           record: u64 hash | varint key size | key | varint accepted_ms |
//                   varint value size | value
//   index   per block: u64 first hash | u64 offset | u32 size | u32 crc32c
//   bloom   u64 words: 512-bit blocks, one cache line per test. Version 2:
//           16 bits and 7 probes per entry, ~0.1 % false positives;
//           version 1 (still read): 12 bits and 6 probes, ~0.45 %. Each
//           false positive costs a block read (~4.5 us), once per run, and
//           NDJSON ingest tests a dozen runs or more per event.
//   footer  u64 index offset | u64 blocks | u64 bloom words | u64 records |
//           u64 hash seed | i64 min accepted_ms | i64 max accepted_ms |
//           u32 crc32c(index, bloom, footer fields) | "HRUN"
//
// The hash is seeded per store (the seed is in every run's footer) so ids
// cannot be chosen to collide. A run is written to a temporary name, synced
// and renamed: it exists whole or not at all. Blocks carry their own CRC,
// checked on every read; the index and filter are checked when opened.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/util/page_allocator.hpp"

namespace herald {

enum class FinishedRunFormat { v1, v2 };
inline constexpr FinishedRunFormat kFinishedRunFormat = FinishedRunFormat::v2;  // what runs are written in

struct FinishedRecord {
  uint64_t hash = 0;
  std::string_view key;
  int64_t accepted_ms = 0;
  std::string_view value;
};

// The order of a run's records: by hash, then by key.
inline bool hash_order(const FinishedRecord& a, const FinishedRecord& b) {
  return a.hash != b.hash ? a.hash < b.hash : a.key < b.key;
}

// Writes a run from records given in (hash, key) order.
class FinishedRunWriter {
 public:
  // Creates `path` + ".tmp". `expected_records` sizes the Bloom filter (an
  // upper bound is fine: merges drop duplicates and expired entries).
  // `format`: tests write the older one to prove it is still read.
  FinishedRunWriter(std::filesystem::path path, uint64_t seed, uint64_t expected_records,
                    FinishedRunFormat format = kFinishedRunFormat);
  ~FinishedRunWriter();  // removes the temporary file unless finish() succeeded
  FinishedRunWriter(const FinishedRunWriter&) = delete;
  FinishedRunWriter& operator=(const FinishedRunWriter&) = delete;

  std::error_code add(const FinishedRecord& r);
  // Index, filter and footer; fdatasync; rename to `path`; fsync of the directory.
  std::error_code finish();
  uint64_t records() const { return records_; }

 private:
  std::error_code cut_block();
  std::error_code write_out(std::string_view data);

  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  bool done_ = false;
  std::error_code error_;  // first failure; later calls return it
  uint64_t seed_;
  int probes_;
  uint64_t offset_ = 0;   // bytes of blocks so far
  uint64_t written_ = 0;  // bytes in the file so far
  uint64_t records_ = 0;
  int64_t min_at_ = INT64_MAX, max_at_ = INT64_MIN;
  uint64_t last_hash_ = 0;
  std::string block_;        // the block being filled
  uint64_t block_hash_ = 0;  // its first record's hash
  std::string index_;
  uint64_t blocks_ = 0;
  std::vector<uint64_t> bloom_;
  std::string out_;  // write buffer
};

class FinishedRun {
 public:
  // nullptr with `error` set when the file is not a whole, intact run.
  static std::unique_ptr<FinishedRun> open(const std::filesystem::path& path, std::string& error);
  ~FinishedRun();
  FinishedRun(const FinishedRun&) = delete;
  FinishedRun& operator=(const FinishedRun&) = delete;

  enum class Find { absent, found, damaged };
  // Looks `key` up (its hash under this run's seed). `value` gets a copy.
  Find find(uint64_t hash, std::string_view key, int64_t& accepted_ms, std::string& value) const;
  bool may_contain(uint64_t hash) const;
  // Starts loading the filter block of `hash` into the cache.
  void prefetch(uint64_t hash) const;

  // Reads every record in order (merges). Consecutive blocks are read
  // together, up to kCursorRead bytes per pread (a merge read each 4 KB
  // block with its own syscall before), and each block's CRC is checked
  // before its records are used. A damaged block ends the walk with
  // damaged() set.
  class Cursor {
   public:
    explicit Cursor(const FinishedRun& run) : run_(run) {}
    bool next(FinishedRecord& r);
    bool damaged() const { return damaged_; }

   private:
    bool next_block();

    const FinishedRun& run_;
    uint64_t block_ = 0;      // the next block to check
    uint64_t read_end_ = 0;   // blocks [.., read_end_) are in data_
    uint64_t data_offset_ = 0;  // file offset of data_[0]
    std::string data_;
    const char* p_ = nullptr;
    const char* end_ = nullptr;
    bool damaged_ = false;
  };
  static constexpr size_t kCursorRead = 256 * 1024;

  const std::filesystem::path& path() const { return path_; }
  uint64_t seed() const { return seed_; }
  uint64_t records() const { return records_; }
  uint64_t file_bytes() const { return file_bytes_; }
  int64_t min_accepted_ms() const { return min_at_; }
  int64_t max_accepted_ms() const { return max_at_; }
  size_t memory_bytes() const { return index_.capacity() * sizeof(IndexEntry) + bloom_.capacity() * 8; }

 private:
  struct IndexEntry {
    uint64_t first_hash;
    uint64_t offset;
    uint32_t size;
    uint32_t crc;
  };
  FinishedRun() = default;
  bool read_block(uint64_t i, std::string& out) const;

  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t seed_ = 0, records_ = 0, file_bytes_ = 0;
  int64_t min_at_ = 0, max_at_ = 0;
  int probes_ = 0;  // the filter's, by format version
  std::vector<IndexEntry> index_;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> bloom_;  // a merged run's is megabytes
};

// Decodes one record at `p` (bounds-checked); advances `p`.
bool decode_finished_record(const char*& p, const char* end, FinishedRecord& r);

}  // namespace herald
