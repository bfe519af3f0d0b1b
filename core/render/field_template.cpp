#include "core/render/field_template.hpp"

#include <charconv>

namespace herald {

bool FieldTemplate::compile(std::string_view src, FieldTemplate& out, TemplateError& error) {
  out.segments_.clear();
  size_t line = 1, col = 1;
  auto advance = [&](std::string_view s) {
    for (char c : s) {
      if (c == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  };
  size_t pos = 0;
  while (pos < src.size()) {
    size_t open = src.find("{{", pos);
    if (open == std::string_view::npos) {
      out.segments_.push_back({false, std::string(src.substr(pos)), {}});
      break;
    }
    if (open > pos) {
      out.segments_.push_back({false, std::string(src.substr(pos, open - pos)), {}});
      advance(src.substr(pos, open - pos));
    }
    size_t close = src.find("}}", open + 2);
    if (close == std::string_view::npos) {
      error = {line, col, "unclosed '{{'"};
      return false;
    }
    std::string_view inner = src.substr(open + 2, close - open - 2);
    size_t lead = inner.find_first_not_of(" \t");
    size_t trail = inner.find_last_not_of(" \t");
    std::string_view path = lead == std::string_view::npos ? std::string_view{} : inner.substr(lead, trail - lead + 1);
    if (path.empty()) {
      error = {line, col, "empty placeholder '{{}}'"};
      return false;
    }
    Segment seg{true, std::string(path), {}};
    size_t start = 0;
    for (size_t i = 0; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '.') {
        if (i == start) {
          error = {line, col, "empty segment in path '" + std::string(path) + "'"};
          return false;
        }
        seg.parts.emplace_back(path.substr(start, i - start));
        start = i + 1;
        continue;
      }
      char c = path[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (!ok) {
        error = {line, col + 2 + lead + i,
                 "unsupported character '" + std::string(1, c) + "' in placeholder (expected {{dotted.path}})"};
        return false;
      }
    }
    out.segments_.push_back(std::move(seg));
    advance(src.substr(open, close + 2 - open));
    pos = close + 2;
  }
  return true;
}

const boost::json::value* lookup_path(const boost::json::object& root, const std::vector<std::string>& parts) {
  const boost::json::value* cur = nullptr;
  const boost::json::object* obj = &root;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& part = parts[i];
    if (obj) {
      cur = obj->if_contains(part);
    } else if (cur && cur->is_array()) {
      size_t idx = 0;
      auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (r.ec != std::errc() || r.ptr != part.data() + part.size()) return nullptr;
      const auto& arr = cur->get_array();
      cur = idx < arr.size() ? &arr[idx] : nullptr;
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
    obj = cur->if_object();
  }
  return cur;
}

void append_scalar(const boost::json::value& v, std::string& out) {
  char buf[64];
  switch (v.kind()) {
    case boost::json::kind::string: out.append(v.get_string().data(), v.get_string().size()); break;
    case boost::json::kind::int64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      out.append(buf, r.ptr);
      break;
    }
    case boost::json::kind::uint64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      out.append(buf, r.ptr);
      break;
    }
    case boost::json::kind::double_: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_double());
      out.append(buf, r.ptr);
      break;
    }
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    default: break;  // null, objects and arrays render as nothing
  }
}

void FieldTemplate::render(const boost::json::object& context, std::string& out) const {
  for (const auto& seg : segments_) {
    if (!seg.is_path) {
      out += seg.text;
    } else if (const auto* v = lookup_path(context, seg.parts)) {
      append_scalar(*v, out);
    }
  }
}

}  // namespace herald
