#include "core/util/utf8.hpp"

#include "core/util/swar.hpp"

namespace herald {

size_t utf8_sequence_length(std::string_view s) noexcept {
  if (s.empty()) return 0;
  auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  size_t n;
  unsigned cp;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr unsigned kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

namespace {
// Leading ASCII is skipped a word at a time.
size_t ascii_prefix(std::string_view s) noexcept {
  return swar::first_dirty_word(s, [](uint64_t w) { return (w & swar::kHigh) != 0; });
}
}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  size_t i = ascii_prefix(s);
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t utf8_length(std::string_view s) noexcept {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool has_line_breaking_or_control(std::string_view s) noexcept {
  // Printable ASCII is skipped many bytes at a time (names, numbers,
  // statuses nearly always are: every text field of every event is
  // checked); from the first byte that is not, the exact loop below.
  size_t i = bytescan::first_special<>(s);
  for (; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return true;
    // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xC2 && i + 1 < s.size()) {
      auto d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9F) return true;
    }
    // U+2028 LINE SEPARATOR / U+2029 PARAGRAPH SEPARATOR: E2 80 A8 / E2 80 A9.
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
      auto d = static_cast<unsigned char>(s[i + 2]);
      if (d == 0xA8 || d == 0xA9) return true;
    }
  }
  return false;
}

bool is_ascii(std::string_view s) noexcept {
  for (size_t i = ascii_prefix(s); i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  }
  return true;
}

size_t count_non_ascii(std::string_view s) noexcept {
  size_t n = 0, i = 0;
  // The high bits moved to the bottom of each byte and summed by one
  // multiply (no popcnt instruction in the x86-64 baseline).
  for (; i + 8 <= s.size(); i += 8) n += static_cast<size_t>((((swar::load(s.data() + i) & swar::kHigh) >> 7) * swar::kOnes) >> 56);
  for (; i < s.size(); ++i) n += static_cast<unsigned char>(s[i]) >= 0x80;
  return n;
}

}  // namespace herald
