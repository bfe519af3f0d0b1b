#include "core/render/sms_text.hpp"

#include <algorithm>
#include <array>

namespace herald {
namespace {

// GSM 03.38 default alphabet, by septet value.
constexpr std::array<char32_t, 128> kBasic = {
    U'@',  U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ',  U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ',  0x1B, U'Æ', U'æ',  U'ß', U'É',
    U' ',  U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-',  U'.', U'/',
    U'0',  U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':',  U';', U'<', U'=',  U'>', U'?',
    U'¡',  U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J',  U'K', U'L', U'M',  U'N', U'O',
    U'P',  U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z',  U'Ä', U'Ö', U'Ñ',  U'Ü', U'§',
    U'¿',  U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j',  U'k', U'l', U'm',  U'n', U'o',
    U'p',  U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z',  U'ä', U'ö', U'ñ',  U'ü', U'à',
};

// The extension table: escape + one of these, two septets each.
constexpr std::u32string_view kExtension = U"\f^{}\\[~]|€";

// 0: not GSM-7; 1 or 2: septets.
int septets(char32_t c) {
  if (c == 0x1B) return 0;  // the escape itself is not text
  if (std::find(kBasic.begin(), kBasic.end(), c) != kBasic.end()) return 1;
  if (kExtension.find(c) != std::u32string_view::npos) return 2;
  return 0;
}

// Decodes one UTF-8 code point at `i` (advancing it); invalid bytes decode
// as U+FFFD one byte at a time.
char32_t next(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Closest GSM-7 spelling of letters of Central European languages and of
// typographic punctuation; nullptr when there is none.
const char* gsm_spelling(char32_t c) {
  struct Pair {
    char32_t from;
    const char* to;
  };
  static constexpr Pair kMap[] = {
      {U'á', "a"}, {U'Á', "A"}, {U'â', "a"}, {U'Â', "A"}, {U'ă', "a"}, {U'Ă', "A"}, {U'ą', "a"}, {U'Ą', "A"},
      {U'č', "c"}, {U'Č', "C"}, {U'ć', "c"}, {U'Ć', "C"}, {U'ç', "c"}, {U'ď', "d"}, {U'Ď', "D"}, {U'đ', "d"},
      {U'Đ', "D"}, {U'ě', "e"}, {U'Ě', "E"}, {U'ę', "e"}, {U'Ę', "E"}, {U'ë', "e"}, {U'Ë', "E"}, {U'È', "E"},
      {U'í', "i"}, {U'Í', "I"}, {U'î', "i"}, {U'Î', "I"}, {U'Ì', "I"}, {U'ĺ', "l"}, {U'Ĺ', "L"}, {U'ľ', "l"},
      {U'Ľ', "L"}, {U'ł', "l"}, {U'Ł', "L"}, {U'ň', "n"}, {U'Ň', "N"}, {U'ń', "n"}, {U'Ń', "N"}, {U'ó', "o"},
      {U'Ó', "O"}, {U'ô', "o"}, {U'Ô', "O"}, {U'ő', "o"}, {U'Ő', "O"}, {U'Ò', "O"}, {U'ŕ', "r"}, {U'Ŕ', "R"},
      {U'ř', "r"}, {U'Ř', "R"}, {U'š', "s"}, {U'Š', "S"}, {U'ś', "s"}, {U'Ś', "S"}, {U'ș', "s"}, {U'Ș', "S"},
      {U'ť', "t"}, {U'Ť', "T"}, {U'ț', "t"}, {U'Ț', "T"}, {U'ú', "u"}, {U'Ú', "U"}, {U'ů', "u"}, {U'Ů', "U"},
      {U'ű', "u"}, {U'Ű', "U"}, {U'Ù', "U"}, {U'ý', "y"}, {U'Ý', "Y"}, {U'ž', "z"}, {U'Ž', "Z"}, {U'ź', "z"},
      {U'Ź', "Z"}, {U'ż', "z"}, {U'Ż', "Z"}, {U'„', "\""}, {U'“', "\""}, {U'”', "\""}, {U'«', "\""},
      {U'»', "\""}, {U'‚', "'"}, {U'‘', "'"}, {U'’', "'"}, {U'–', "-"}, {U'—', "-"}, {U'…', "..."},
      {0x00A0, " "}, {U'\t', " "}, {U'•', "-"}, {U'×', "x"},
  };
  for (const auto& p : kMap)
    if (p.from == c) return p.to;
  return nullptr;
}

}  // namespace

const char* to_string(SmsEncoding e) { return e == SmsEncoding::gsm7 ? "gsm7" : "ucs2"; }

SmsInfo analyze_sms(std::string_view text) {
  SmsInfo info;
  bool gsm = true;
  size_t septet_total = 0, utf16_total = 0;
  for (size_t i = 0; i < text.size();) {
    char32_t c = next(text, i);
    int n = septets(c);
    if (n == 0) gsm = false;
    septet_total += static_cast<size_t>(n);
    utf16_total += c >= 0x10000 ? 2 : 1;
  }
  if (text.empty()) return info;
  const size_t single = gsm ? 160 : 70, part = gsm ? 153 : 67;
  info.encoding = gsm ? SmsEncoding::gsm7 : SmsEncoding::ucs2;
  info.units = gsm ? septet_total : utf16_total;
  if (info.units <= single) {
    info.segments = 1;
    return info;
  }
  // Fill segments character by character so no pair is split.
  size_t used = 0;
  info.segments = 1;
  for (size_t i = 0; i < text.size();) {
    char32_t c = next(text, i);
    size_t w = gsm ? static_cast<size_t>(septets(c)) : (c >= 0x10000 ? 2 : 1);
    if (used + w > part) {
      ++info.segments;
      used = 0;
    }
    used += w;
  }
  return info;
}

std::string transliterate_to_gsm(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t start = i;
    char32_t c = next(text, i);
    if (septets(c) > 0) {
      out.append(text.substr(start, i - start));
    } else if (const char* s = gsm_spelling(c)) {
      out += s;
    } else {
      append_utf8(out, c);
    }
  }
  return out;
}

}  // namespace herald
