#include "core/ingest/event_decoder.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "core/util/base64.hpp"
#include "core/util/log.hpp"
#include "core/util/utf8.hpp"

namespace herald {
namespace {

constexpr size_t kMaxErrors = 100;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool all_digits(std::string_view s) {
  for (char c : s)
    if (!is_digit(c)) return false;
  return !s.empty();
}

// The value of `n` ASCII digits at `p`, or -1 if any is not a digit. By
// hand: the timestamp and date checks run on every event, and from_chars
// with its overflow handling cost ~900 instructions per timestamp.
int digits(const char* p, int n) {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (!is_digit(p[i])) return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

// An upper bound on the NDJSON lines in `body`, to reserve the events once.
// memchr, not std::count: this ran byte by byte over every batch (~5
// instructions per byte, 8 % of NDJSON ingest).
size_t count_lines(std::string_view body) {
  size_t n = 1;
  for (const char *p = body.data(), *end = p + body.size();
       (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)))) != nullptr; ++p)
    ++n;
  return n;
}

bool valid_ymd(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const int y = digits(s.data(), 4), m = digits(s.data() + 5, 2), d = digits(s.data() + 8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int max = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  return d <= max;
}

}  // namespace

bool is_valid_event_id(std::string_view s, size_t max_bytes) {
  if (s.empty() || s.size() > max_bytes) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E) return false;
  }
  return true;
}

namespace {
// Bytes allowed in an event type: 1 for letters, digits, '_' and '-'; 2 for
// '.'. A table, not a chain of range tests: every event's type is checked.
constexpr std::array<uint8_t, 256> kTypeBytes = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[size_t(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  t['.'] = 2;
  return t;
}();
}  // namespace

bool is_valid_event_type(std::string_view s) {
  if (s.empty() || s.size() > 128 || s.front() == '.' || s.back() == '.') return false;
  uint8_t prev = 0;
  for (char c : s) {
    const uint8_t k = kTypeBytes[static_cast<unsigned char>(c)];
    if (k == 0 || (k & prev & 2)) return false;  // not allowed, or a second '.' in a row
    prev = k;
  }
  return true;
}

bool is_valid_date(std::string_view s) { return valid_ymd(s); }

bool is_valid_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (s.size() < 20 || !valid_ymd(s.substr(0, 10))) return false;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
  auto t = s.substr(11);
  if (t.size() < 9 || t[2] != ':' || t[5] != ':') return false;
  const int hh = digits(t.data(), 2), mm = digits(t.data() + 3, 2), ss = digits(t.data() + 6, 2);
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return false;
  size_t i = 8;
  if (i < t.size() && t[i] == '.') {
    size_t start = ++i;
    while (i < t.size() && is_digit(t[i])) ++i;
    if (i == start || i - start > 9) return false;
  }
  auto zone = t.substr(i);
  if (zone == "Z" || zone == "z") return true;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return false;
  const int zh = digits(zone.data() + 1, 2), zm = digits(zone.data() + 4, 2);
  return zh >= 0 && zh <= 23 && zm >= 0 && zm <= 59;
}

bool is_valid_email_address(std::string_view s) {
  // addr-spec with a dot-atom local part and an ASCII domain: the subset that
  // is safe in an SMTP envelope without quoting (no <, >, CR, LF, spaces).
  if (s.size() < 3 || s.size() > 254) return false;
  auto at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == s.size()) return false;
  auto local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.size() > 64 || local.front() == '.' || local.back() == '.') return false;
  static constexpr std::string_view kAtext = "!#$%&'*+-/=?^_`{|}~.";
  char prev = 0;
  for (char c : local) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || kAtext.find(c) != kAtext.npos;
    if (!ok || (c == '.' && prev == '.')) return false;
    prev = c;
  }
  if (domain.front() == '.' || domain.back() == '.' || domain.front() == '-') return false;
  prev = 0;
  for (char c : domain) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.';
    if (!ok || (c == '.' && prev == '.')) return false;
    prev = c;
  }
  return true;
}

bool is_valid_phone(std::string_view s) {
  // E.164 with optional readability separators, as ERPs store it.
  if (s.empty() || s.size() > 32) return false;
  size_t digits = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (is_digit(c)) ++digits;
    else if (c == '+' && i == 0) continue;
    else if (c != ' ' && c != '-' && c != '(' && c != ')') return false;
  }
  return digits >= 3 && digits <= 15;
}

bool is_valid_locale(std::string_view s) {
  // BCP 47 shape: letters/digits in 1–8 char subtags separated by '-'.
  if (s.size() < 2 || s.size() > 35) return false;
  size_t run = 0;
  for (char c : s) {
    if (c == '-') {
      if (run == 0) return false;
      run = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) {
      if (++run > 8) return false;
    } else {
      return false;
    }
  }
  return run > 0;
}

static_assert(kDecoderPadding >= simdjson::SIMDJSON_PADDING);

struct EventDecoder::Impl {
  simdjson::dom::parser parser;
  // simdjson reads up to SIMDJSON_PADDING bytes past the end, which a body
  // without `padded` (a Redis entry, a replayed event) does not guarantee:
  // such bodies are copied here, into a buffer reused across calls (a
  // padded_string allocated per body before). HTTP bodies come padded.
  std::vector<char> padded;
  std::string_view pad(std::string_view body) {
    // One huge body must not pin its buffer for the connection's lifetime.
    if (padded.capacity() > (1u << 20) && body.size() < padded.capacity() / 4) std::vector<char>().swap(padded);
    padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(padded.data(), body.data(), body.size());
    std::memset(padded.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    return {padded.data(), body.size()};
  }
};

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// A field's dotted path ("actor.email"), spelled out only when an error names
// it: valid events (nearly all of them) pass every field without building a
// path string (that was a dozen allocations per event on the ingest path).
struct FieldPath {
  std::string_view parent;  // "" at the top level
  std::string_view key;
  FieldPath(const char* k) : key(k) {}  // NOLINT: a top-level key
  FieldPath(std::string_view p, std::string_view k) : parent(p), key(k) {}
  std::string str() const {
    std::string out(parent);
    if (!out.empty()) out += '.';
    out += key;
    return out;
  }
};

// Validates one event object; appends FieldErrors; fills `out` when valid.
class EventValidator {
 public:
  EventValidator(const DecoderLimits& limits, size_t index, std::vector<FieldError>& errors)
      : limits_(limits), index_(index), errors_(errors) {}

  // `out` may be an event given back for reuse (EventRecycler): every
  // field is reset here or when its key is seen, and a part this event
  // lacks is dropped at the end, so nothing of the earlier event is left.
  void validate(element root, DocumentEvent& out) {
    out.id.clear();
    out.type.clear();
    out.occurred_at.clear();
    out.tenant.assign("default");
    out.data.clear();
    out.json.clear();
    out.json_view = {};
    if (root.type() != element_type::OBJECT) {
      fail("", "event must be a JSON object");
      return;
    }
    bool has_id = false, has_type = false, has_at = false;
    std::array<bool, kTopKeys.size()> seen{};
    for (auto [key, value] : simdjson::dom::object(root)) {
      const size_t k = top_key(key);
      if (k == kTopKeys.size()) {
        fail(std::string(key), "unknown field");
        continue;
      }
      if (seen[k]) {
        fail(std::string(key), "duplicate field");
        continue;
      }
      seen[k] = true;
      switch (k) {
        case 0:
          has_id = true;
          if (string_field(value, "id", out.id) && !is_valid_event_id(out.id, limits_.max_id_bytes))
            fail("id", "must be 1-" + std::to_string(limits_.max_id_bytes) + " printable ASCII characters");
          break;
        case 1:
          has_type = true;
          if (string_field(value, "type", out.type) && !is_valid_event_type(out.type))
            fail("type", "must be dotted words of letters, digits, '_' or '-' (max 128)");
          break;
        case 2:
          has_at = true;
          if (string_field(value, "occurred_at", out.occurred_at) && !is_valid_rfc3339(out.occurred_at))
            fail("occurred_at", "must be an RFC 3339 timestamp with offset");
          break;
        case 3:
          if (string_field(value, "tenant", out.tenant) && !valid_tenant(out.tenant))
            fail("tenant", "must be 1-64 characters of letters, digits, '_' or '-'");
          break;
        // Filled in place: returning a Party or Document by value cost a move
        // of five to nine strings per object.
        case 4: party(value, "actor", out.actor); break;
        case 5: party(value, "on_behalf_of", out.on_behalf_of); break;
        case 6: party(value, "partner", out.partner); break;
        case 7: document(value, out.document); break;
        case 8:
          if (value.type() != element_type::OBJECT) fail("data", "must be an object");
          else data_text(value, out.data);
          break;
      }
    }
    if (!seen[4]) out.actor.reset();
    if (!seen[5]) out.on_behalf_of.reset();
    if (!seen[6]) out.partner.reset();
    if (!seen[7]) out.document.reset();
    if (!has_id) fail("id", "required");
    if (!has_type) fail("type", "required");
    if (!has_at) fail("occurred_at", "required");
  }

 private:
  static constexpr std::array<std::string_view, 9> kTopKeys = {
      "id", "type", "occurred_at", "tenant", "actor", "on_behalf_of", "partner", "document", "data"};
  // The index of `key` in kTopKeys (its size if none). By length first: only
  // "type" and "data" share one, so a key costs one comparison, not up to
  // nine (a memcmp call each where the lengths match).
  static size_t top_key(std::string_view key) {
    size_t k = kTopKeys.size();
    switch (key.size()) {
      case 2: k = 0; break;
      case 4: k = key[0] == 't' ? 1 : 8; break;
      case 11: k = 2; break;
      case 6: k = 3; break;
      case 5: k = 4; break;
      case 12: k = 5; break;
      case 7: k = 6; break;
      case 8: k = 7; break;
      default: return kTopKeys.size();
    }
    return key == kTopKeys[k] ? k : kTopKeys.size();
  }

  void fail(std::string field, std::string reason) {
    if (errors_.size() < kMaxErrors) errors_.push_back({index_, std::move(field), std::move(reason)});
  }
  void fail_at(const FieldPath& field, std::string reason) { fail(field.str(), std::move(reason)); }

  static bool valid_tenant(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-')) return false;
    return true;
  }

  bool string_field(element v, const FieldPath& path, std::string& out) {
    std::string_view sv;
    if (v.get_string().get(sv)) {
      fail_at(path, "must be a string");
      return false;
    }
    // clear + append, not assign: the target is nearly always a fresh,
    // empty string, and assign's general path (aliasing checks, _M_replace)
    // cost ~40 more instructions per field, some fifteen fields per event.
    out.clear();
    out.append(sv);
    return true;
  }

  // Single-line human text (names, numbers, statuses): bounded, no control
  // characters, because it may end up in an e-mail header.
  bool text_field(element v, const FieldPath& path, std::string& out, bool required = false) {
    if (!string_field(v, path, out)) return false;
    if (out.size() > limits_.max_text_bytes) {
      fail_at(path, "longer than " + std::to_string(limits_.max_text_bytes) + " bytes");
      return false;
    }
    if (has_line_breaking_or_control(out)) {
      fail_at(path, "must not contain control characters or line breaks");
      return false;
    }
    if (required && out.empty()) {
      fail_at(path, "must not be empty");
      return false;
    }
    return true;
  }

  void party(element v, std::string_view path, std::optional<Party>& out) {
    if (v.type() != element_type::OBJECT) {
      fail(std::string(path), "must be an object");
      return;
    }
    Party& p = out ? *out : out.emplace();  // a reused event's: every field cleared
    p.id.clear();
    p.name.clear();
    p.email.clear();
    p.phone.clear();
    p.locale.clear();
    bool has_id = false;
    for (auto [key, value] : simdjson::dom::object(v)) {
      const FieldPath f(path, key);
      if (key == "id") {
        has_id = true;
        if (text_field(value, f, p.id, true) && p.id.size() > limits_.max_id_bytes)
          fail_at(f, "longer than " + std::to_string(limits_.max_id_bytes) + " bytes");
      } else if (key == "name") {
        text_field(value, f, p.name);
      } else if (key == "email") {
        if (string_field(value, f, p.email) && !is_valid_email_address(p.email)) fail_at(f, "not a valid e-mail address");
      } else if (key == "phone") {
        if (string_field(value, f, p.phone) && !is_valid_phone(p.phone)) fail_at(f, "not a valid phone number");
      } else if (key == "locale") {
        if (string_field(value, f, p.locale) && !is_valid_locale(p.locale)) fail_at(f, "not a valid locale tag");
      } else {
        fail_at(f, "unknown field");
      }
    }
    if (!has_id) fail_at(FieldPath(path, "id"), "required");
  }

  void document(element v, std::optional<Document>& out) {
    if (v.type() != element_type::OBJECT) {
      fail("document", "must be an object");
      return;
    }
    Document& d = out ? *out : out.emplace();  // a reused event's: every field cleared
    for (std::string* f : {&d.id, &d.kind, &d.number, &d.status, &d.previous_status, &d.total, &d.currency,
                           &d.due_date})
      f->clear();
    d.attachments.clear();
    for (auto [key, value] : simdjson::dom::object(v)) {
      const FieldPath f("document", key);
      if (key == "id") text_field(value, f, d.id);
      else if (key == "kind") text_field(value, f, d.kind);
      else if (key == "number") text_field(value, f, d.number);
      else if (key == "status") text_field(value, f, d.status);
      else if (key == "previous_status") text_field(value, f, d.previous_status);
      else if (key == "total") total(value, f, d.total);
      else if (key == "currency") {
        if (string_field(value, f, d.currency) &&
            !(d.currency.size() == 3 && std::all_of(d.currency.begin(), d.currency.end(),
                                                    [](char c) { return c >= 'A' && c <= 'Z'; })))
          fail_at(f, "must be an ISO 4217 code such as EUR");
      } else if (key == "due_date") {
        if (string_field(value, f, d.due_date) && !is_valid_date(d.due_date)) fail_at(f, "must be a date YYYY-MM-DD");
      } else if (key == "attachments") attachments(value, d.attachments);
      else fail_at(f, "unknown field");
    }
  }

  void total(element v, const FieldPath& path, std::string& out) {
    switch (v.type()) {
      case element_type::STRING: {
        string_field(v, path, out);
        // -?digits(.digits)?
        std::string_view s = out;
        if (!s.empty() && s[0] == '-') s.remove_prefix(1);
        auto dot = s.find('.');
        bool ok = all_digits(s.substr(0, dot)) && (dot == s.npos || all_digits(s.substr(dot + 1))) && s.size() <= 40;
        if (!ok) fail_at(path, "must be a decimal number such as \"1249.90\"");
        return;
      }
      case element_type::INT64: out = std::to_string(int64_t(v)); return;
      case element_type::UINT64: out = std::to_string(uint64_t(v)); return;
      case element_type::DOUBLE: {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, double(v), std::chars_format::fixed);
        out.assign(buf, r.ptr);
        return;
      }
      default: fail_at(path, "must be a decimal string or a number");
    }
  }

  static bool valid_content_type(std::string_view s) {
    auto slash = s.find('/');
    if (slash == s.npos || slash == 0 || slash + 1 == s.size() || s.size() > 127) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (i == slash) continue;
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                std::string_view("!#$&^_.+-").find(c) != std::string_view::npos;
      if (!ok) return false;
    }
    return true;
  }

  void attachments(element v, std::vector<Attachment>& out) {
    if (v.type() != element_type::ARRAY) {
      fail("document.attachments", "must be an array");
      return;
    }
    size_t i = 0;
    for (element item : simdjson::dom::array(v)) {
      std::string base = "document.attachments[" + std::to_string(i++) + "]";
      if (out.size() >= limits_.max_attachments) {
        fail("document.attachments", "more than " + std::to_string(limits_.max_attachments) + " attachments");
        return;
      }
      if (item.type() != element_type::OBJECT) {
        fail(base, "must be an object");
        continue;
      }
      Attachment a;
      bool has_name = false, has_content = false;
      for (auto [key, value] : simdjson::dom::object(item)) {
        const FieldPath f(base, key);
        if (key == "filename") {
          has_name = true;
          if (text_field(value, f, a.filename, true) &&
              (a.filename.size() > 255 || a.filename.find_first_of("/\\") != std::string::npos ||
               a.filename == "." || a.filename == ".."))
            fail_at(f, "must be a plain file name (no path), at most 255 bytes");
        } else if (key == "content_type") {
          if (string_field(value, f, a.content_type) && !valid_content_type(a.content_type))
            fail_at(f, "must be a MIME type such as application/pdf");
        } else if (key == "content_base64") {
          has_content = true;
          std::string enc;
          if (string_field(value, f, enc)) {
            auto dec = base64_decode(enc);
            if (!dec) fail_at(f, "not valid base64");
            else a.content = std::move(*dec);
          }
        } else {
          fail_at(f, "unknown field");
        }
      }
      if (!has_name) fail(base + ".filename", "required");
      if (!has_content) fail(base + ".content_base64", "required");
      if (a.content_type.empty()) a.content_type = "application/octet-stream";
      out.push_back(std::move(a));
    }
  }

  // The object as minified text, parsed again only when a rule or template
  // reads it (to_json): converting every event's `data` into Boost.JSON
  // values here, an allocation per key and value, was ~6 % of the HTTP
  // thread under NDJSON ingest, and most events match nothing. An empty
  // object is no data, as before.
  static void data_text(element v, std::string& out) {
    if (simdjson::dom::object(v).size() > 0) append_minified(v, out);
  }
  // Written straight into `out`, not by simdjson's to_string(), which builds
  // the text byte by byte in a vector of its own and copies it out (its
  // reusable builder is a private API; either takes ~480 instructions for
  // the benchmark's 23-byte object). A double keeps a fraction or exponent
  // ("3.0", not "3"), so that it parses back as a double.
  static void append_minified(element v, std::string& out) {
    switch (v.type()) {
      case element_type::OBJECT: {
        char sep = '{';
        for (auto [key, value] : simdjson::dom::object(v)) {
          out += sep;
          sep = ',';
          append_json_quoted(out, key);
          out += ':';
          append_minified(value, out);
        }
        if (sep == '{') out += '{';
        out += '}';
        return;
      }
      case element_type::ARRAY: {
        char sep = '[';
        for (element item : simdjson::dom::array(v)) {
          out += sep;
          sep = ',';
          append_minified(item, out);
        }
        if (sep == '[') out += '[';
        out += ']';
        return;
      }
      case element_type::STRING: append_json_quoted(out, std::string_view(v)); return;
      case element_type::INT64: append_number(out, int64_t(v)); return;
      case element_type::UINT64: append_number(out, uint64_t(v)); return;
      case element_type::DOUBLE: {
        const size_t at = out.size();
        append_number(out, double(v));
        if (out.find_first_of(".eE", at) == std::string::npos) out += ".0";
        return;
      }
      case element_type::BOOL: out += bool(v) ? "true" : "false"; return;
      case element_type::NULL_VALUE: out += "null"; return;
    }
  }
  template <class Number>
  static void append_number(std::string& out, Number n) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
  }

  const DecoderLimits& limits_;
  size_t index_;
  std::vector<FieldError>& errors_;
};

std::string simdjson_reason(simdjson::error_code ec) {
  switch (ec) {
    case simdjson::UTF8_ERROR: return "body is not valid UTF-8";
    case simdjson::DEPTH_ERROR: return "JSON nested too deeply";
    case simdjson::EMPTY: return "body is empty";
    default: return std::string("malformed JSON: ") + simdjson::error_message(ec);
  }
}

}  // namespace

EventDecoder::EventDecoder(DecoderLimits limits) : limits_(limits), impl_(std::make_unique<Impl>()) {
  if (impl_->parser.allocate(64 * 1024, limits_.max_depth) != simdjson::SUCCESS)
    throw std::runtime_error("simdjson: cannot allocate parser");
}

EventDecoder::~EventDecoder() = default;

DecodeResult EventDecoder::decode(std::string_view body, BodyFormat format, bool padded, bool borrow_text) {
  DecodeResult result;
  // Spares, if a batch of no more than about this body's events was given
  // back: an NDJSON body's lines, an array's ~300-byte events, one object.
  size_t lines = 0, expected = 1;
  if (format == BodyFormat::ndjson) {
    expected = lines = count_lines(body);
  } else {
    const size_t first = body.find_first_not_of(" \t\r\n");
    if (first != body.npos && body[first] == '[') expected = std::max<size_t>(1, body.size() / 300);
  }
  result.events = recycler_->take(expected);
  decode_into(body, format, result, 0, padded, borrow_text, lines);
  return result;
}

bool EventDecoder::decode_append(std::string_view body, BodyFormat format, DecodeResult& result, bool padded,
                                 bool borrow_text) {
  return decode_into(body, format, result, result.events.size(), padded, borrow_text);
}

bool EventDecoder::decode_into(std::string_view body, BodyFormat format, DecodeResult& result, size_t start,
                               bool padded_body, bool borrow_text, size_t lines) {
  borrow_text = borrow_text && padded_body;  // else the lines' text is in the decoder's own buffer
  result.malformed = false;
  result.malformed_reason.clear();
  result.errors.clear();
  // Valid events fill [start, next); from `next` on lie the recycler's
  // spares not yet used, validated into before new events are added.
  size_t next = start;
  // Every return: an invalid body keeps nothing new; a valid one drops the
  // spares it did not use.
  auto finish = [&] {
    const size_t keep = result.ok() ? next : start;
    result.events.erase(result.events.begin() + static_cast<std::ptrdiff_t>(keep), result.events.end());
    return result.ok();
  };
  // `raw`: the event's own source text when known (a single-object body, an
  // NDJSON line), else it is re-serialized (minified) from the parsed element.
  auto validate_one = [&](element root, size_t index, std::string_view raw = {}) {
    // Built in place: a DocumentEvent is some thirty strings, and moving it
    // into the vector afterwards cost more than validating it.
    const bool spare = next < result.events.size();
    DocumentEvent& ev = spare ? result.events[next] : result.events.emplace_back();
    size_t before = result.errors.size();
    EventValidator(limits_, index, result.errors).validate(root, ev);
    if (result.errors.size() != before) {
      if (!spare) result.events.pop_back();  // a spare stays one
      return;
    }
    ++next;
    if (raw.empty()) ev.json = simdjson::to_string(root);
    else if (borrow_text) ev.json_view = raw;
    else ev.json.assign(raw);
  };
  auto too_many = [&](size_t n) {
    if (n <= limits_.max_batch_events) return false;
    result.malformed = true;
    result.malformed_reason = "batch holds more than " + std::to_string(limits_.max_batch_events) + " events";
    return true;
  };

  const std::string_view padded = padded_body ? body : impl_->pad(body);

  if (format == BodyFormat::json) {
    element root;
    if (auto ec = impl_->parser.parse(padded.data(), padded.size(), false).get(root)) {
      result.malformed = true;
      result.malformed_reason = simdjson_reason(ec);
      return finish();
    }
    if (root.type() == element_type::ARRAY) {
      simdjson::dom::array arr(root);
      if (arr.size() == 0) {
        result.malformed = true;
        result.malformed_reason = "batch is empty";
        return finish();
      }
      if (too_many(arr.size())) return finish();
      result.events.reserve(start + arr.size());
      size_t i = 0;
      for (element item : arr) validate_one(item, i++);
    } else {
      validate_one(root, 0, body);
    }
  } else {
    simdjson::dom::document_stream stream;
    size_t batch = std::max<size_t>(body.size(), 1024);
    if (auto ec = impl_->parser.parse_many(padded.data(), padded.size(), batch).get(stream)) {
      result.malformed = true;
      result.malformed_reason = simdjson_reason(ec);
      return finish();
    }
    result.events.reserve(start + std::min<size_t>(lines ? lines : count_lines(body), limits_.max_batch_events));
    size_t i = 0;
    for (auto it = stream.begin(); it != stream.end(); ++it) {
      element root;
      if (auto ec = (*it).get(root)) {
        result.malformed = true;
        result.malformed_reason = "line " + std::to_string(i + 1) + ": " + simdjson_reason(ec);
        result.errors.clear();
        return finish();
      }
      if (too_many(i + 1)) {
        result.errors.clear();
        return finish();
      }
      // The line's own text is journaled as is (not minified again).
      validate_one(root, i++, it.source());
    }
    if (auto ec = stream.truncated_bytes(); ec != 0) {
      result.malformed = true;
      result.malformed_reason = "line " + std::to_string(i + 1) + ": truncated JSON document";
      result.errors.clear();
      return finish();
    }
    if (i == 0) {
      result.malformed = true;
      result.malformed_reason = "body is empty";
      return finish();
    }
  }
  return finish();
}

}  // namespace herald
