#include "core/match/expression.hpp"

#include <charconv>
#include <cstring>

#include "core/util/decimal_text.hpp"

namespace herald {

namespace json = boost::json;

namespace {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {  // H. Hinnant's algorithm
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Exact comparison of two plain decimals ([+-]digits[.digits]); false when
// either is not one.
bool compare_decimal(std::string_view a, std::string_view b, int& out) {
  auto parse = [](std::string_view s, DecimalText& d) {
    if (!parse_decimal_text(s, d)) return false;
    while (d.whole.size() > 1 && d.whole[0] == '0') d.whole.remove_prefix(1);
    while (!d.fraction.empty() && d.fraction.back() == '0') d.fraction.remove_suffix(1);
    if (d.whole == "0" && d.fraction.empty()) d.negative = false;  // -0 == 0
    return true;
  };
  DecimalText x, y;
  if (!parse(a, x) || !parse(b, y)) return false;
  if (x.negative != y.negative) {
    out = x.negative ? -1 : 1;
    return true;
  }
  int mag = 0;
  if (x.whole.size() != y.whole.size()) {
    mag = x.whole.size() < y.whole.size() ? -1 : 1;
  } else if (int c = x.whole.compare(y.whole); c != 0) {
    mag = c < 0 ? -1 : 1;
  } else {
    size_t n = std::max(x.fraction.size(), y.fraction.size());
    for (size_t i = 0; i < n && mag == 0; ++i) {
      char p = i < x.fraction.size() ? x.fraction[i] : '0';
      char q = i < y.fraction.size() ? y.fraction[i] : '0';
      if (p != q) mag = p < q ? -1 : 1;
    }
  }
  out = x.negative ? -mag : mag;
  return true;
}

using Kind = Expression::Kind;
using Op = Expression::Op;

// A resolved operand; numbers from JSON are printed into `buf`.
struct Value {
  Kind kind = Kind::null;
  bool object = false;  // a JSON object (truthy, equal to nothing)
  std::string_view text;
  bool boolean = false;
  int64_t seconds = 0;
  const json::array* array = nullptr;             // JSON array
  const std::vector<Expression::Operand>* items = nullptr;  // literal list
  char buf[40];
};

void from_json(const json::value* v, Value& out) {
  if (!v) return;
  switch (v->kind()) {
    case json::kind::string:
      out.kind = Kind::string;
      out.text = v->get_string();
      break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      std::to_chars_result r = v->is_int64()    ? std::to_chars(out.buf, out.buf + sizeof out.buf, v->get_int64())
                               : v->is_uint64() ? std::to_chars(out.buf, out.buf + sizeof out.buf, v->get_uint64())
                                                : std::to_chars(out.buf, out.buf + sizeof out.buf, v->get_double());
      out.kind = Kind::number;
      out.text = std::string_view(out.buf, r.ec == std::errc() ? static_cast<size_t>(r.ptr - out.buf) : 0);
      break;
    }
    case json::kind::bool_:
      out.kind = Kind::boolean;
      out.boolean = v->get_bool();
      break;
    case json::kind::array:
      out.kind = Kind::list;
      out.array = &v->get_array();
      break;
    case json::kind::object: out.object = true; out.kind = Kind::list; break;
    case json::kind::null: break;
  }
}

const json::value* lookup(const json::value& root, const std::vector<std::string>& path) {
  const json::value* v = &root;
  for (const auto& part : path) {
    if (const auto* o = v->if_object()) {
      v = o->if_contains(part);
    } else if (const auto* a = v->if_array()) {
      size_t i = 0;
      auto r = std::from_chars(part.data(), part.data() + part.size(), i);
      v = r.ec == std::errc() && r.ptr == part.data() + part.size() && i < a->size() ? &(*a)[i] : nullptr;
    } else {
      v = nullptr;
    }
    if (!v) return nullptr;
  }
  return v;
}

void resolve(const Expression::Operand& o, const json::value& ctx, Value& out) {
  out.kind = o.kind;
  switch (o.kind) {
    case Kind::path: out.kind = Kind::null; from_json(lookup(ctx, o.path), out); break;
    case Kind::string:
    case Kind::number: out.text = o.text; break;
    case Kind::boolean: out.boolean = o.boolean; break;
    case Kind::date: out.seconds = o.seconds; break;
    case Kind::list: out.items = &o.items; break;
    case Kind::null: break;
  }
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::null: return false;
    case Kind::boolean: return v.boolean;
    case Kind::string: return !v.text.empty();
    case Kind::number: {
      int c = 0;
      return !compare_decimal(v.text, "0", c) || c != 0;
    }
    case Kind::list: return v.object || (v.array ? !v.array->empty() : !v.items->empty());
    default: return true;
  }
}

// Three-way comparison; false when the two cannot be compared.
bool compare(const Value& a, const Value& b, int& out) {
  auto date_vs = [&](const Value& d, const Value& s, bool flip) {
    int64_t t = 0;
    if (s.kind == Kind::date) {
      t = s.seconds;
    } else if (s.kind != Kind::string || !parse_iso_instant(s.text, t)) {
      return false;
    }
    out = d.seconds < t ? -1 : d.seconds > t ? 1 : 0;
    if (flip) out = -out;
    return true;
  };
  if (a.kind == Kind::date) return date_vs(a, b, false);
  if (b.kind == Kind::date) return date_vs(b, a, true);
  if ((a.kind == Kind::number && (b.kind == Kind::number || b.kind == Kind::string)) ||
      (b.kind == Kind::number && a.kind == Kind::string))
    return compare_decimal(a.text, b.text, out);
  if (a.kind == Kind::string && b.kind == Kind::string) {
    int c = a.text.compare(b.text);
    out = c < 0 ? -1 : c > 0 ? 1 : 0;
    return true;
  }
  if (a.kind == Kind::boolean && b.kind == Kind::boolean) {
    out = a.boolean == b.boolean ? 0 : (a.boolean ? 1 : -1);
    return true;
  }
  return false;
}

bool equal(const Value& a, const Value& b) {
  if (a.kind == Kind::null || b.kind == Kind::null) return a.kind == b.kind;
  int c = 0;
  return compare(a, b, c) && c == 0;
}

bool member(const Value& needle, const Value& list) {
  Value item;
  if (list.items) {
    for (const auto& o : *list.items) {
      item = Value{};
      item.kind = o.kind;
      item.text = o.text;
      item.boolean = o.boolean;
      item.seconds = o.seconds;
      if (equal(needle, item)) return true;
    }
  } else if (list.array) {
    for (const auto& j : *list.array) {
      item = Value{};
      from_json(&j, item);
      if (equal(needle, item)) return true;
    }
  }
  return false;
}

}  // namespace

bool parse_iso_instant(std::string_view s, int64_t& seconds) {
  IsoDateTime t;
  if (!parse_iso_datetime(s, t)) return false;
  seconds = days_from_civil(t.year, static_cast<unsigned>(t.month), static_cast<unsigned>(t.day)) * 86400 +
            (t.hour < 0 ? 0 : t.hour * 3600 + t.minute * 60 + t.second) - t.offset_seconds;
  return true;
}

class ExpressionParser final {
 public:
  ExpressionParser(std::string_view src, Expression& out, ExpressionError& err) : src_(src), out_(out), err_(err) {}

  bool run() {
    skip();
    if (pos_ == src_.size()) return true;  // always true
    uint32_t root = 0;
    if (!parse_or(root)) return false;
    skip();
    if (pos_ != src_.size()) return fail("unexpected '" + std::string(word()) + "'");
    out_.root_ = root;
    return true;
  }

 private:
  bool fail(std::string reason, size_t at = std::string_view::npos) {
    err_ = {(at == std::string_view::npos ? pos_ : at) + 1, std::move(reason)};
    return false;
  }

  void skip() {
    while (pos_ < src_.size() && (src_[pos_] == ' ' || src_[pos_] == '\t' || src_[pos_] == '\n' || src_[pos_] == '\r'))
      ++pos_;
  }

  static bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
  static bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '-'; }

  // The identifier (or single character) at pos_, for keywords and messages.
  std::string_view word() const {
    size_t e = pos_;
    while (e < src_.size() && ident_char(src_[e])) ++e;
    if (e == pos_ && pos_ < src_.size()) ++e;
    return src_.substr(pos_, e - pos_);
  }

  bool keyword(std::string_view kw) {
    skip();
    if (word() != kw) return false;
    pos_ += kw.size();
    return true;
  }

  bool symbol(std::string_view s) {
    skip();
    if (src_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }

  uint32_t node(Op op, uint32_t a, uint32_t b = 0) {
    out_.nodes_.push_back({op, a, b});
    return static_cast<uint32_t>(out_.nodes_.size() - 1);
  }

  uint32_t operand(Expression::Operand o) {
    out_.operands_.push_back(std::move(o));
    return static_cast<uint32_t>(out_.operands_.size() - 1);
  }

  bool parse_or(uint32_t& out) {
    if (!parse_and(out)) return false;
    while (keyword("or")) {
      uint32_t rhs = 0;
      if (!parse_and(rhs)) return false;
      out = node(Op::or_, out, rhs);
    }
    return true;
  }

  bool parse_and(uint32_t& out) {
    if (!parse_not(out)) return false;
    while (keyword("and")) {
      uint32_t rhs = 0;
      if (!parse_not(rhs)) return false;
      out = node(Op::and_, out, rhs);
    }
    return true;
  }

  bool parse_not(uint32_t& out) {
    if (keyword("not")) {
      uint32_t inner = 0;
      if (!parse_not(inner)) return false;
      out = node(Op::not_, inner);
      return true;
    }
    return parse_condition(out);
  }

  bool parse_condition(uint32_t& out) {
    skip();
    if (symbol("(")) {
      if (!parse_or(out)) return false;
      if (!symbol(")")) return fail("expected ')'");
      return true;
    }
    if (keyword("exists")) {
      if (!symbol("(")) return fail("expected '(' after exists");
      skip();
      size_t at = pos_;
      Expression::Operand path;
      if (!parse_operand(path)) return false;
      if (path.kind != Kind::path) return fail("exists() takes a field path", at);
      if (!symbol(")")) return fail("expected ')'");
      out = node(Op::exists, operand(std::move(path)));
      return true;
    }
    skip();
    size_t at = pos_;
    Expression::Operand lhs;
    if (!parse_operand(lhs)) return false;
    static constexpr std::pair<std::string_view, Op> symbols[] = {
        {"==", Op::eq}, {"!=", Op::ne}, {"<=", Op::le}, {">=", Op::ge}, {"<", Op::lt}, {">", Op::gt}};
    Op op = Op::truthy;
    bool found = false;
    for (const auto& [s, o] : symbols) {
      if (symbol(s)) {
        op = o;
        found = true;
        break;
      }
    }
    if (!found) {
      size_t before = pos_;
      if (keyword("in")) {
        op = Op::in, found = true;
      } else if (keyword("not")) {
        if (!keyword("in")) {
          pos_ = before;
          skip();
          return fail("expected 'in' after 'not'");
        }
        op = Op::not_in, found = true;
      } else if (keyword("contains")) {
        op = Op::contains, found = true;
      } else if (keyword("starts_with")) {
        op = Op::starts_with, found = true;
      } else if (keyword("ends_with")) {
        op = Op::ends_with, found = true;
      }
    }
    if (!found) {
      if (lhs.kind != Kind::path && lhs.kind != Kind::boolean) return fail("a value alone is not a condition", at);
      out = node(Op::truthy, operand(std::move(lhs)));
      return true;
    }
    skip();
    size_t rhs_at = pos_;
    Expression::Operand rhs;
    if (!parse_operand(rhs)) return false;
    if ((op == Op::in || op == Op::not_in) && rhs.kind != Kind::list && rhs.kind != Kind::path)
      return fail("'in' takes a list [..] or a field path", rhs_at);
    if (op != Op::in && op != Op::not_in && rhs.kind == Kind::list) return fail("a list only goes after 'in'", rhs_at);
    if ((op == Op::starts_with || op == Op::ends_with) && rhs.kind != Kind::string && rhs.kind != Kind::path)
      return fail("expected a string", rhs_at);
    if (lhs.kind == Kind::list) return fail("a list cannot be compared", at);
    uint32_t a = operand(std::move(lhs));
    out = node(op, a, operand(std::move(rhs)));
    return true;
  }

  bool parse_string(std::string& out) {
    char quote = src_[pos_];
    size_t start = pos_++;
    while (pos_ < src_.size() && src_[pos_] != quote) {
      char c = src_[pos_++];
      if (c == '\\') {
        if (pos_ >= src_.size()) break;
        char e = src_[pos_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case '\\':
          case '"':
          case '\'': out += e; break;
          default: return fail("unknown escape '\\" + std::string(1, e) + "'", pos_ - 2);
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= src_.size()) return fail("unterminated string", start);
    ++pos_;
    return true;
  }

  bool parse_operand(Expression::Operand& o) {
    skip();
    if (pos_ >= src_.size()) return fail("expected a value or field path");
    char c = src_[pos_];
    if (c == '"' || c == '\'') {
      o.kind = Kind::string;
      return parse_string(o.text);
    }
    if ((c >= '0' && c <= '9') || ((c == '-' || c == '+') && pos_ + 1 < src_.size() && src_[pos_ + 1] >= '0' &&
                                   src_[pos_ + 1] <= '9')) {
      size_t start = pos_++;
      while (pos_ < src_.size() && ((src_[pos_] >= '0' && src_[pos_] <= '9') || src_[pos_] == '.')) ++pos_;
      o.kind = Kind::number;
      o.text = src_.substr(start, pos_ - start);
      int ignored = 0;
      if (!compare_decimal(o.text, "0", ignored)) return fail("malformed number '" + o.text + "'", start);
      return true;
    }
    if (c == '[') {
      ++pos_;
      o.kind = Kind::list;
      if (symbol("]")) return true;
      do {
        skip();
        size_t at = pos_;
        Expression::Operand item;
        if (!parse_operand(item)) return false;
        if (item.kind == Kind::path || item.kind == Kind::list) return fail("list items must be literals", at);
        o.items.push_back(std::move(item));
      } while (symbol(","));
      if (!symbol("]")) return fail("expected ',' or ']'");
      return true;
    }
    if (!ident_start(c)) return fail("expected a value or field path, found '" + std::string(word()) + "'");
    size_t start = pos_;
    std::string_view first = word();
    static constexpr std::string_view reserved[] = {"and", "or", "not", "in", "contains", "starts_with",
                                                    "ends_with", "exists"};
    for (auto r : reserved)
      if (first == r) return fail("expected a value or field path, found '" + std::string(first) + "'");
    if (first == "true" || first == "false") {
      pos_ += first.size();
      o.kind = Kind::boolean;
      o.boolean = first == "true";
      return true;
    }
    if (first == "null") {
      pos_ += first.size();
      o.kind = Kind::null;
      return true;
    }
    if (first == "date") {
      pos_ += first.size();
      if (!symbol("(")) return fail("expected '(' after date");
      skip();
      size_t at = pos_;
      std::string text;
      if (pos_ >= src_.size() || (src_[pos_] != '"' && src_[pos_] != '\'') || !parse_string(text))
        return err_.reason.empty() ? fail("date() takes a string", at) : false;
      if (!parse_iso_instant(text, o.seconds)) return fail("not an ISO 8601 date: '" + text + "'", at);
      if (!symbol(")")) return fail("expected ')'");
      o.kind = Kind::date;
      return true;
    }
    o.kind = Kind::path;
    for (;;) {
      size_t seg = pos_;
      while (pos_ < src_.size() && ident_char(src_[pos_])) ++pos_;
      if (pos_ == seg) return fail("empty segment in field path", start);
      o.path.emplace_back(src_.substr(seg, pos_ - seg));
      if (pos_ < src_.size() && src_[pos_] == '.') {
        ++pos_;
        continue;
      }
      break;
    }
    return true;
  }

  std::string_view src_;
  Expression& out_;
  ExpressionError& err_;
  size_t pos_ = 0;
};

bool Expression::compile(std::string_view source, Expression& out, ExpressionError& error) {
  Expression e;
  e.source_ = source;
  ExpressionParser p(source, e, error);
  if (!p.run()) return false;
  out = std::move(e);
  return true;
}

bool Expression::evaluate(const json::value& context) const { return nodes_.empty() || eval(root_, context); }

bool Expression::eval(uint32_t index, const json::value& ctx) const {
  const Node& n = nodes_[index];
  switch (n.op) {
    case Op::or_: return eval(n.a, ctx) || eval(n.b, ctx);
    case Op::and_: return eval(n.a, ctx) && eval(n.b, ctx);
    case Op::not_: return !eval(n.a, ctx);
    default: break;
  }
  Value a;
  resolve(operands_[n.a], ctx, a);
  if (n.op == Op::truthy) return truthy(a);
  if (n.op == Op::exists) return a.kind != Kind::null;
  Value b;
  resolve(operands_[n.b], ctx, b);
  int c = 0;
  switch (n.op) {
    case Op::eq: return equal(a, b);
    case Op::ne: return !equal(a, b);
    case Op::lt: return compare(a, b, c) && c < 0;
    case Op::le: return compare(a, b, c) && c <= 0;
    case Op::gt: return compare(a, b, c) && c > 0;
    case Op::ge: return compare(a, b, c) && c >= 0;
    case Op::in: return member(a, b);
    case Op::not_in: return !member(a, b);
    case Op::contains:
      if (a.kind == Kind::string && b.kind == Kind::string) return a.text.find(b.text) != std::string_view::npos;
      return a.kind == Kind::list && !a.object && member(b, a);
    case Op::starts_with: return a.kind == Kind::string && b.kind == Kind::string && a.text.starts_with(b.text);
    case Op::ends_with: return a.kind == Kind::string && b.kind == Kind::string && a.text.ends_with(b.text);
    default: return false;
  }
}

}  // namespace herald
