#include "transports/smtp/smtp_data.hpp"

namespace herald {

void encode_smtp_data(std::string_view msg, std::string& out) {
  out.reserve(out.size() + msg.size() + msg.size() / 64 + 8);
  bool line_start = true;
  for (size_t i = 0; i < msg.size(); ++i) {
    char c = msg[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < msg.size() && msg[i + 1] == '\n') ++i;
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
}

}  // namespace herald
