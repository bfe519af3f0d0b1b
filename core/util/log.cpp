#include "core/util/log.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/util/swar.hpp"
#include "core/util/time_format.hpp"
#include "core/util/utf8.hpp"

namespace herald {
namespace {

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

}  // namespace

size_t json_plain_prefix(std::string_view s) noexcept { return bytescan::first_special<'"', '\\'>(s); }

// From `i`, the first byte that is not plain ASCII.
bool json_is_plain_utf8_from(std::string_view s, size_t i) noexcept {
  for (; i < s.size(); i += json_plain_prefix(s.substr(i))) {
    if (static_cast<unsigned char>(s[i]) < 0x80) return false;  // a control character, DEL, '"' or '\\'
    const size_t n = utf8_sequence_length(s.substr(i));
    if (n == 0) return false;  // escaped as U+FFFD
    i += n;
  }
  return true;
}

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Runs of plain printable ASCII are appended in one go: this encodes every
  // journal header and history record (ingest hot path).
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i + json_plain_prefix(s.substr(i));
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(s.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

void append_json_quoted(std::string& out, std::string_view s) {
  // The usual value (an id, a key) needs no escaping: quoted and copied in
  // one resize, the rest (if any) escaped after its plain prefix.
  const size_t plain = json_plain_prefix(s);
  const size_t at = out.size();
  out.resize(at + plain + 2);
  char* p = out.data() + at;
  *p++ = '"';
  std::memcpy(p, s.data(), plain);
  p[plain] = '"';
  if (plain == s.size()) return;
  out.pop_back();
  append_json_escaped(out, s.substr(plain));
  out += '"';
}

bool parse_log_level(std::string_view s, LogLevel& out) {
  if (s == "debug") out = LogLevel::debug;
  else if (s == "info") out = LogLevel::info;
  else if (s == "warn") out = LogLevel::warn;
  else if (s == "error") out = LogLevel::error;
  else return false;
  return true;
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128 + msg.size());
  line += "{\"ts\":\"";
  line += format_rfc3339_utc(std::chrono::system_clock::now());
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  append_json_quoted(line, msg);
  for (const auto& f : fields) {
    line += ',';
    append_json_quoted(line, f.key);
    line += ':';
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            append_json_quoted(line, v);
          } else if constexpr (std::is_same_v<T, bool>) {
            line += v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.6g", v);
            line += buf;
          } else {
            line += std::to_string(v);
          }
        },
        f.value);
  }
  line += "}\n";
  if (!out_) return;  // a Logger(nullptr) discards (tests)
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace herald
