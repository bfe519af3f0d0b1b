#pragma once
// A fast seeded byte hash for in-memory tables (wyhash-style: 8 bytes per
// multiply, good avalanche, no lookup table). Tables seed it randomly so
// crafted keys cannot aim at collisions.
#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>

namespace herald {

inline uint64_t hash_mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = seed ^ hash_mix(n, 0x9E3779B97F4A7C15ull);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = hash_mix(h ^ w, 0xA0761D6478BD642Full);
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  return hash_mix(h ^ w, 0xE7037ED1A0B428DBull);
}

// A fresh seed for a table or a store.
inline uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

}  // namespace herald
