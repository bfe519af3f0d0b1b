#pragma once
// The blocked Bloom filter of the finished-event runs (finished_run.hpp) and
// of the filter shared by many of them (finished_filter.hpp): all probes of
// a key fall in one 512-bit block, one cache line per test. Both use one
// probe function, so a key sets the same bits of its block in either.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/util/hash.hpp"

namespace herald {

struct BloomShape {
  uint64_t bits_per_key;
  int probes;  // at most 7: each takes 9 bits of one 64-bit mix
};

// 64-bit words for `keys` keys: whole blocks, at least one.
inline size_t bloom_words_for(uint64_t keys, BloomShape shape) {
  const uint64_t blocks = std::max<uint64_t>(1, (keys * shape.bits_per_key + 511) / 512);
  return static_cast<size_t>(blocks * 8);
}

// The first word of the block `hash` falls in, in a filter of `words`
// words: the top bits of the hash (so keys in hash order walk the filter
// in order). Prefetching it loads every probe's word.
inline size_t bloom_block_word(size_t words, uint64_t hash) {
  return static_cast<size_t>((static_cast<__uint128_t>(hash) * (words / 8)) >> 64) * 8;
}

// Calls f(word index, bit mask) for each probe of `hash` in a filter of
// `words` words, until f returns false.
template <class F>
void bloom_probe(size_t words, int probes, uint64_t hash, F&& f) {
  const size_t first = bloom_block_word(words, hash);
  const uint64_t g = hash_mix(hash, 0x9E3779B97F4A7C15ull);
  for (int i = 0; i < probes; ++i) {
    const unsigned bit = static_cast<unsigned>(g >> (i * 9)) & 511u;
    if (!f(first + bit / 64, uint64_t(1) << (bit % 64))) return;
  }
}

// Whether every probe's bit of `hash` is set; word_at(i) reads word i.
template <class WordAt>
bool bloom_contains(size_t words, int probes, uint64_t hash, WordAt&& word_at) {
  bool all = true;
  bloom_probe(words, probes, hash, [&](size_t w, uint64_t bit) { return all = (word_at(w) & bit) != 0; });
  return all;
}

}  // namespace herald
