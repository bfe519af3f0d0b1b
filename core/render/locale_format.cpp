#include "core/render/locale_format.hpp"

#include <array>
#include <cctype>

#include "core/util/decimal_text.hpp"

namespace herald {
namespace {

constexpr std::string_view kNbsp = "\xC2\xA0";

// CLDR: separators, grouping, currency placement, short date and time.
constexpr std::array<LocaleInfo, 5> kLocales{{
    {"sk-SK", ",", kNbsp, 1, false, DateOrder::dmy_spaced, false, false},
    {"cs-CZ", ",", kNbsp, 1, false, DateOrder::dmy_spaced, false, false},
    {"pl-PL", ",", kNbsp, 2, false, DateOrder::dmy_dotted, true, false},
    {"de-DE", ",", ".", 1, false, DateOrder::dmy_dotted, true, false},
    {"en-US", ".", ",", 1, true, DateOrder::mdy_slashed, false, true},
}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
    char y = static_cast<char>(std::tolower(static_cast<unsigned char>(b[i])));
    if ((x == '_' ? '-' : x) != (y == '_' ? '-' : y)) return false;
  }
  return true;
}

struct Currency {
  std::string_view code, symbol;
  int places;
};
constexpr std::array<Currency, 8> kCurrencies{{{"EUR", "€", 2},
                                               {"CZK", "Kč", 2},
                                               {"PLN", "zł", 2},
                                               {"USD", "$", 2},
                                               {"GBP", "£", 2},
                                               {"HUF", "Ft", 2},
                                               {"CHF", "CHF", 2},
                                               {"JPY", "¥", 0}}};

// Appends `d` rounded half away from zero to `places` decimals (or as given
// when places < 0), with the locale's separators and grouping.
void append_decimal(const DecimalText& d, int places, const LocaleInfo& loc, std::string& out) {
  std::string digits(d.whole);
  size_t keep = places < 0 ? d.fraction.size() : static_cast<size_t>(places);
  for (size_t i = 0; i < keep; ++i) digits += i < d.fraction.size() ? d.fraction[i] : '0';
  if (keep < d.fraction.size() && d.fraction[keep] >= '5') {
    size_t i = digits.size();
    while (i > 0 && digits[i - 1] == '9') digits[--i] = '0';
    if (i == 0) {
      digits.insert(digits.begin(), '1');
    } else {
      ++digits[i - 1];
    }
  }
  size_t whole = digits.size() - keep;
  size_t lead = 0;
  while (lead + 1 < whole && digits[lead] == '0') ++lead;  // "007" → "7"
  bool zero = digits.find_first_not_of('0') == std::string::npos;
  if (d.negative && !zero) out += '-';
  size_t n = whole - lead;
  bool group = n >= 4u + (loc.min_grouping - 1u);
  for (size_t i = lead; i < whole; ++i) {
    out += digits[i];
    size_t left = whole - i - 1;
    if (group && left > 0 && left % 3 == 0) out += loc.group;
  }
  if (keep > 0) {
    out += loc.decimal;
    out.append(digits, whole, keep);
  }
}

void append_2(int v, std::string& out) {
  out += static_cast<char>('0' + v / 10);
  out += static_cast<char>('0' + v % 10);
}

void append_date(const IsoDateTime& t, const LocaleInfo& loc, std::string& out) {
  switch (loc.date_order) {
    case DateOrder::dmy_spaced:
      out += std::to_string(t.day) + ". " + std::to_string(t.month) + ". " + std::to_string(t.year);
      break;
    case DateOrder::dmy_dotted:
      append_2(t.day, out);
      out += '.';
      append_2(t.month, out);
      out += '.' + std::to_string(t.year);
      break;
    case DateOrder::mdy_slashed:
      out += std::to_string(t.month) + '/' + std::to_string(t.day) + '/' + std::to_string(t.year);
      break;
  }
}

void append_time(const IsoDateTime& t, const LocaleInfo& loc, std::string& out) {
  int h = loc.hour12 ? (t.hour % 12 == 0 ? 12 : t.hour % 12) : t.hour;
  if (loc.hour_padded) {
    append_2(h, out);
  } else {
    out += std::to_string(h);
  }
  out += ':';
  append_2(t.minute, out);
  if (loc.hour12) out += t.hour < 12 ? " AM" : " PM";
}

// Latin-1 and Latin Extended-A case pairs; 0 when the code point has none.
char32_t to_upper(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c & 1) ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
  return c;
}

char32_t to_lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c & 1) ? c : c + 1;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
  return c;
}

template <class Map>
void map_case(std::string_view s, std::string& out, Map map) {
  for (size_t i = 0; i < s.size();) {
    auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out += static_cast<char>(map(b0));
      ++i;
      continue;
    }
    // Two-byte sequences cover U+0080..U+07FF, everything mapped here.
    if ((b0 & 0xE0) == 0xC0 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      char32_t c = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      char32_t m = map(c);
      out += static_cast<char>(0xC0 | (m >> 6));
      out += static_cast<char>(0x80 | (m & 0x3F));
      i += 2;
      continue;
    }
    out += s[i++];
  }
}

}  // namespace

const LocaleInfo* find_locale(std::string_view tag) {
  for (const auto& l : kLocales)
    if (iequals(l.tag, tag)) return &l;
  std::string_view lang = tag.substr(0, tag.find_first_of("-_"));
  for (const auto& l : kLocales)
    if (iequals(l.tag.substr(0, 2), lang)) return &l;
  return nullptr;
}

const LocaleInfo& default_locale() { return kLocales.back(); }

std::optional<FormatterCall> parse_formatter(std::string_view spec, std::string& reason) {
  size_t colon = spec.find(':');
  std::string_view name = spec.substr(0, colon);
  std::string_view arg = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  static constexpr std::pair<std::string_view, Formatter> names[] = {
      {"money", Formatter::money}, {"number", Formatter::number}, {"date", Formatter::date},
      {"datetime", Formatter::datetime}, {"upper", Formatter::upper}, {"lower", Formatter::lower}};
  for (const auto& [n, kind] : names) {
    if (n != name) continue;
    FormatterCall call{kind, std::string(arg)};
    bool ok = colon == std::string_view::npos ||
              (kind == Formatter::money && arg.size() == 3 && std::isupper(static_cast<unsigned char>(arg[0])) &&
               std::isupper(static_cast<unsigned char>(arg[1])) && std::isupper(static_cast<unsigned char>(arg[2]))) ||
              (kind == Formatter::number && arg.size() == 1 && all_digits(arg));
    if (!ok) {
      reason = "bad argument '" + std::string(arg) + "' for formatter '" + std::string(name) + "'";
      return std::nullopt;
    }
    return call;
  }
  reason = "unknown formatter '" + std::string(name) +
           "' (expected money, money:CUR, number, number:N, date, datetime, upper, lower)";
  return std::nullopt;
}

void apply_formatter(const FormatterCall& call, std::string_view text, std::string_view sibling_currency,
                     const LocaleInfo& loc, std::string& out) {
  switch (call.kind) {
    case Formatter::money: {
      DecimalText d;
      if (!parse_decimal_text(text, d)) break;
      std::string_view code = call.arg.empty() ? sibling_currency : std::string_view(call.arg);
      std::string_view symbol = code;
      int places = 2;
      for (const auto& c : kCurrencies) {
        if (c.code == code) {
          symbol = c.symbol;
          places = c.places;
        }
      }
      if (symbol.empty()) {
        append_decimal(d, places, loc, out);
        return;
      }
      if (loc.currency_before) {
        DecimalText positive = d;
        positive.negative = false;
        if (d.negative) out += '-';
        out += symbol;
        if (symbol == code) out += kNbsp;  // "CHF 10.00", but "$10.00"
        append_decimal(positive, places, loc, out);
      } else {
        append_decimal(d, places, loc, out);
        out += kNbsp;
        out += symbol;
      }
      return;
    }
    case Formatter::number: {
      DecimalText d;
      if (!parse_decimal_text(text, d)) break;
      append_decimal(d, call.arg.empty() ? -1 : call.arg[0] - '0', loc, out);
      return;
    }
    case Formatter::date:
    case Formatter::datetime: {
      IsoDateTime t;
      if (!parse_iso_datetime(text, t)) break;
      append_date(t, loc, out);
      if (call.kind == Formatter::datetime && t.hour >= 0) {
        out += ' ';
        append_time(t, loc, out);
      }
      return;
    }
    case Formatter::upper: append_upper(text, out); return;
    case Formatter::lower: append_lower(text, out); return;
  }
  out += text;
}

void append_upper(std::string_view text, std::string& out) { map_case(text, out, to_upper); }
void append_lower(std::string_view text, std::string& out) { map_case(text, out, to_lower); }

}  // namespace herald
