#pragma once
// Eight bytes at a time ("SIMD within a register") tests for the text
// checks that run over every field of every ingested event. Each test is
// exact (Bit Twiddling Hacks' haszero/hasless/hasmore for these bounds): it
// tells whether any byte of the word qualifies, never which one.
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

namespace herald::bytescan {

// The exact position of the first byte of `s` that is a control character,
// DEL or non-ASCII, or one of `Extra` (first_special<'"', '\\'>: what JSON
// must escape; first_special<'='>: what quoted-printable must encode);
// s.size() if there is none. With SSE2 (every
// x86-64) 16 bytes per step and the position from the compare mask: a
// quarter of the SWAR test's instructions per byte, and no byte loop after
// the first dirty word (callgrind: the JSON escape of every journal header
// and history record was 6 % of Redis ingest). Elsewhere, SWAR words.
template <char... Extra>
size_t first_special(std::string_view s) noexcept {
  const char* p = s.data();
  const size_t n = s.size();
  // The byte-at-a-time form of the test (short strings, and after the
  // first dirty word without SSE2).
  auto special = [](unsigned char c) { return c < 0x20 || c >= 0x7f || ((c == static_cast<unsigned char>(Extra)) || ...); };
#if defined(__SSE2__)
  auto mask = [](__m128i v) -> unsigned {
    __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),   // <= 0x1F
                               _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x7f)), v));  // >= 0x7F
    ((bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(Extra)))), ...);
    return static_cast<unsigned>(_mm_movemask_epi8(bad));
  };
  if (n < 16) {
    // Short values (ids, types, names: most of them) in one test, from two
    // overlapping loads inside the string: copying them into a padded
    // buffer was a memcpy call of variable size, about as dear as the test.
    // The second load's lanes start at byte n - 8 (n - 4); any earlier byte
    // it repeats was passed by the first load.
    if (n >= 8) {
      const unsigned m = mask(_mm_set_epi64x(static_cast<long long>(swar::load(p + n - 8)),
                                             static_cast<long long>(swar::load(p))));
      if (m & 0xff) return static_cast<size_t>(__builtin_ctz(m));
      return m ? n - 8 + static_cast<size_t>(__builtin_ctz(m >> 8)) : n;
    }
    if (n >= 4) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      const unsigned m = mask(_mm_set_epi64x(static_cast<long long>(swar::kOnes * 'a'),
                                             static_cast<long long>(lo | uint64_t{hi} << 32)));
      if (m & 0xf) return static_cast<size_t>(__builtin_ctz(m));
      return m ? n - 4 + static_cast<size_t>(__builtin_ctz(m >> 4)) : n;
    }
    for (size_t i = 0; i < n; ++i)
      if (special(static_cast<unsigned char>(p[i]))) return i;
    return n;
  }
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    if (const unsigned m = mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i))))
      return i + static_cast<size_t>(__builtin_ctz(m));
  if (i == n) return n;
  // The tail as one overlapping load; its first (i - (n - 16)) bytes passed.
  const unsigned m = mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16))) >> (i - (n - 16));
  return m ? i + static_cast<size_t>(__builtin_ctz(m)) : n;
#else
  size_t i = swar::first_dirty_word(s, [](uint64_t w) {
    return swar::any_outside_printable_ascii(w) || (swar::any_equal(w, static_cast<unsigned char>(Extra)) || ...);
  });
  while (i < n && !special(static_cast<unsigned char>(p[i]))) ++i;
  return i;
#endif
}

// The position of the first byte of `s` equal to one of `C`; s.size() if
// there is none. 16 bytes per step with SSE2, like first_special.
template <char... C>
size_t first_of(std::string_view s) noexcept {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i hit = _mm_setzero_si128();
    ((hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(C)))), ...);
    if (const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(hit)))
      return i + static_cast<size_t>(__builtin_ctz(m));
  }
#endif
  for (; i < n; ++i)
    if (((p[i] == C) || ...)) return i;
  return n;
}

}  // namespace herald::bytescan
