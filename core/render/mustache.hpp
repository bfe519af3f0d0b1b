#pragma once
// Mustache templates (SPEC §4): the full core spec plus inheritance
// (`{{<parent}}`, `{{$block}}`), dynamic names (`{{>*name}}`) and herald's
// formatters (`{{document.total | money}}`). Lambdas are not supported: the
// data is JSON, which has no functions.
//
// Written here rather than taken from libkainjow-mustache-dev 4.1 (Debian's
// packaged engine) because that one has neither inheritance nor dynamic
// names, and renders from its own `mustache::data` tree, so every event would
// first be copied out of boost::json. This engine compiles once into a node
// tree and renders straight from the event's JSON into a caller-owned buffer;
// rendering never fails and allocates only when the output buffer grows.
#include <boost/json/value.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/render/locale_format.hpp"

namespace herald::mustache {

struct CompileError {
  size_t line = 0;
  size_t column = 0;
  std::string reason;
};

// How interpolated values are written (literal template text is never
// altered): HTML parts escape, text parts write as is, header-bound values
// (subjects) turn CR, LF and other controls into spaces so event data can
// never add a header line.
enum class Escape : uint8_t { html, none, header };

struct Node;

class Template final {
 public:
  Template();
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Returns false and fills `error` (1-based line and column) on a malformed
  // template: unclosed or mismatched tags, bad delimiters, unknown formatters.
  static bool compile(std::string_view source, Template& out, CompileError& error);

  bool empty() const;
  // Names of the partials and parents the template names statically (not
  // `{{>*dynamic}}` ones), for resolving them and rejecting cycles at load.
  const std::vector<std::string>& partial_names() const { return partial_names_; }
  // Room render() reserves in its output: the source's length and half again
  // for what the tags become. Grown append by append, the text and HTML of
  // an e-mail were reallocated ~15 times (callgrind: ~1 400 instructions).
  size_t expected_size() const { return expected_size_; }

 private:
  friend class Renderer;
  std::vector<Node> nodes_;
  std::vector<std::string> partial_names_;
  size_t expected_size_ = 0;
};

// Where partials and parents come from (a snapshot's templates, or a test's
// map). Returns nullptr when there is no such partial (it renders as nothing).
class PartialSource {
 public:
  virtual ~PartialSource() = default;
  virtual const Template* find_partial(std::string_view name) const = 0;
};

struct RenderOptions {
  Escape escape = Escape::html;
  const PartialSource* partials = nullptr;
  const LocaleInfo* locale = nullptr;  // for formatters; en-US when null
};

// Appends the rendering of `tmpl` against `data` to `out`.
void render(const Template& tmpl, const boost::json::value& data, const RenderOptions& options, std::string& out);

}  // namespace herald::mustache
