// The official Mustache spec suite (../shared/testdata/mustache-spec/, read at
// test time, never copied), plus herald's own rules: escaping modes,
// formatters, compile errors and hostile recursion.
#include "core/render/mustache.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace herald::mustache {
namespace {

namespace json = boost::json;

std::filesystem::path spec_dir() {
  if (const char* env = std::getenv("HERALD_TESTDATA")) return std::filesystem::path(env) / "mustache-spec";
  return std::filesystem::path(HERALD_SOURCE_DIR) / ".." / "shared" / "testdata" / "mustache-spec";
}

class MapPartials final : public PartialSource {
 public:
  std::map<std::string, Template, std::less<>> templates;
  const Template* find_partial(std::string_view name) const override {
    auto it = templates.find(name);
    return it == templates.end() ? nullptr : &it->second;
  }
};

Template compiled(std::string_view src) {
  Template t;
  CompileError err;
  EXPECT_TRUE(Template::compile(src, t, err)) << src << ": " << err.line << ":" << err.column << " " << err.reason;
  return t;
}

std::string render_with(std::string_view src, const json::value& data, RenderOptions opt = {},
                        const MapPartials* partials = nullptr) {
  opt.partials = partials;
  std::string out;
  render(compiled(src), data, opt, out);
  return out;
}

void run_spec_file(const std::string& file) {
  auto path = spec_dir() / file;
  if (!std::filesystem::exists(spec_dir())) GTEST_SKIP() << "no spec suite at " << spec_dir();
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  json::value doc = json::parse(ss.str());
  const auto& tests = doc.at("tests").as_array();
  ASSERT_FALSE(tests.empty());
  for (const auto& tv : tests) {
    const auto& t = tv.as_object();
    SCOPED_TRACE(file + ": " + std::string(t.at("name").as_string()));
    MapPartials partials;
    if (const auto* p = t.if_contains("partials")) {
      for (const auto& [name, src] : p->as_object()) partials.templates.emplace(name, compiled(src.as_string()));
    }
    std::string out = render_with(t.at("template").as_string(), t.at("data"), {}, &partials);
    EXPECT_EQ(out, std::string(t.at("expected").as_string())) << "template: " << t.at("template").as_string();
  }
}

TEST(MustacheSpec, Comments) { run_spec_file("comments.json"); }
TEST(MustacheSpec, Delimiters) { run_spec_file("delimiters.json"); }
TEST(MustacheSpec, Interpolation) { run_spec_file("interpolation.json"); }
TEST(MustacheSpec, Inverted) { run_spec_file("inverted.json"); }
TEST(MustacheSpec, Partials) { run_spec_file("partials.json"); }
TEST(MustacheSpec, Sections) { run_spec_file("sections.json"); }
TEST(MustacheSpec, Inheritance) { run_spec_file("~inheritance.json"); }
TEST(MustacheSpec, DynamicNames) { run_spec_file("~dynamic-names.json"); }

TEST(Mustache, HeaderEscapingRemovesLineBreaksEvenInTripleMustache) {
  json::value data = {{"s", "Invoice\r\nBcc: victim@example.com"}};
  RenderOptions opt;
  opt.escape = Escape::header;
  EXPECT_EQ(render_with("Re: {{s}}", data, opt), "Re: Invoice  Bcc: victim@example.com");
  EXPECT_EQ(render_with("Re: {{{s}}}", data, opt), "Re: Invoice  Bcc: victim@example.com");
  EXPECT_EQ(render_with("Re: {{&s}}", data, opt), "Re: Invoice  Bcc: victim@example.com");
  // Literal template text is the author's, not event data: kept.
  EXPECT_EQ(render_with("a\tb", data, opt), "a\tb");
}

TEST(Mustache, TextModeWritesValuesVerbatimAndHtmlModeEscapes) {
  json::value data = {{"s", "<b>\"Kováč\" & 'syn'</b>"}};
  RenderOptions text;
  text.escape = Escape::none;
  EXPECT_EQ(render_with("{{s}}", data, text), "<b>\"Kováč\" & 'syn'</b>");
  EXPECT_EQ(render_with("{{s}}", data), "&lt;b&gt;&quot;Kováč&quot; &amp; &#39;syn&#39;&lt;/b&gt;");
  EXPECT_EQ(render_with("{{{s}}}", data), "<b>\"Kováč\" & 'syn'</b>");
}

TEST(Mustache, EmptyStringIsFalseyAndArrayIndexesResolve) {
  json::value data = {{"name", ""}, {"items", json::array{json::object{{"n", "first"}}}}};
  EXPECT_EQ(render_with("{{#name}}Dear {{name}}{{/name}}{{^name}}Hello{{/name}}", data), "Hello");
  EXPECT_EQ(render_with("{{items.0.n}}|{{items.1.n}}|{{items.x}}", data), "first||");
}

TEST(Mustache, FormattersFollowTheLocale) {
  json::value data = {{"document", {{"total", "1249.905"}, {"currency", "EUR"}, {"due_date", "2026-12-04"}}},
                      {"at", "2026-11-20T09:14:03+01:00"},
                      {"n", 1234567.5},
                      {"name", "Žofia Šťastná-Łęcka"}};
  auto in = [&](std::string_view tag, std::string_view tmpl) {
    RenderOptions opt;
    opt.escape = Escape::none;
    opt.locale = find_locale(tag);
    EXPECT_NE(opt.locale, nullptr) << tag;
    return render_with(tmpl, data, opt);
  };
  const std::string nb = "\xC2\xA0";
  EXPECT_EQ(in("sk-SK", "{{document.total | money}}"), "1" + nb + "249,91" + nb + "€");
  EXPECT_EQ(in("cs-CZ", "{{document.total | money:CZK}}"), "1" + nb + "249,91" + nb + "Kč");
  EXPECT_EQ(in("pl-PL", "{{document.total | money:PLN}}"), "1249,91" + nb + "zł");  // grouping from 5 digits
  EXPECT_EQ(in("pl-PL", "{{n | number:2}}"), "1" + nb + "234" + nb + "567,50");
  EXPECT_EQ(in("de-DE", "{{document.total | money}}"), "1.249,91" + nb + "€");
  EXPECT_EQ(in("en-US", "{{document.total | money:USD}}"), "$1,249.91");
  EXPECT_EQ(in("en-US", "{{document.total | money}}"), "€1,249.91");
  EXPECT_EQ(in("sk-SK", "{{document.due_date | date}}"), "4. 12. 2026");
  EXPECT_EQ(in("cs-CZ", "{{at | datetime}}"), "20. 11. 2026 9:14");
  EXPECT_EQ(in("pl-PL", "{{document.due_date | date}}"), "04.12.2026");
  EXPECT_EQ(in("de-DE", "{{at | datetime}}"), "20.11.2026 09:14");
  EXPECT_EQ(in("en-US", "{{at | datetime}}"), "11/20/2026 9:14 AM");
  EXPECT_EQ(in("sk", "{{name | upper}}"), "ŽOFIA ŠŤASTNÁ-ŁĘCKA");
  EXPECT_EQ(in("de", "{{name | upper | lower}}"), "žofia šťastná-łęcka");
  EXPECT_EQ(in("en-US", "{{name | money}}"), "Žofia Šťastná-Łęcka");  // not a number: unchanged
  EXPECT_EQ(in("sk-SK", "{{document.total | money:EUR | upper}}"), "1" + nb + "249,91" + nb + "€");
}

TEST(Mustache, MoneyRoundsHalfAwayFromZeroWithoutFloatingPoint) {
  const LocaleInfo& en = *find_locale("en-US");
  auto money = [&](std::string_view v) {
    std::string out;
    apply_formatter({Formatter::money, ""}, v, "", en, out);
    return out;
  };
  EXPECT_EQ(money("0.005"), "0.01");
  EXPECT_EQ(money("999.995"), "1,000.00");
  EXPECT_EQ(money("-0.004"), "0.00");
  EXPECT_EQ(money("-1234.5"), "-1,234.50");
  EXPECT_EQ(money("0012"), "12.00");
  EXPECT_EQ(money("1e3"), "1e3");
}

TEST(Mustache, CompileErrorsCarryLineAndColumn) {
  struct Case {
    std::string_view src;
    size_t line, column;
    std::string_view reason;
  } cases[] = {
      {"Hello {{name", 1, 7, "unclosed tag"},
      {"a\n  {{#s}}x", 2, 3, "never closed"},
      {"{{#a}}\n{{/b}}", 2, 1, "closes 'a'"},
      {"x {{/a}}", 1, 3, "closes nothing"},
      {"{{total | cash}}", 1, 1, "unknown formatter 'cash'"},
      {"{{total | money:euro}}", 1, 1, "bad argument"},
      {"{{= | =}}", 1, 1, "bad delimiter"},
      {"{{ }}", 1, 1, "empty tag"},
      {"{{a..b}}", 1, 1, "empty segment"},
  };
  for (const auto& c : cases) {
    Template t;
    CompileError err;
    EXPECT_FALSE(Template::compile(c.src, t, err)) << c.src;
    EXPECT_EQ(err.line, c.line) << c.src;
    EXPECT_EQ(err.column, c.column) << c.src;
    EXPECT_NE(err.reason.find(c.reason), std::string::npos) << c.src << ": " << err.reason;
  }
}

TEST(Mustache, UnboundedRecursionStopsInsteadOfOverflowing) {
  MapPartials partials;
  partials.templates.emplace("loop", compiled("x{{>loop}}"));
  partials.templates.emplace("p", compiled("{{<p}}{{/p}}"));
  std::string out = render_with("{{>loop}}", json::object{}, {}, &partials);
  EXPECT_EQ(out, std::string(64, 'x'));
  EXPECT_EQ(render_with("{{<p}}{{/p}}", json::object{}, {}, &partials), "");
  // Deeply nested data stops at the context-stack bound.
  json::value deep = json::object{};
  for (int i = 0; i < 300; ++i) deep = json::object{{"a", deep}, {"v", "1"}};
  std::string tmpl;
  for (int i = 0; i < 300; ++i) tmpl += "{{#a}}";
  tmpl += "{{v}}";
  for (int i = 0; i < 300; ++i) tmpl += "{{/a}}";
  EXPECT_EQ(render_with(tmpl, deep), "");
}

TEST(Mustache, StaticPartialNamesAreListed) {
  Template t = compiled("{{>a}}{{<b}}{{$x}}{{>c}}{{/x}}{{/b}}{{>*dyn}}");
  EXPECT_EQ(t.partial_names(), (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace herald::mustache
