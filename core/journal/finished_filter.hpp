#pragma once
// FinishedFilter: one Bloom filter over the keys of many finished-event runs.
//
// Every new id is checked against the runs of the idempotency window, one
// filter test per run. Under sustained ingest there are a dozen runs or
// more, and the large runs' filters (megabytes) miss the caches: a cache
// line fetched from memory per run per id, 17.5 % of the HTTP thread's time
// in NDJSON ingest. This filter holds the keys of the runs together: a key
// it rules out is absent from all of them after one test, and only a key it
// may hold (a duplicate, or ~0.1 % of new ids) is tested against each run's
// own filter.
//
// It cannot forget: keys of runs that expired stay set. FinishedStore
// builds a new one from the runs (a read of every record) when it has taken
// more keys than it was sized for, so its false-positive rate stays at
// about the runs' own. Keys are added (a new run's, by the thread that
// wrote it) while other threads test it: the words are atomics (relaxed: a
// test may miss a key being added, and FinishedStore counts a run as
// covered only once all of its keys are in, publishing that under its
// owner's lock). Writers take turns by batch, under a mutex, and set bits
// with plain loads and stores: a locked OR per probe (seven per key) cost
// the flushing thread ~0.1 us per ingested event. A run's keys come sorted
// by hash, and a key's block is the top bits of its hash, so adding them
// walks the filter in order.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/util/page_allocator.hpp"

namespace herald {

class FinishedFilter {
 public:
  // Sized for `capacity` keys at the runs' format-2 shape (16 bits and 7
  // probes per key, ~0.1 % false positives at capacity); keys are hashes
  // under `seed`.
  FinishedFilter(uint64_t capacity, uint64_t seed);

  void add(std::span<const uint64_t> hashes);  // any thread, while others test
  bool may_contain(uint64_t hash) const;
  void prefetch(uint64_t hash) const;  // starts loading the block of `hash`

  uint64_t seed() const { return seed_; }
  uint64_t capacity() const { return capacity_; }
  uint64_t added() const { return added_.load(std::memory_order_relaxed); }  // counting repeats
  size_t memory_bytes() const { return words_ * sizeof(uint64_t); }

  // Hands keys to a filter a batch at a time (one turn of the writers'
  // mutex each), as a flush, a merge or a build produces them. A null
  // filter takes nothing.
  class Feed {
   public:
    static constexpr size_t kBatch = 4096;
    explicit Feed(FinishedFilter* filter) : filter_(filter) {}
    // True when this key completed a batch, which was handed over.
    bool push(uint64_t hash) {
      if (!filter_) return false;
      pending_.push_back(hash);
      if (pending_.size() < kBatch) return false;
      flush();
      return true;
    }
    void flush();  // hands over the keys pushed since the last batch

   private:
    FinishedFilter* filter_;
    std::vector<uint64_t> pending_;
  };

 private:
  uint64_t capacity_, seed_;
  size_t words_;
  std::vector<std::atomic<uint64_t>, HugePageAllocator<std::atomic<uint64_t>>> bits_;  // zeroed
  std::mutex writer_;
  std::atomic<uint64_t> added_{0};
};

}  // namespace herald
