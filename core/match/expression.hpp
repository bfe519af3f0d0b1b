#pragma once
// `when` expressions of actions and rules (SPEC §4):
//
//   document.total > 1000 and partner.locale == "cs-CZ"
//   document.status not in ["Přijata", "Nedořešená"]
//   exists(document.due_date) and document.due_date < date("2026-12-31")
//   data.tags contains "vip" or document.number starts_with "FV-"
//
// Field paths read the event in its API shape (plus `contact.*` for an
// action); values are strings, numbers, true/false/null, lists and
// date("…"). Numbers compare as exact decimals, so "1249.90" from the event
// equals 1249.9 in the rule, without rounding through a double. A missing
// field is null: `x == null` holds, every ordering comparison is false.
//
// Compiled once into a flat node array; evaluate() walks it without
// allocating.
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

struct ExpressionError {
  size_t column = 0;  // 1-based
  std::string reason;
};

class Expression final {
 public:
  // An empty source compiles to "always true".
  static bool compile(std::string_view source, Expression& out, ExpressionError& error);

  bool evaluate(const boost::json::value& context) const;
  bool always() const { return nodes_.empty(); }
  const std::string& source() const { return source_; }

  enum class Op : uint8_t {
    or_, and_, not_, truthy, exists, eq, ne, lt, le, gt, ge, in, not_in, contains, starts_with, ends_with
  };
  enum class Kind : uint8_t { path, string, number, boolean, null, date, list };
  struct Operand {
    Kind kind = Kind::null;
    std::vector<std::string> path;  // Kind::path
    std::string text;               // string, or a number's decimal text
    bool boolean = false;
    int64_t seconds = 0;            // Kind::date: seconds since the epoch, UTC
    std::vector<Operand> items;     // Kind::list
  };
  struct Node {
    Op op = Op::truthy;
    uint32_t a = 0, b = 0;  // child nodes (or/and/not) or operands (comparisons)
  };

 private:
  friend class ExpressionParser;
  bool eval(uint32_t node, const boost::json::value& ctx) const;

  std::string source_;
  std::vector<Node> nodes_;
  std::vector<Operand> operands_;
  uint32_t root_ = 0;
};

// Seconds since the epoch (UTC) of an ISO 8601 date or date-time
// ("2026-12-04", "2026-11-20T09:14:03+01:00"); false when `s` is neither.
bool parse_iso_instant(std::string_view s, int64_t& seconds);

}  // namespace herald
