#include "core/render/mustache.hpp"

#include <charconv>

namespace herald::mustache {

namespace json = boost::json;

struct Name {
  std::vector<std::string> parts;
  bool implicit = false;  // "."
};

enum class NodeKind : uint8_t { text, variable, section, inverted, partial, parent, block };

struct Node {
  NodeKind kind = NodeKind::text;
  bool raw = false;         // variable: {{{x}}} or {{&x}}
  bool standalone = false;  // partial/parent/block alone on its line: indentation applies
  bool dynamic = false;     // partial/parent: `*name`, resolved from the context
  std::string text;         // text; partial, parent or block name
  Name name;                // variable, section; path of a dynamic name
  std::string indent;       // partial/parent: the tag's indentation; block: its expansion indentation
  std::vector<FormatterCall> formatters;
  std::vector<Node> children;  // section/block content; a parent's overriding blocks
};

Template::Template() = default;
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
bool Template::empty() const { return nodes_.empty(); }

namespace {

enum class Tok : uint8_t { text, variable, raw, section, inverted, close, comment, partial, delimiters, parent, block };

struct Token {
  Tok type = Tok::text;
  size_t b = 0, e = 0;  // text: the range kept; tags: the trimmed content
  size_t line = 0, col = 0;
  bool removed = false;     // text dropped by a standalone line
  bool standalone = false;  // tag alone on its line (with its pair, for inheritance tags)
  int lead = -1;            // standalone tag: the token holding its line's indentation
  int match = -1;           // section-like tag ↔ its close tag
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool is_inheritance(const std::vector<Token>& t, size_t i) {
  Tok k = t[i].type;
  if (k == Tok::close) k = t[static_cast<size_t>(t[i].match)].type;
  return k == Tok::parent || k == Tok::block;
}

class Compiler {
 public:
  Compiler(std::string_view src, std::vector<std::string>& partial_names, CompileError& err)
      : src_(src), partial_names_(partial_names), err_(err) {}

  bool run(std::vector<Node>& nodes) {
    return lex() && pair() && (standalone(), true) && build(0, toks_.size(), nodes);
  }

 private:
  bool fail(size_t line, size_t col, std::string reason) {
    err_ = {line, col, std::move(reason)};
    return false;
  }
  bool fail(const Token& t, std::string reason) { return fail(t.line, t.col, std::move(reason)); }
  std::string_view content(const Token& t) const { return src_.substr(t.b, t.e - t.b); }

  void advance_to(size_t pos) {
    for (; cursor_ < pos; ++cursor_) {
      if (src_[cursor_] == '\n') {
        ++line_;
        col_ = 1;
      } else {
        ++col_;
      }
    }
  }

  void push_text(size_t b, size_t e) {
    // One token per line (ending with its '\n'), so standalone lines are runs of tokens.
    while (b < e) {
      size_t nl = src_.find('\n', b);
      size_t end = nl == std::string_view::npos || nl >= e ? e : nl + 1;
      toks_.push_back({Tok::text, b, end});
      b = end;
    }
  }

  bool lex() {
    std::string open = "{{", close = "}}";
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t at = src_.find(open, pos);
      push_text(pos, at == std::string_view::npos ? src_.size() : at);
      if (at == std::string_view::npos) break;
      advance_to(at);
      Token t;
      t.line = line_;
      t.col = col_;
      size_t p = at + open.size();
      size_t stop = std::string_view::npos, end = 0;
      char sigil = p < src_.size() ? src_[p] : '\0';
      if (sigil == '{' || sigil == '=') {
        t.type = sigil == '{' ? Tok::raw : Tok::delimiters;
        std::string closer = (sigil == '{' ? "}" : "=") + close;
        stop = src_.find(closer, p + 1);
        end = stop + closer.size();
        t.b = p + 1;
      } else {
        static constexpr std::string_view sigils = "&#^/!><$";
        static constexpr Tok types[] = {Tok::raw,     Tok::section, Tok::inverted, Tok::close,
                                        Tok::comment, Tok::partial, Tok::parent,   Tok::block};
        size_t k = sigils.find(sigil);
        t.type = k == std::string_view::npos || sigil == '\0' ? Tok::variable : types[k];
        t.b = t.type == Tok::variable ? p : p + 1;
        stop = src_.find(close, p);
        end = stop + close.size();
      }
      if (stop == std::string_view::npos) return fail(t, "unclosed tag '" + open + "'");
      t.e = stop;
      while (t.b < t.e && is_blank(src_[t.b])) ++t.b;
      while (t.e > t.b && is_blank(src_[t.e - 1])) --t.e;
      if (t.type == Tok::delimiters) {
        if (!set_delimiters(content(t), open, close)) return fail(t, "bad delimiter change '" + std::string(content(t)) + "'");
      } else if (t.type != Tok::comment && t.b == t.e) {
        return fail(t, "empty tag");
      }
      toks_.push_back(t);
      pos = end;
    }
    advance_to(src_.size());
    return true;
  }

  static bool set_delimiters(std::string_view spec, std::string& open, std::string& close) {
    size_t gap = spec.find_first_of(" \t");
    if (gap == std::string_view::npos) return false;
    size_t second = spec.find_first_not_of(" \t", gap);
    std::string_view a = spec.substr(0, gap), b = spec.substr(second);
    if (a.empty() || b.empty() || b.find_first_of(" \t=") != std::string_view::npos ||
        a.find('=') != std::string_view::npos)
      return false;
    open = a;
    close = b;
    return true;
  }

  bool pair() {
    std::vector<size_t> open;
    for (size_t i = 0; i < toks_.size(); ++i) {
      Tok k = toks_[i].type;
      if (k == Tok::section || k == Tok::inverted || k == Tok::parent || k == Tok::block) {
        open.push_back(i);
      } else if (k == Tok::close) {
        if (open.empty()) return fail(toks_[i], "'" + std::string(content(toks_[i])) + "' closes nothing");
        size_t o = open.back();
        open.pop_back();
        if (content(toks_[o]) != content(toks_[i]))
          return fail(toks_[i], "'" + std::string(content(toks_[i])) + "' closes '" + std::string(content(toks_[o])) +
                                    "' (opened at line " + std::to_string(toks_[o].line) + ")");
        toks_[o].match = static_cast<int>(i);
        toks_[i].match = static_cast<int>(o);
      }
    }
    if (!open.empty()) return fail(toks_[open.back()], "'" + std::string(content(toks_[open.back()])) + "' is never closed");
    return true;
  }

  bool text_is_blank(const Token& t) const {
    for (size_t i = t.b; i < t.e; ++i) {
      char c = src_[i];
      if (!is_blank(c) && c != '\n' && !(c == '\r' && i + 1 < t.e && src_[i + 1] == '\n')) return false;
    }
    return true;
  }

  // A line holding only whitespace and one non-interpolation tag (or an
  // adjacent run of parent/block tags) disappears from the output, keeping
  // its indentation for partials, parents and blocks (spec "standalone").
  void standalone() {
    for (size_t i = 0; i < toks_.size();) {
      size_t end = i;
      while (end < toks_.size() && !(toks_[end].type == Tok::text && src_[toks_[end].e - 1] == '\n')) ++end;
      if (end < toks_.size()) ++end;
      standalone_line(i, end);
      i = end;
    }
  }

  void standalone_line(size_t b, size_t e) {
    size_t first = b, last = e;  // the run of tags is [first, last)
    if (first < e && toks_[first].type == Tok::text) {
      if (!text_is_blank(toks_[first]) || src_[toks_[first].e - 1] == '\n') return;
      ++first;
    }
    if (last > first && toks_[last - 1].type == Tok::text) {
      if (!text_is_blank(toks_[last - 1])) return;
      --last;
    }
    if (first == last) return;
    for (size_t i = first; i < last; ++i) {
      Tok k = toks_[i].type;
      if (k == Tok::text || k == Tok::variable || k == Tok::raw) return;
      if (last - first > 1 && !is_inheritance(toks_, i)) return;
    }
    for (size_t i = first; i < last; ++i) {
      toks_[i].standalone = true;
      toks_[i].lead = first > b ? static_cast<int>(b) : -1;
    }
    if (first > b) toks_[b].removed = true;
    if (last < e) {
      Token& tail = toks_[last];
      // `{{$block}}{{/block}}` alone on a line keeps its newline (spec PR 131).
      bool keep_newline = last - first == 2 && toks_[first].type == Tok::block &&
                          toks_[first].match == static_cast<int>(first + 1);
      if (keep_newline) {
        while (tail.b < tail.e && is_blank(src_[tail.b])) ++tail.b;
      } else {
        tail.removed = true;
      }
    }
  }

  std::string_view indent_of(const Token& t) const {
    if (t.lead < 0) return {};
    return content(toks_[static_cast<size_t>(t.lead)]);
  }

  // A standalone block's content is dedented where it is defined (and
  // re-indented where it expands): strips the whitespace common to its lines
  // and returns it.
  std::string dedent(size_t b, size_t e) {
    std::vector<size_t> starts;  // first token of each non-blank line
    std::string_view common;
    bool have = false;
    for (size_t i = b; i < e;) {
      size_t end = i;
      while (end < e && !(toks_[end].type == Tok::text && src_[toks_[end].e - 1] == '\n')) ++end;
      if (end < e) ++end;
      bool blank = true;
      for (size_t k = i; k < end; ++k)
        if (toks_[k].type != Tok::text || !text_is_blank(toks_[k])) blank = false;
      if (!blank) {
        std::string_view lead;
        if (toks_[i].type == Tok::text) {
          std::string_view s = content(toks_[i]);
          size_t n = 0;
          while (n < s.size() && is_blank(s[n])) ++n;
          lead = s.substr(0, n);
        }
        if (!have) {
          common = lead;
          have = true;
        } else {
          size_t n = 0;
          while (n < common.size() && n < lead.size() && common[n] == lead[n]) ++n;
          common = common.substr(0, n);
        }
        starts.push_back(i);
      }
      i = end;
    }
    std::string removed(common);
    if (removed.empty()) return removed;
    for (size_t i : starts)
      if (toks_[i].type == Tok::text) toks_[i].b += removed.size();
    return removed;
  }

  bool parse_name(const Token& t, std::string_view s, Name& name) {
    if (s == ".") {
      name.implicit = true;
      return true;
    }
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i < s.size() && s[i] != '.') continue;
      if (i == start) return fail(t, "empty segment in name '" + std::string(s) + "'");
      name.parts.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
    return true;
  }

  bool parse_variable(const Token& t, Node& node) {
    std::string_view s = content(t);
    size_t bar = s.find('|');
    std::string_view name = s.substr(0, bar);
    while (!name.empty() && is_blank(name.back())) name.remove_suffix(1);
    if (name.empty()) return fail(t, "empty name before '|'");
    if (!parse_name(t, name, node.name)) return false;
    while (bar != std::string_view::npos) {
      size_t next = s.find('|', bar + 1);
      std::string_view spec = s.substr(bar + 1, next == std::string_view::npos ? std::string_view::npos : next - bar - 1);
      while (!spec.empty() && is_blank(spec.front())) spec.remove_prefix(1);
      while (!spec.empty() && is_blank(spec.back())) spec.remove_suffix(1);
      std::string reason;
      auto call = parse_formatter(spec, reason);
      if (!call) return fail(t, reason);
      node.formatters.push_back(std::move(*call));
      bar = next;
    }
    return true;
  }

  // `name` or `*path` (dynamic).
  bool parse_target(const Token& t, Node& node) {
    std::string_view s = content(t);
    if (s.front() == '*') {
      node.dynamic = true;
      s.remove_prefix(1);
      while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
      if (s.empty()) return fail(t, "empty dynamic name");
      return parse_name(t, s, node.name);
    }
    node.text = s;
    partial_names_.emplace_back(s);
    return true;
  }

  bool build(size_t b, size_t e, std::vector<Node>& nodes) {
    for (size_t i = b; i < e; ++i) {
      Token& t = toks_[i];
      Node node;
      switch (t.type) {
        case Tok::text:
          if (t.removed || t.b == t.e) continue;
          if (!nodes.empty() && nodes.back().kind == NodeKind::text) {
            nodes.back().text += content(t);
            continue;
          }
          node.text = content(t);
          break;
        case Tok::variable:
        case Tok::raw:
          node.kind = NodeKind::variable;
          node.raw = t.type == Tok::raw;
          if (!parse_variable(t, node)) return false;
          break;
        case Tok::section:
        case Tok::inverted:
          node.kind = t.type == Tok::section ? NodeKind::section : NodeKind::inverted;
          if (!parse_name(t, content(t), node.name)) return false;
          if (!build(i + 1, static_cast<size_t>(t.match), node.children)) return false;
          i = static_cast<size_t>(t.match);
          break;
        case Tok::block: {
          node.kind = NodeKind::block;
          node.text = content(t);
          node.standalone = t.standalone;
          if (t.standalone) {
            std::string intrinsic = dedent(i + 1, static_cast<size_t>(t.match));
            node.indent = intrinsic.empty() ? std::string(indent_of(t)) : std::move(intrinsic);
          }
          if (!build(i + 1, static_cast<size_t>(t.match), node.children)) return false;
          i = static_cast<size_t>(t.match);
          break;
        }
        case Tok::parent: {
          node.kind = NodeKind::parent;
          node.standalone = t.standalone;
          node.indent = indent_of(t);
          if (!parse_target(t, node)) return false;
          std::vector<Node> inside;
          if (!build(i + 1, static_cast<size_t>(t.match), inside)) return false;
          for (auto& n : inside)  // only the blocks matter; other text is ignored
            if (n.kind == NodeKind::block) node.children.push_back(std::move(n));
          i = static_cast<size_t>(t.match);
          break;
        }
        case Tok::partial:
          node.kind = NodeKind::partial;
          node.standalone = t.standalone;
          node.indent = indent_of(t);
          if (!parse_target(t, node)) return false;
          break;
        case Tok::comment:
        case Tok::delimiters:
        case Tok::close: continue;
      }
      nodes.push_back(std::move(node));
    }
    return true;
  }

  std::string_view src_;
  std::vector<std::string>& partial_names_;
  CompileError& err_;
  std::vector<Token> toks_;
  size_t cursor_ = 0, line_ = 1, col_ = 1;
};

bool falsy(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return true;
    case json::kind::bool_: return !v.get_bool();
    case json::kind::array: return v.get_array().empty();
    case json::kind::string: return v.get_string().empty();
    default: return false;
  }
}

}  // namespace

bool Template::compile(std::string_view source, Template& out, CompileError& error) {
  Template t;
  Compiler c(source, t.partial_names_, error);
  if (!c.run(t.nodes_)) return false;
  t.expected_size_ = source.size() + source.size() / 2;
  out = std::move(t);
  return true;
}

class Renderer final {
 public:
  Renderer(const RenderOptions& options, std::string& out)
      : opt_(options), out_(out), locale_(options.locale ? *options.locale : default_locale()) {}

  void run(const Template& t, const json::value& data) {
    stack_[depth_++] = &data;
    nodes(t.nodes_);
  }

 private:
  // Bounds for hostile or recursive templates: deeper content renders as nothing.
  static constexpr size_t kMaxStack = 128;
  static constexpr size_t kMaxFrames = 64;
  static constexpr int kMaxNesting = 64;

  void nodes(const std::vector<Node>& list) {
    for (const auto& n : list) node(n);
  }

  void node(const Node& n) {
    switch (n.kind) {
      case NodeKind::text: text(n.text); break;
      case NodeKind::variable: variable(n); break;
      case NodeKind::section: section(n); break;
      case NodeKind::inverted: {
        const json::value* v = lookup(n.name, nullptr);
        if (!v || falsy(*v)) nodes(n.children);
        break;
      }
      case NodeKind::partial:
      case NodeKind::parent: partial(n); break;
      case NodeKind::block: block(n); break;
    }
  }

  const json::value* lookup(const Name& name, const json::object** parent) const {
    if (name.implicit) return stack_[depth_ - 1];
    const json::value* v = nullptr;
    const json::object* in = nullptr;
    for (size_t i = depth_; i-- > 0;) {
      if (const auto* o = stack_[i]->if_object()) {
        if ((v = o->if_contains(name.parts[0]))) {
          in = o;
          break;
        }
      }
    }
    for (size_t k = 1; v && k < name.parts.size(); ++k) {
      const std::string& part = name.parts[k];
      if (const auto* o = v->if_object()) {
        in = o;
        v = o->if_contains(part);
      } else if (const auto* a = v->if_array()) {
        size_t idx = 0;
        auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
        v = r.ec == std::errc() && r.ptr == part.data() + part.size() && idx < a->size() ? &(*a)[idx] : nullptr;
        in = nullptr;
      } else {
        v = nullptr;
      }
    }
    if (parent) *parent = in;
    return v;
  }

  void flush_indent() {
    if (!pending_) return;
    pending_ = false;
    if (indent_from_ < indent_.size()) out_.append(indent_, indent_from_);
  }

  void text(std::string_view s) {
    if (indent_from_ == indent_.size()) {
      out_.append(s);
      pending_ = s.back() == '\n';
      return;
    }
    for (size_t pos = 0; pos < s.size();) {
      size_t nl = s.find('\n', pos);
      size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
      if (pending_) {
        pending_ = false;
        bool empty_line = s[pos] == '\n' || (s[pos] == '\r' && pos + 1 < s.size() && s[pos + 1] == '\n');
        if (!empty_line) out_.append(indent_, indent_from_);
      }
      out_.append(s.substr(pos, end - pos));
      pending_ = nl != std::string_view::npos;
      pos = end;
    }
  }

  void variable(const Node& n) {
    flush_indent();
    const json::object* parent = nullptr;
    const json::value* v = lookup(n.name, &parent);
    if (!v) return;
    char buf[32];
    std::string_view s;
    switch (v->kind()) {
      case json::kind::string: s = v->get_string(); break;
      case json::kind::int64: s = {buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v->get_int64()).ptr - buf)}; break;
      case json::kind::uint64: s = {buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v->get_uint64()).ptr - buf)}; break;
      case json::kind::double_: s = {buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v->get_double()).ptr - buf)}; break;
      case json::kind::bool_: s = v->get_bool() ? "true" : "false"; break;
      default: return;  // null, objects and arrays render as nothing
    }
    if (!n.formatters.empty()) {
      std::string_view currency;
      if (parent)
        if (const auto* c = parent->if_contains("currency"); c && c->is_string()) currency = c->get_string();
      for (const auto& f : n.formatters) {
        std::string& dst = (&f == &n.formatters.front() || s.data() != scratch_[0].data()) ? scratch_[0] : scratch_[1];
        dst.clear();
        apply_formatter(f, s, currency, locale_, dst);
        s = dst;
      }
    }
    Escape e = opt_.escape;
    if (n.raw && e == Escape::html) e = Escape::none;  // header safety is never switched off
    write(s, e);
  }

  void write(std::string_view s, Escape e) {
    if (e == Escape::none) {
      out_.append(s);
      return;
    }
    size_t run = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      auto c = static_cast<unsigned char>(s[i]);
      std::string_view rep;
      if (e == Escape::html) {
        switch (c) {
          case '&': rep = "&amp;"; break;
          case '<': rep = "&lt;"; break;
          case '>': rep = "&gt;"; break;
          case '"': rep = "&quot;"; break;
          case '\'': rep = "&#39;"; break;
          default: continue;
        }
      } else {
        if (c >= 0x20 && c != 0x7f) continue;
        rep = " ";
      }
      out_.append(s.substr(run, i - run));
      out_.append(rep);
      run = i + 1;
    }
    out_.append(s.substr(run));
  }

  void section(const Node& n) {
    const json::value* v = lookup(n.name, nullptr);
    if (!v || falsy(*v) || depth_ == kMaxStack) return;
    if (const auto* a = v->if_array()) {
      for (const auto& item : *a) {
        stack_[depth_++] = &item;
        nodes(n.children);
        --depth_;
      }
      return;
    }
    stack_[depth_++] = v;
    nodes(n.children);
    --depth_;
  }

  void partial(const Node& n) {
    std::string_view name = n.text;
    if (n.dynamic) {
      const json::value* v = lookup(n.name, nullptr);
      if (!v || !v->is_string()) return;
      name = v->get_string();
    }
    const Template* t = opt_.partials ? opt_.partials->find_partial(name) : nullptr;
    if (!t || nesting_ >= kMaxNesting) return;
    const bool parent = n.kind == NodeKind::parent;
    if (parent && frames_n_ == kMaxFrames) return;
    if (parent) frames_[frames_n_++] = &n;
    ++nesting_;
    indented(n, [&] { nodes(t->nodes_); });
    --nesting_;
    if (parent) --frames_n_;
  }

  // Standalone partials, parents and blocks indent every line they produce;
  // inline ones insert their content as is (the spec's textual rule).
  template <class F>
  void indented(const Node& n, F&& body) {
    if (n.standalone) {
      size_t saved = indent_.size();
      indent_ += n.indent;
      pending_ = true;
      body();
      indent_.resize(saved);
    } else if (n.kind == NodeKind::block) {
      body();
    } else {
      flush_indent();
      size_t saved = indent_from_;
      indent_from_ = indent_.size();
      body();
      indent_from_ = saved;
    }
  }

  void block(const Node& n) {
    // The outermost override wins (spec: top-level substitutions take precedence).
    const Node* content = &n;
    for (size_t f = 0; f < frames_n_ && content == &n; ++f) {
      for (const auto& b : frames_[f]->children) {
        if (b.text == n.text) {
          content = &b;
          break;
        }
      }
    }
    indented(n, [&] { nodes(content->children); });
  }

  const RenderOptions& opt_;
  std::string& out_;
  const LocaleInfo& locale_;
  const json::value* stack_[kMaxStack];
  size_t depth_ = 0;
  const Node* frames_[kMaxFrames];
  size_t frames_n_ = 0;
  int nesting_ = 0;
  std::string indent_;
  size_t indent_from_ = 0;
  bool pending_ = false;
  std::string scratch_[2];
};

void render(const Template& tmpl, const json::value& data, const RenderOptions& options, std::string& out) {
  out.reserve(out.size() + tmpl.expected_size());
  Renderer(options, out).run(tmpl, data);
}

}  // namespace herald::mustache
