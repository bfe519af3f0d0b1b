#include "transports/mime/header_encoding.hpp"

#include <algorithm>
#include <array>

#include "core/util/base64.hpp"
#include "core/util/percent_encoding.hpp"
#include "core/util/utf8.hpp"

namespace herald {
namespace {

constexpr size_t kMaxEncodedWord = 75;  // RFC 2047 §2
constexpr size_t kFoldColumn = 78;      // RFC 5322 §2.1.1 SHOULD

bool needs_encoding(std::string_view s) {
  if (!is_ascii(s)) return true;
  return s.find("=?") != std::string_view::npos;  // would be mistaken for an encoded word
}

// Splits UTF-8 text into B-encoded words of at most 75 characters, never
// cutting a multi-byte character, and appends them separated by CRLF SP.
void append_encoded_words(std::string& out, std::string_view text) {
  static constexpr std::string_view kPrefix = "=?UTF-8?B?";
  static constexpr std::string_view kSuffix = "?=";
  // 75 - 12 framing chars = 63 base64 chars = 15 groups = 45 bytes of UTF-8.
  constexpr size_t kMaxBytes = (kMaxEncodedWord - kPrefix.size() - kSuffix.size()) / 4 * 3;
  size_t i = 0;
  bool first = true;
  while (i < text.size()) {
    // The text is sanitized, valid UTF-8: a cut before a continuation byte
    // (10xxxxxx) would split a character, so the cut moves back to its start.
    size_t end = std::min(text.size(), i + kMaxBytes);
    while (end < text.size() && end > i + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    // The first word stays on the header line (at most 9 + 75 columns);
    // later words each get a folded line of their own.
    if (!first) out += "\r\n ";
    out += kPrefix;
    base64_encode_lines(out, text.substr(i, end - i), 0);
    out += kSuffix;
    first = false;
    i = end;
  }
}

// Folds plain ASCII at spaces so lines stay under 78 columns where possible.
// Returns false (and appends nothing) if one word is too long for any line;
// the caller then uses encoded words, which may be split anywhere.
bool append_folded_ascii(std::string& out, std::string_view text, size_t col) {
  constexpr size_t kMaxWord = 900;  // well under the 998-octet line limit
  const size_t start = out.size();  // written in place; cut back if a word is too long
  size_t i = 0;
  bool first = true;
  while (i <= text.size()) {
    size_t sp = text.find(' ', i);
    if (sp == std::string_view::npos) sp = text.size();
    std::string_view word = text.substr(i, sp - i);
    if (word.size() > kMaxWord) {
      out.resize(start);
      return false;
    }
    if (!first) {
      if (col + 1 + word.size() > kFoldColumn) {
        out += "\r\n ";
        col = 1;
      } else {
        out += ' ';
        ++col;
      }
    }
    out.append(word);
    col += word.size();
    first = false;
    i = sp + 1;
  }
  return true;
}

// Nearly every value (names, numbers, subjects) is clean already: valid
// UTF-8 without controls, single spaces, no space at either end. Checked in
// bulk, it is used as it is (the byte loop of sanitize_header_text cost
// ~1 000 instructions per header of every e-mail).
bool is_clean_header_text(std::string_view in) {
  return in.empty() || (in.front() != ' ' && in.back() != ' ' && in.find("  ") == std::string_view::npos &&
                        !has_line_breaking_or_control(in) && is_valid_utf8(in));
}

}  // namespace

std::string sanitize_header_text(std::string_view in) {
  if (is_clean_header_text(in)) return std::string(in);
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      out += (c < 0x20 || c == 0x7F) ? ' ' : static_cast<char>(c);
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(in.substr(i));
    if (n == 0) {
      out += ' ';
      ++i;
      continue;
    }
    std::string_view seq = in.substr(i, n);
    if (has_line_breaking_or_control(seq)) out += ' ';
    else out.append(seq);
    i += n;
  }
  // Collapse the run of spaces a CRLF leaves behind and trim.
  std::string collapsed;
  collapsed.reserve(out.size());
  for (char c : out) {
    if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
    collapsed += c;
  }
  while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
  return collapsed;
}

namespace {
// `in` itself when it is clean, else its sanitized copy in `scratch`.
std::string_view clean_header_text(std::string_view in, std::string& scratch) {
  if (is_clean_header_text(in)) return in;
  scratch = sanitize_header_text(in);
  return scratch;
}
}  // namespace

void append_unstructured_header(std::string& out, std::string_view name, std::string_view value) {
  std::string scratch;
  const std::string_view clean = clean_header_text(value, scratch);
  out.append(name);
  out += ": ";
  size_t col = name.size() + 2;
  if (needs_encoding(clean) || !append_folded_ascii(out, clean, col)) append_encoded_words(out, clean);
  out += "\r\n";
}

void append_display_name(std::string& out, std::string_view name) {
  std::string scratch;
  const std::string_view clean = clean_header_text(name, scratch);
  if (clean.empty()) return;
  if (needs_encoding(clean)) {
    append_encoded_words(out, clean);
    return;
  }
  // atext plus spaces can go bare; anything else (",", "<", "\"", ...) is quoted.
  static constexpr auto kBare = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
    for (unsigned char c : std::string_view("!#$%&'*+-/=?^_`{|}~ ")) t[c] = true;
    return t;
  }();
  if (std::all_of(clean.begin(), clean.end(), [](char c) { return kBare[static_cast<unsigned char>(c)]; })) {
    out.append(clean);
    return;
  }
  out += '"';
  for (char c : clean) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

std::string encode_display_name(std::string_view name) {
  std::string out;
  append_display_name(out, name);
  return out;
}

void append_address_header(std::string& out, std::string_view name, const Mailbox& mb) {
  out.append(name);
  out += ": ";
  const size_t display_at = out.size();
  append_display_name(out, mb.name);
  if (const size_t display = out.size() - display_at) {
    out += display + name.size() + mb.address.size() > 70 ? "\r\n <" : " <";
  } else {
    out += '<';
  }
  // The address was validated as a dot-atom addr-spec when loaded; strip any
  // CR/LF anyway so no path can inject a header here.
  if (mb.address.find_first_of("\r\n<>") == std::string::npos) {
    out += mb.address;
  } else {
    for (char c : mb.address)
      if (c != '\r' && c != '\n' && c != '<' && c != '>') out += c;
  }
  out += ">\r\n";
}

std::string rfc2231_encode(std::string_view value) {
  std::string out = "utf-8''";
  append_percent_encoded(out, value, is_unreserved);
  return out;
}

}  // namespace herald
