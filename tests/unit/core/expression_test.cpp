#include "core/match/expression.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace herald {
namespace {

namespace json = boost::json;

const json::value kEvent = json::parse(R"({
  "id": "erp-7f3c9a", "type": "case.status_changed", "occurred_at": "2026-11-20T09:14:03+01:00",
  "partner": {"id": "P-1001", "locale": "cs-CZ"},
  "document": {"kind": "case", "number": "RMA-2026-0042", "status": "Vyřízena", "previous_status": "Přijata",
               "total": "1249.90", "currency": "CZK", "due_date": "2026-12-04", "lines": 3, "weight": 12.5},
  "data": {"tags": ["vip", "b2b"], "urgent": true, "note": "", "zero": 0}
})");

bool eval(std::string_view src) {
  Expression e;
  ExpressionError err;
  EXPECT_TRUE(Expression::compile(src, e, err)) << src << ": col " << err.column << " " << err.reason;
  return e.evaluate(kEvent);
}

TEST(Expression, ComparisonsOnStringsAndExactDecimals) {
  EXPECT_TRUE(eval(R"(document.total > 1000 and partner.locale == "cs-CZ")"));
  EXPECT_TRUE(eval("document.total == 1249.9"));  // "1249.90" == 1249.9, no double rounding
  EXPECT_FALSE(eval("document.total == '1249.900'"));  // two strings compare as text
  EXPECT_FALSE(eval("document.total > 1249.9"));
  EXPECT_TRUE(eval("document.total >= 1249.90 and document.total <= 1249.90"));
  EXPECT_TRUE(eval("document.total < 1249.91"));
  EXPECT_TRUE(eval("document.lines == 3 and document.weight > 12.49 and document.weight < 12.51"));
  EXPECT_TRUE(eval("-5 < document.lines"));
  EXPECT_TRUE(eval(R"(document.number != "RMA-2026-0041")"));
  EXPECT_TRUE(eval(R"(document.kind < "invoice")"));  // strings order bytewise
  EXPECT_FALSE(eval(R"(document.number > 5)"));       // not a number: no ordering
  EXPECT_TRUE(eval("data.urgent == true and data.zero == 0"));
}

TEST(Expression, MembershipAndStringFunctions) {
  // The e-shop rule: e-mail the customer unless the new status is one of these.
  EXPECT_TRUE(eval(R"(document.status not in ["Přijata", "Nedořešená"])"));
  EXPECT_FALSE(eval(R"(document.previous_status not in ["Přijata", "Nedořešená"])"));
  EXPECT_TRUE(eval(R"(document.previous_status in ["Přijata", 'Nedořešená'])"));
  EXPECT_TRUE(eval("document.lines in [1, 2, 3]"));
  EXPECT_FALSE(eval("document.missing in [1, 2, 3]"));
  EXPECT_TRUE(eval("document.missing not in [1, 2, 3]"));
  EXPECT_TRUE(eval(R"("vip" in data.tags and data.tags contains "b2b" and not (data.tags contains "retail"))"));
  EXPECT_TRUE(eval(R"(document.number starts_with "RMA-" and document.number ends_with "0042")"));
  EXPECT_TRUE(eval(R"(document.number contains "2026")"));
  EXPECT_FALSE(eval(R"(document.lines starts_with "3")"));
}

TEST(Expression, MissingFieldsAreNullAndTruthiness) {
  EXPECT_TRUE(eval("document.missing == null"));
  EXPECT_FALSE(eval("document.missing != null"));
  EXPECT_FALSE(eval("document.missing > 0 or document.missing < 0 or document.missing == 0"));
  EXPECT_TRUE(eval("exists(document.due_date) and not exists(document.nothing.deeper)"));
  EXPECT_TRUE(eval("data.urgent and not data.note and not data.zero and data.tags"));
  EXPECT_FALSE(eval("data.nothing"));
  EXPECT_TRUE(eval("data.tags.0 == 'vip' and data.tags.5 == null"));
  EXPECT_TRUE(eval(""));  // no condition: always
}

TEST(Expression, DatesCompareAsInstants) {
  EXPECT_TRUE(eval(R"(document.due_date < date("2026-12-31"))"));
  EXPECT_TRUE(eval(R"(document.due_date == date("2026-12-04T00:00:00Z"))"));
  // 09:14:03+01:00 is 08:14:03Z.
  EXPECT_TRUE(eval(R"(occurred_at == date("2026-11-20T08:14:03Z"))"));
  EXPECT_TRUE(eval(R"(occurred_at > date("2026-11-20T09:00:00+02:00"))"));
  EXPECT_FALSE(eval(R"(document.number < date("2026-01-01"))"));
}

TEST(Expression, PrecedenceIsNotThenAndThenOr) {
  EXPECT_TRUE(eval("true or false and false"));
  EXPECT_FALSE(eval("(true or false) and false"));
  EXPECT_TRUE(eval("not false and true"));
  EXPECT_FALSE(eval("not (false or true)"));
}

TEST(Expression, CompileErrorsNameTheColumn) {
  struct Case {
    std::string_view src;
    size_t column;
    std::string_view reason;
  } cases[] = {
      {"document.total >", 17, "expected a value"},
      {"document.total > 1000 and", 26, "expected a value"},
      {"document.status in 'x'", 20, "'in' takes a list"},
      {"(a == 1", 8, "expected ')'"},
      {"a == 'open", 6, "unterminated string"},
      {"a not b", 3, "expected 'in' after 'not'"},
      {"a == 1 b", 8, "unexpected 'b'"},
      {"5", 1, "a value alone"},
      {"a == date('tomorrow')", 11, "not an ISO 8601 date"},
      {"a in [b]", 7, "literals"},
      {"a..b == 1", 1, "empty segment"},
      {"a == 1.2.3", 6, "malformed number"},
      {"a == 'x\\q'", 8, "unknown escape"},
  };
  for (const auto& c : cases) {
    Expression e;
    ExpressionError err;
    EXPECT_FALSE(Expression::compile(c.src, e, err)) << c.src;
    EXPECT_EQ(err.column, c.column) << c.src << ": " << err.reason;
    EXPECT_NE(err.reason.find(c.reason), std::string::npos) << c.src << ": " << err.reason;
  }
}

TEST(Expression, IsoInstants) {
  int64_t s = 0;
  ASSERT_TRUE(parse_iso_instant("1970-01-02", s));
  EXPECT_EQ(s, 86400);
  ASSERT_TRUE(parse_iso_instant("2026-11-20T09:14:03.250+01:00", s));
  int64_t z = 0;
  ASSERT_TRUE(parse_iso_instant("2026-11-20T08:14:03Z", z));
  EXPECT_EQ(s, z);
  EXPECT_FALSE(parse_iso_instant("2026-13-01", s));
  EXPECT_FALSE(parse_iso_instant("2026-11-20T25:00", s));
  EXPECT_FALSE(parse_iso_instant("2026-11-20T09:14+0100", s));
}

}  // namespace
}  // namespace herald
