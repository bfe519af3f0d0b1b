#include "transports/mime/quoted_printable.hpp"

namespace herald {

void quoted_printable_encode(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  constexpr size_t kMaxLine = 76;  // including the '=' of a soft break
  size_t col = 0;
  auto emit = [&](std::string_view token) {
    if (col + token.size() > kMaxLine - 1) {
      out += "=\r\n";
      col = 0;
    }
    out.append(token);
    col += token.size();
  };
  char enc[3] = {'=', 0, 0};
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      col = 0;
      continue;
    }
    bool at_line_end = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
    bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    if (c == '.' && col == 0) literal = false;
    if (literal) {
      char ch = static_cast<char>(c);
      emit(std::string_view(&ch, 1));
    } else {
      enc[1] = kHex[c >> 4];
      enc[2] = kHex[c & 15];
      emit(std::string_view(enc, 3));
    }
  }
}

}  // namespace herald
