#pragma once
// Strict typed access to a toml++ table, shared by the daemon config and the
// resource files. Every key read is recorded; finish() rejects the ones nobody
// asked for, so a typo ("max_body_byte") is a load error, not a silent default.
// Errors are ConfigError exceptions (startup/reload only, never a hot path)
// whose message reads "file:line:col: dotted.key: reason".
#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

namespace herald {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a TOML file; syntax errors become ConfigError with line/column.
toml::table parse_toml_file(const std::string& path);
// The same in two steps, for callers that look at the bytes first (a
// reload compares them with the last read's). Both throw ConfigError.
std::string read_toml_bytes(const std::string& path);
toml::table parse_toml_text(std::string_view text, const std::string& path);

class TomlReader final {
 public:
  TomlReader(const toml::table& table, std::string file, std::string prefix);

  std::optional<std::string> string(std::string_view key);
  std::string string_or(std::string_view key, std::string fallback) { return string(key).value_or(std::move(fallback)); }
  std::string required_string(std::string_view key);
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max);
  std::optional<double> number(std::string_view key, double min, double max);  // integer or float
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::chrono::milliseconds> millis(std::string_view key, int64_t min, int64_t max) {
    auto v = integer(key, min, max);
    return v ? std::optional(std::chrono::milliseconds(*v)) : std::nullopt;
  }
  const toml::table* table(std::string_view key);
  const toml::array* array(std::string_view key);

  // Throws ConfigError naming the first key that was never read.
  void finish() const;

  [[noreturn]] void fail(std::string_view key, std::string_view reason) const;
  // "file:line:col: dotted.key", the prefix of fail()'s message.
  std::string location(std::string_view key) const;
  std::string path(std::string_view key) const;
  const std::string& file() const { return file_; }
  const toml::table& raw() const { return table_; }

 private:
  const toml::node* get(std::string_view key, toml::node_type type, const char* type_name);

  const toml::table& table_;
  std::string file_;
  std::string prefix_;
  std::set<std::string, std::less<>> used_;
};

}  // namespace herald
