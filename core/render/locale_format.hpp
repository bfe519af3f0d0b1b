#pragma once
// Locale-aware formatters for templates: `| money`, `| number`, `| date`,
// `| datetime`, `| upper`, `| lower`.
//
// Hand-written tables instead of std::locale/ICU: Debian's minimal images
// carry no generated locales (std::locale("sk_SK.UTF-8") throws there), and
// the rules needed here (separators, grouping, currency placement, date
// order, per CLDR) fit in a few rows. Formatters work on the value's text, so
// decimal strings such as "1249.90" are formatted exactly, never through a
// double, and they chain: `{{name | upper}}`.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

enum class DateOrder : uint8_t { dmy_spaced, dmy_dotted, mdy_slashed };

struct LocaleInfo {
  std::string_view tag;        // "sk-SK"
  std::string_view decimal;    // ","
  std::string_view group;      // U+00A0, ".", ","
  uint8_t min_grouping = 1;    // pl-PL groups only from 5 integer digits
  bool currency_before = false;  // "$1.00" vs "1,00 €"
  DateOrder date_order = DateOrder::dmy_dotted;
  bool hour_padded = true;     // "09:14" vs "9:14"
  bool hour12 = false;         // "9:14 AM"
};

// The locales herald formats for (sk-SK, cs-CZ, pl-PL, de-DE, en-US).
// find_locale() matches the tag case-insensitively, then by language
// ("cs" → cs-CZ); nullptr when neither matches.
const LocaleInfo* find_locale(std::string_view tag);
const LocaleInfo& default_locale();  // en-US

enum class Formatter : uint8_t { money, number, date, datetime, upper, lower };

struct FormatterCall {
  Formatter kind = Formatter::upper;
  std::string arg;  // `money:CZK` → "CZK", `number:2` → "2"
};

// Parses "money" or "money:CZK"; nullopt for unknown names or bad arguments
// (`reason` says which).
std::optional<FormatterCall> parse_formatter(std::string_view spec, std::string& reason);

// Appends `text` formatted by `call` in `locale`. `sibling_currency` is the
// "currency" field next to the value (document.currency), used by money when
// the call names none. Text the formatter cannot read (a date that is not
// ISO 8601, a number that is not decimal) is appended unchanged.
void apply_formatter(const FormatterCall& call, std::string_view text, std::string_view sibling_currency,
                     const LocaleInfo& locale, std::string& out);

// UTF-8 case mapping for ASCII, Latin-1 and Latin Extended-A (every letter
// of Slovak, Czech, Polish and German); other characters pass unchanged.
void append_upper(std::string_view text, std::string& out);
void append_lower(std::string_view text, std::string& out);

}  // namespace herald
