#include "core/render/field_template.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace herald {
namespace {

boost::json::object ctx() {
  return boost::json::parse(R"({"document": {"number": "FV-1", "total": "10.50", "lines": [{"sku": "A"}]},
                                "n": 42, "f": 2.5, "b": true, "z": null, "partner": {"name": "Kováč"}})")
      .as_object();
}

std::string render(const std::string& src) {
  FieldTemplate t;
  TemplateError err;
  EXPECT_TRUE(FieldTemplate::compile(src, t, err)) << err.reason;
  return t.render(ctx());
}

TEST(FieldTemplateTest, SubstitutesPaths) {
  EXPECT_EQ(render("Faktúra {{document.number}} pre {{ partner.name }}"), "Faktúra FV-1 pre Kováč");
  EXPECT_EQ(render("{{n}}/{{f}}/{{b}}/{{z}}"), "42/2.5/true/");
  EXPECT_EQ(render("{{document.lines.0.sku}}"), "A");
  EXPECT_EQ(render("[{{missing.path}}]"), "[]");
  EXPECT_EQ(render("no fields"), "no fields");
  EXPECT_EQ(render(""), "");
}

TEST(FieldTemplateTest, DataIsNeverReinterpretedAsTemplate) {
  auto c = boost::json::parse(R"({"v": "{{secret}}", "secret": "x"})").as_object();
  FieldTemplate t;
  TemplateError err;
  ASSERT_TRUE(FieldTemplate::compile("{{v}}", t, err));
  EXPECT_EQ(t.render(c), "{{secret}}");
}

TEST(FieldTemplateTest, CompileErrorsCarryLineAndColumn) {
  FieldTemplate t;
  TemplateError err;
  EXPECT_FALSE(FieldTemplate::compile("a\nbc {{x", t, err));
  EXPECT_EQ(err.line, 2u);
  EXPECT_EQ(err.column, 4u);
  EXPECT_FALSE(FieldTemplate::compile("{{ }}", t, err));
  EXPECT_FALSE(FieldTemplate::compile("{{a..b}}", t, err));
  EXPECT_FALSE(FieldTemplate::compile("{{#section}}", t, err));
  EXPECT_NE(err.reason.find("unsupported character '#'"), std::string::npos);
}

}  // namespace
}  // namespace herald
