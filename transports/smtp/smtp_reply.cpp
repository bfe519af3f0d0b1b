#include "transports/smtp/smtp_reply.hpp"

namespace herald {

ReplyParse parse_smtp_reply(std::string_view buf, SmtpReply& out, size_t& consumed, std::string& error,
                            const ReplyLimits& limits) {
  // Cleared, not replaced: a session parses every reply into one SmtpReply,
  // whose text keeps its capacity from one to the next.
  out.code = 0;
  out.text.clear();
  size_t pos = 0;
  size_t lines = 0;
  while (true) {
    size_t nl = buf.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (buf.size() - pos > limits.max_line) {
        error = "reply line longer than " + std::to_string(limits.max_line) + " bytes";
        return ReplyParse::malformed;
      }
      return ReplyParse::incomplete;
    }
    std::string_view line = buf.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits.max_line) {
      error = "reply line longer than " + std::to_string(limits.max_line) + " bytes";
      return ReplyParse::malformed;
    }
    if (++lines > limits.max_lines) {
      error = "reply has more than " + std::to_string(limits.max_lines) + " lines";
      return ReplyParse::malformed;
    }
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
        line[2] > '9') {
      error = "reply line does not start with a 3-digit code";
      return ReplyParse::malformed;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (out.code != 0 && code != out.code) {
      error = "multi-line reply mixes codes " + std::to_string(out.code) + " and " + std::to_string(code);
      return ReplyParse::malformed;
    }
    out.code = code;
    char sep = line.size() > 3 ? line[3] : ' ';
    if (sep != ' ' && sep != '-') {
      error = "reply code not followed by space or '-'";
      return ReplyParse::malformed;
    }
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    if (!out.text.empty() || lines > 1) out.text += '\n';
    // Keep the text printable for logs and history (appended whole, then
    // scrubbed in place: a checked append per byte cost ~10 instructions each).
    const size_t from = out.text.size();
    out.text.append(text);
    for (size_t i = from; i < out.text.size(); ++i)
      if (const auto c = static_cast<unsigned char>(out.text[i]); c < 0x20 || c == 0x7F) out.text[i] = ' ';
    pos = nl + 1;
    if (sep == ' ') {
      consumed = pos;
      return ReplyParse::complete;
    }
  }
}

}  // namespace herald
