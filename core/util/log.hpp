#pragma once
// Structured logging: one JSON object per line on stdout (or any FILE*).
//
// Operators feed these lines to journald/Loki/jq, so every line is a complete
// JSON object and field values are always escaped. Thread-safe; a Logger is
// created once by the daemon and passed by reference (no global logger).
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

namespace herald {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

struct LogField {
  using Value = std::variant<std::string_view, long long, unsigned long long, double, bool>;
  std::string_view key;
  Value value;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, int v) : key(k), value(static_cast<long long>(v)) {}
  LogField(std::string_view k, long v) : key(k), value(static_cast<long long>(v)) {}
  LogField(std::string_view k, long long v) : key(k), value(v) {}
  LogField(std::string_view k, unsigned v) : key(k), value(static_cast<unsigned long long>(v)) {}
  LogField(std::string_view k, unsigned long v) : key(k), value(static_cast<unsigned long long>(v)) {}
  LogField(std::string_view k, unsigned long long v) : key(k), value(v) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
};

class Logger final {
 public:
  explicit Logger(std::FILE* out = stdout, LogLevel min_level = LogLevel::info)
      : out_(out), min_level_(min_level) {}

  void set_level(LogLevel level) { min_level_ = level; }
  bool enabled(LogLevel level) const { return level >= min_level_; }

  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  void debug(std::string_view msg, std::initializer_list<LogField> f = {}) { log(LogLevel::debug, msg, f); }
  void info(std::string_view msg, std::initializer_list<LogField> f = {}) { log(LogLevel::info, msg, f); }
  void warn(std::string_view msg, std::initializer_list<LogField> f = {}) { log(LogLevel::warn, msg, f); }
  void error(std::string_view msg, std::initializer_list<LogField> f = {}) { log(LogLevel::error, msg, f); }

 private:
  std::FILE* out_;
  LogLevel min_level_;
  std::mutex mutex_;
};

// Appends `s` to `out` as the inside of a JSON string (no quotes). Invalid
// UTF-8 bytes are replaced by U+FFFD so a log line is always valid JSON.
void append_json_escaped(std::string& out, std::string_view s);
// The same inside its quotes: a JSON string value.
void append_json_quoted(std::string& out, std::string_view s);

// The length of the leading run of `s` that a JSON string holds as is
// (printable ASCII other than '"' and '\\'); s.size() when nothing needs
// escaping.
size_t json_plain_prefix(std::string_view s) noexcept;
// True when `s` goes into a JSON string as is (no byte needs escaping).
inline bool json_is_plain(std::string_view s) noexcept { return json_plain_prefix(s) == s.size(); }
// True when append_json_escaped would copy `s` unchanged: plain ASCII and
// valid UTF-8 sequences only (names and subjects with accented letters).
// Inline for the common all-ASCII value: one scan, as json_is_plain.
bool json_is_plain_utf8_from(std::string_view s, size_t i) noexcept;
inline bool json_is_plain_utf8(std::string_view s) noexcept {
  const size_t i = json_plain_prefix(s);
  return i == s.size() || json_is_plain_utf8_from(s, i);
}

// Parses "debug|info|warn|error"; returns false on anything else.
bool parse_log_level(std::string_view s, LogLevel& out);

}  // namespace herald
