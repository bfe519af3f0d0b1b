#include "transports/smtp/smtp_data.hpp"

#include "core/util/swar.hpp"

namespace herald {

bool encode_smtp_data(std::string_view msg, std::string& out) {
  out.reserve(out.size() + msg.size() + msg.size() / 64 + 8);
  bool eight_bit = false;
  const size_t n = msg.size();
  size_t i = 0;
  // Line by line, appending each run between line breaks in bulk and finding
  // the break 16 bytes per step: this runs over every byte sent
  // (attachments included). Until the first 8-bit byte, first_special also
  // looks for it (it stops at any control or non-ASCII byte; only CR and LF
  // end the line); after it, only line breaks are looked for.
  while (i < n) {
    if (msg[i] == '.') out += '.';
    size_t j = i;
    for (;;) {
      if (eight_bit) {
        j += bytescan::first_of<'\r', '\n'>(msg.substr(j));
        break;
      }
      j += bytescan::first_special<>(msg.substr(j));
      if (j >= n || msg[j] == '\r' || msg[j] == '\n') break;
      eight_bit = static_cast<unsigned char>(msg[j]) >= 0x80;
      ++j;
    }
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
  // The same 16-byte steps as encode_smtp_data, looking only: a CR must be
  // followed by LF, an LF must follow a CR, and no line may start with '.'.
  for (size_t i = 0; clean && i < n;) {
    i += eight_bit ? bytescan::first_of<'\r', '\n'>(msg.substr(i)) : bytescan::first_special<>(msg.substr(i));
    if (i >= n) break;
    const char c = msg[i];
    if (c == '\r') {
      clean = i + 1 < n && msg[i + 1] == '\n' && (i + 2 == n || msg[i + 2] != '.');
      i += 2;
    } else if (c == '\n') {
      clean = false;
    } else {
      eight_bit = eight_bit || static_cast<unsigned char>(c) >= 0x80;
      ++i;
    }
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
