#include "transports/smtp/smtp_data.hpp"

#include "core/util/swar.hpp"

namespace herald {
namespace {

// The position of the first CR or LF of `msg` at or after `from` (its size
// if none), 16 bytes per step: this runs over every byte sent (attachments
// included). Until the first 8-bit byte, first_special also looks for it
// and sets `eight_bit` there (it stops at any control or non-ASCII byte);
// after it, only line breaks are looked for.
size_t next_line_break(std::string_view msg, size_t from, bool& eight_bit) {
  const size_t n = msg.size();
  size_t j = from;
  for (;;) {
    if (eight_bit) return j + bytescan::first_of<'\r', '\n'>(msg.substr(j));
    j += bytescan::first_special<>(msg.substr(j));
    if (j >= n || msg[j] == '\r' || msg[j] == '\n') return j;
    eight_bit = static_cast<unsigned char>(msg[j]) >= 0x80;
    ++j;
  }
}

}  // namespace

bool encode_smtp_data(std::string_view msg, std::string& out) {
  out.reserve(out.size() + msg.size() + msg.size() / 64 + 8);
  bool eight_bit = false;
  const size_t n = msg.size();
  size_t i = 0;
  // Line by line, appending each run between line breaks in bulk.
  while (i < n) {
    if (msg[i] == '.') out += '.';
    size_t j = next_line_break(msg, i, eight_bit);
    out.append(msg.data() + i, j - i);
    out += "\r\n";
    if (j < n && msg[j] == '\r' && j + 1 < n && msg[j + 1] == '\n') ++j;
    i = j + 1;
  }
  out += ".\r\n";
  return eight_bit;
}

bool encode_smtp_data_in_place(std::string& buf, size_t start) {
  const std::string_view msg(buf.data() + start, buf.size() - start);
  const size_t n = msg.size();
  bool eight_bit = false;
  bool clean = n == 0 || msg[0] != '.';
  // The same scan, looking only: every break must be CRLF, and no line may
  // start with '.'.
  for (size_t i = 0; clean && i < n;) {
    const size_t j = next_line_break(msg, i, eight_bit);
    if (j >= n) break;
    clean = msg[j] == '\r' && j + 1 < n && msg[j + 1] == '\n' && (j + 2 == n || msg[j + 2] != '.');
    i = j + 2;
  }
  if (!clean) {
    const std::string copy(msg);
    buf.resize(start);
    return encode_smtp_data(copy, buf);
  }
  if (n > 0 && !msg.ends_with("\r\n")) buf += "\r\n";
  buf += ".\r\n";
  return eight_bit;
}

}  // namespace herald
