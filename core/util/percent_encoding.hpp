#pragma once
// Percent-encoding (RFC 3986 §2.1) for URL paths and queries, RFC 2231
// parameters and file names: one implementation, each caller choosing which
// bytes stay as they are.
#include <string>
#include <string_view>

namespace herald {

// Appends `in` to `out`, writing every byte for which `plain(byte)` is false
// as %XX (upper-case hex).
template <class Plain>
void append_percent_encoded(std::string& out, std::string_view in, Plain plain) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    if (plain(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

inline bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// Strict %XX decoding ('+' is a space when `plus_is_space`, as in queries);
// false on a malformed escape. Hand-written: Boost.URL 1.81's parse_query
// reads past the end of a non-terminated view (caught by ASan).
inline bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c == '+' && plus_is_space ? ' ' : c);
    }
  }
  return true;
}

}  // namespace herald
