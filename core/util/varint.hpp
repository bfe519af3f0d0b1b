#pragma once
// LEB128 varints, the length and number encoding of the journal's packed
// entries and of the finished-event runs on disk.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace herald {

inline void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline void put_text(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

// The same encodings into a buffer already sized with varint_size() /
// text_size(): for records built in one exact allocation.
constexpr size_t varint_size(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}
constexpr size_t text_size(std::string_view s) { return varint_size(s.size()) + s.size(); }

inline void put_varint(char*& p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
}

inline void put_text(char*& p, std::string_view s) {
  put_varint(p, s.size());
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  p += s.size();
}

// For bytes already validated (in memory, written by this process).
inline uint64_t get_varint(const char*& p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

// For bytes read back from disk: false instead of reading past `end`.
inline bool get_varint_bounded(const char*& p, const char* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto c = static_cast<uint8_t>(*p++);
    v |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

// A varint length followed by that many bytes, bounds-checked.
inline bool get_text_bounded(const char*& p, const char* end, std::string_view& out) {
  uint64_t n = 0;
  if (!get_varint_bounded(p, end, n) || n > static_cast<uint64_t>(end - p)) return false;
  out = {p, static_cast<size_t>(n)};
  p += n;
  return true;
}

}  // namespace herald
