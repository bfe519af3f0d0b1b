#include "core/journal/finished_filter.hpp"

#include "core/journal/blocked_bloom.hpp"

namespace herald {

namespace {
constexpr BloomShape kShape{16, 7};  // format 2's (finished_run.hpp)
}

FinishedFilter::FinishedFilter(uint64_t capacity, uint64_t seed)
    : capacity_(capacity),
      seed_(seed),
      words_(bloom_words_for(capacity, kShape)),
      bits_(words_) {}

void FinishedFilter::add(std::span<const uint64_t> hashes) {
  std::lock_guard lock(writer_);
  // Each key's block is a cache miss (the filter is megabytes: 16 MB for
  // 8M ids), and a run's keys are ~1 KB apart in it: the block kAhead keys
  // on is fetched while this one is set, so the misses overlap instead of
  // each waiting for the last (flushes and filter builds, ~2 % of all CPU
  // under NDJSON ingest).
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i + kAhead < hashes.size()) prefetch(hashes[i + kAhead]);
    bloom_probe(words_, kShape.probes, hashes[i], [&](size_t w, uint64_t bit) {
      bits_[w].store(bits_[w].load(std::memory_order_relaxed) | bit, std::memory_order_relaxed);
      return true;
    });
  }
  added_.store(added_.load(std::memory_order_relaxed) + hashes.size(), std::memory_order_relaxed);
}

void FinishedFilter::Feed::flush() {
  if (!filter_ || pending_.empty()) return;
  filter_->add(pending_);
  pending_.clear();
}

bool FinishedFilter::may_contain(uint64_t hash) const {
  return bloom_contains(words_, kShape.probes, hash,
                        [&](size_t w) { return bits_[w].load(std::memory_order_relaxed); });
}

void FinishedFilter::prefetch(uint64_t hash) const { __builtin_prefetch(&bits_[bloom_block_word(words_, hash)]); }

}  // namespace herald
