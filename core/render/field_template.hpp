#pragma once
// FieldTemplate: text with {{dotted.path}} placeholders, compiled once at load.
//
// This is the foundation's template language; the rules/templates work
// replaces it with the full Mustache engine behind the same compile/render
// split (compile errors carry line:column; render never fails and writes into
// a caller-owned buffer). Values are inserted raw: text parts are not HTML, and
// header-bound values are sanitized by the MIME layer.
#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace herald {

struct TemplateError {
  size_t line = 0;
  size_t column = 0;
  std::string reason;
};

class FieldTemplate final {
 public:
  FieldTemplate() = default;

  // Returns false and fills `error` on a malformed template.
  static bool compile(std::string_view source, FieldTemplate& out, TemplateError& error);

  // Appends the rendering to `out`. Missing paths render as nothing.
  void render(const boost::json::object& context, std::string& out) const;
  std::string render(const boost::json::object& context) const {
    std::string s;
    render(context, s);
    return s;
  }

  bool empty() const { return segments_.empty(); }

 private:
  struct Segment {
    bool is_path;
    std::string text;                // literal text, or the path as written
    std::vector<std::string> parts;  // path split on '.'
  };
  std::vector<Segment> segments_;
};

// Looks up "a.b.0.c" in a JSON object; nullptr when absent.
const boost::json::value* lookup_path(const boost::json::object& root, const std::vector<std::string>& parts);
// Appends a scalar as text (strings raw, numbers shortest form, bools true/false).
void append_scalar(const boost::json::value& v, std::string& out);

}  // namespace herald
