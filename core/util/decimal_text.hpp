#pragma once
// Reading decimals and ISO 8601 dates as text, shared by `when` expressions
// (exact comparison) and template formatters (exact rounding): money must
// never pass through a double.
#include <string_view>

namespace herald {

inline bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A plain decimal: [+-]digits[.digits]. No exponents, no separators.
struct DecimalText {
  bool negative = false;
  std::string_view whole, fraction;  // digits; fraction empty when there is no '.'
};

inline bool parse_decimal_text(std::string_view s, DecimalText& d) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    d.negative = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  d.whole = s.substr(0, dot);
  d.fraction = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  return all_digits(d.whole) && (dot == std::string_view::npos || all_digits(d.fraction));
}

// "2026-12-04", "2026-11-20T09:14", "2026-11-20T09:14:03.250+01:00", "…Z".
struct IsoDateTime {
  int year = 0, month = 0, day = 0;
  int hour = -1, minute = 0, second = 0;  // hour -1: a date only
  bool has_offset = false;
  int offset_seconds = 0;                 // east of UTC
};

bool parse_iso_datetime(std::string_view s, IsoDateTime& t);

}  // namespace herald
