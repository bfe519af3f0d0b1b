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

// Calls f(word index, bit mask) for each probe of `hash` in a filter of
// `words` words, until f returns false.
template <class F>
void bloom_probe(size_t words, int probes, uint64_t hash, F&& f) {
  const size_t blocks = words / 8;
  const auto block = static_cast<size_t>((static_cast<__uint128_t>(hash) * blocks) >> 64);
  const uint64_t g = hash_mix(hash, 0x9E3779B97F4A7C15ull);
  for (int i = 0; i < probes; ++i) {
    const unsigned bit = static_cast<unsigned>(g >> (i * 9)) & 511u;
    if (!f(block * 8 + bit / 64, uint64_t(1) << (bit % 64))) return;
  }
}

}  // namespace herald
