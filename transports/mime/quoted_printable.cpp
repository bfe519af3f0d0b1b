#include "transports/mime/quoted_printable.hpp"

#include <algorithm>
#include <cstring>

#include "core/util/swar.hpp"

namespace herald {

// Runs of printable ASCII are copied in bulk and everything is written
// through a pointer into space sized for the worst case: this runs over
// every text body herald sends (callgrind: per-token string appends cost
// ~20 instructions per byte, 12 % of an end-to-end e-mail).
void quoted_printable_encode(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  constexpr size_t kMaxLine = 76;  // including the '=' of a soft break
  const size_t n = text.size();
  const size_t start = out.size();
  // Worst case: every byte as "=XX" (a lone CR or LF becomes 2 bytes), and a
  // soft break "=\r\n" per 73 bytes of that at most.
  out.resize(start + 3 * n + 3 * (n / 24 + 1));
  char* const base = out.data() + start;
  char* o = base;
  char* line = o;  // where the current output line starts
  auto make_room = [&](size_t k) {
    if (static_cast<size_t>(o - line) + k > kMaxLine - 1) {
      *o++ = '=';
      *o++ = '\r';
      *o++ = '\n';
      line = o;
    }
  };
  size_t i = 0;
  while (i < n) {
    // A run of printable ASCII but '=' is copied as it is, a line's room at
    // a time (16 bytes per scan step). Only its edges need care: a '.' that
    // would start a line, a blank that would end one.
    size_t run = bytescan::first_special<'='>(text.substr(i));
    if (run > 0) {
      const size_t end = i + run;
      const bool blank_last = end == n || text[end] == '\r' || text[end] == '\n';
      const size_t literal_end = blank_last && text[end - 1] == ' ' ? end - 1 : end;
      while (i < literal_end) {
        make_room(1);
        if (o == line && text[i] == '.') break;  // encoded below
        const size_t k = std::min(literal_end - i, kMaxLine - 1 - static_cast<size_t>(o - line));
        std::memcpy(o, text.data() + i, k);
        o += k;
        i += k;
      }
      if (i < end) {  // a leading '.' or the trailing blank
        const auto c = static_cast<unsigned char>(text[i++]);
        make_room(3);
        *o++ = '=';
        *o++ = kHex[c >> 4];
        *o++ = kHex[c & 15];
        continue;
      }
      if (i == n) break;
    }
    // Outside runs: a line break, a control, DEL, 8-bit or '='.
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
      *o++ = '\r';
      *o++ = '\n';
      line = o;
      ++i;
      continue;
    }
    if (c == '\t' && i + 1 < n && text[i + 1] != '\r' && text[i + 1] != '\n') {  // a tab not last on its line
      make_room(1);
      *o++ = '\t';
      ++i;
      continue;
    }
    // Encoded, and so is every 8-bit byte right after it (the rest of a
    // UTF-8 character, more of a word in Slovak or Czech): scanned for a
    // run, each would end one at once (~50 instructions per byte).
    do {
      const auto b = static_cast<unsigned char>(text[i++]);
      make_room(3);
      *o++ = '=';
      *o++ = kHex[b >> 4];
      *o++ = kHex[b & 15];
    } while (i < n && static_cast<unsigned char>(text[i]) >= 0x80);
  }
  out.resize(start + static_cast<size_t>(o - base));
}

}  // namespace herald
