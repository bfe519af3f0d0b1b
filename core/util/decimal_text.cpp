#include "core/util/decimal_text.hpp"

namespace herald {
namespace {

int number(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

bool parse_iso_datetime(std::string_view s, IsoDateTime& t) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !all_digits(s.substr(0, 4)) || !all_digits(s.substr(5, 2)) ||
      !all_digits(s.substr(8, 2)))
    return false;
  t = IsoDateTime{};
  t.year = number(s.substr(0, 4));
  t.month = number(s.substr(5, 2));
  t.day = number(s.substr(8, 2));
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > 31) return false;
  s.remove_prefix(10);
  if (s.empty()) return true;
  if ((s[0] != 'T' && s[0] != 't' && s[0] != ' ') || s.size() < 6 || s[3] != ':' || !all_digits(s.substr(1, 2)) ||
      !all_digits(s.substr(4, 2)))
    return false;
  t.hour = number(s.substr(1, 2));
  t.minute = number(s.substr(4, 2));
  s.remove_prefix(6);
  if (!s.empty() && s[0] == ':') {
    if (s.size() < 3 || !all_digits(s.substr(1, 2))) return false;
    t.second = number(s.substr(1, 2));
    s.remove_prefix(3);
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      while (!s.empty() && s[0] >= '0' && s[0] <= '9') s.remove_prefix(1);
    }
  }
  if (t.hour > 23 || t.minute > 59 || t.second > 60) return false;
  if (s == "Z" || s == "z") {
    t.has_offset = true;
  } else if (!s.empty()) {
    if ((s[0] != '+' && s[0] != '-') || s.size() != 6 || s[3] != ':' || !all_digits(s.substr(1, 2)) ||
        !all_digits(s.substr(4, 2)))
      return false;
    int off = number(s.substr(1, 2)) * 3600 + number(s.substr(4, 2)) * 60;
    t.has_offset = true;
    t.offset_seconds = s[0] == '+' ? off : -off;
  }
  return true;
}

}  // namespace herald
