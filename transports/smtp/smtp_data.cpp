#include "transports/smtp/smtp_data.hpp"

namespace herald {

bool encode_smtp_data(std::string_view msg, std::string& out) {
  out.reserve(out.size() + msg.size() + msg.size() / 64 + 8);
  bool eight_bit = false;
  const size_t n = msg.size();
  size_t i = 0;
  // Line by line, appending each run between line breaks in bulk: this runs
  // over every byte sent (attachments included), so no per-byte append.
  while (i < n) {
    if (msg[i] == '.') out += '.';
    size_t j = i;
    unsigned char high = 0;
    while (j < n && msg[j] != '\r' && msg[j] != '\n') high |= static_cast<unsigned char>(msg[j++]);
    eight_bit = eight_bit || (high & 0x80);
    out.append(msg.data() + i, j - i);
    out += "\r\n";
    if (j < n && msg[j] == '\r' && j + 1 < n && msg[j + 1] == '\n') ++j;
    i = j + 1;
  }
  out += ".\r\n";
  return eight_bit;
}

}  // namespace herald
