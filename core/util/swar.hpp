#pragma once
// Eight bytes at a time ("SIMD within a register") tests for the text
// checks that run over every field of every ingested event. Each test is
// exact (Bit Twiddling Hacks' haszero/hasless/hasmore for these bounds): it
// tells whether any byte of the word qualifies, never which one.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace herald::swar {

inline constexpr uint64_t kOnes = ~uint64_t{0} / 255;
inline constexpr uint64_t kHigh = kOnes * 0x80;

inline uint64_t load(const char* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Any byte below 0x20 or above 0x7E (a control character, DEL or non-ASCII).
inline bool any_outside_printable_ascii(uint64_t w) noexcept {
  const uint64_t below = (w - kOnes * 0x20) & ~w & kHigh;
  const uint64_t above = ((w + kOnes * (127 - 0x7E)) | w) & kHigh;
  return (below | above) != 0;
}

// Any byte equal to `c`.
inline bool any_equal(uint64_t w, unsigned char c) noexcept {
  const uint64_t x = w ^ (kOnes * c);
  return ((x - kOnes) & ~x & kHigh) != 0;
}

// Where a byte-by-byte scan of `s` must start: s.size() when `bad` rejects
// nothing in any word of `s`, else the start of the first 8-byte word it
// rejects. A tail shorter than a word is tested as one overlapping word, or
// (a string under 8 bytes) padded with `clean`, a byte `bad` never rejects.
template <class Bad>
size_t first_dirty_word(std::string_view s, Bad bad, char clean = 'a') noexcept {
  const size_t n = s.size();
  if (n < 8) {
    uint64_t w = kOnes * static_cast<unsigned char>(clean);
    std::memcpy(&w, s.data(), n);
    return bad(w) ? 0 : n;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    if (bad(load(s.data() + i))) return i;
  return i == n || !bad(load(s.data() + n - 8)) ? n : n - 8;
}

}  // namespace herald::swar
