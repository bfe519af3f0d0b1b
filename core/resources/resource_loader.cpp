#include <algorithm>
#include <set>

#include "core/config/toml_reader.hpp"
#include "core/ingest/event_decoder.hpp"
#include "core/resources/resource_set.hpp"
#include "core/util/utf8.hpp"

namespace herald {

const char* to_string(Channel c) {
  switch (c) {
    case Channel::email: return "email";
    case Channel::sms: return "sms";
    case Channel::webhook: return "webhook";
  }
  return "email";
}

Channel channel_from_string(std::string_view s) {
  if (s == "sms") return Channel::sms;
  if (s == "webhook") return Channel::webhook;
  return Channel::email;
}

const char* to_string(ContactKind k) {
  switch (k) {
    case ContactKind::email: return "email";
    case ContactKind::mobile: return "mobile";
    case ContactKind::landline: return "landline";
    case ContactKind::web: return "web";
  }
  return "email";
}

namespace {

namespace fs = std::filesystem;

bool valid_resource_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E) return false;
  }
  return true;
}

// Which template channel a contact kind can receive (SPEC §4: landline none).
bool channel_fits(ContactKind kind, Channel ch) {
  switch (kind) {
    case ContactKind::email: return ch == Channel::email;
    case ContactKind::mobile: return ch == Channel::sms;
    case ContactKind::web: return ch == Channel::webhook;
    case ContactKind::landline: return false;
  }
  return false;
}

std::string resource_id(TomlReader& r) {
  std::string id = r.required_string("id");
  if (!valid_resource_id(id)) r.fail("id", "must be 1-128 printable ASCII characters");
  return id;
}

// Calls f(TomlReader&) for each table of the array `key` of `parent`.
template <typename F>
void for_each_table(TomlReader& parent, std::string_view key, F&& f) {
  const toml::array* arr = parent.array(key);
  if (!arr) return;
  size_t i = 0;
  for (const auto& node : *arr) {
    std::string prefix = parent.path(key) + "[" + std::to_string(i++) + "]";
    if (!node.is_table()) throw ConfigError(parent.file() + ": " + prefix + ": must be a table");
    TomlReader r(*node.as_table(), parent.file(), prefix);
    f(r);
  }
}

std::string single_line(TomlReader& r, std::string_view key, bool required) {
  std::string v = required ? r.required_string(key) : r.string_or(key, "");
  if (!is_valid_utf8(v) || has_line_breaking_or_control(v)) r.fail(key, "must be one line of text");
  return v;
}

void compile_part(TomlReader& r, std::string_view key, const std::string& src, FieldTemplate& out) {
  TemplateError err;
  if (!FieldTemplate::compile(src, out, err))
    r.fail(key, "template error at line " + std::to_string(err.line) + ", column " + std::to_string(err.column) +
                    ": " + err.reason);
}

Template parse_template(TomlReader& r) {
  Template t;
  t.id = resource_id(r);
  auto ch = r.string_or("channel", "email");
  if (ch == "email") t.channel = Channel::email;
  else if (ch == "sms") t.channel = Channel::sms;
  else if (ch == "webhook") t.channel = Channel::webhook;
  else r.fail("channel", "must be email, sms or webhook");
  t.subject_source = r.string_or("subject", "");
  t.text_source = r.string_or("text", "");
  if (!is_valid_utf8(t.subject_source)) r.fail("subject", "not valid UTF-8");
  if (!is_valid_utf8(t.text_source)) r.fail("text", "not valid UTF-8");
  if (t.channel == Channel::email && t.subject_source.empty()) r.fail("subject", "required for e-mail templates");
  if (t.text_source.empty()) r.fail("text", "required");
  compile_part(r, "subject", t.subject_source, t.subject);
  compile_part(r, "text", t.text_source, t.text);
  r.finish();
  return t;
}

Contact parse_contact(TomlReader& r, const ResourceSet& set) {
  Contact c;
  c.id = resource_id(r);
  auto kind = r.required_string("kind");
  if (kind == "email") c.kind = ContactKind::email;
  else if (kind == "mobile") c.kind = ContactKind::mobile;
  else if (kind == "landline") c.kind = ContactKind::landline;
  else if (kind == "web") c.kind = ContactKind::web;
  else r.fail("kind", "must be email, mobile, landline or web");
  c.value = r.required_string("value");
  switch (c.kind) {
    case ContactKind::email:
      if (!is_valid_email_address(c.value)) r.fail("value", "not a valid e-mail address");
      break;
    case ContactKind::mobile:
    case ContactKind::landline:
      if (!is_valid_phone(c.value)) r.fail("value", "not a valid phone number");
      break;
    case ContactKind::web:
      if (!(c.value.starts_with("https://") || c.value.starts_with("http://")) || has_line_breaking_or_control(c.value))
        r.fail("value", "must be an http(s) URL");
      break;
  }
  c.label = single_line(r, "label", false);
  c.name = single_line(r, "name", false);
  for_each_table(r, "actions", [&](TomlReader& ar) {
    Action a;
    a.on = ar.required_string("on");
    if (!is_valid_event_type(a.on)) ar.fail("on", "must be an event type such as invoice.posted");
    a.template_id = ar.required_string("template");
    const Template* t = set.find_template(a.template_id);
    if (!t) ar.fail("template", "no template with id \"" + a.template_id + "\"");
    if (!channel_fits(c.kind, t->channel))
      ar.fail("template", std::string("a ") + to_string(c.kind) + " contact cannot receive " + to_string(t->channel) +
                              " messages");
    a.attach = ar.boolean("attach").value_or(false);
    ar.finish();
    c.actions.push_back(std::move(a));
  });
  r.finish();
  return c;
}

Partner parse_partner(TomlReader& r, const ResourceSet& set) {
  Partner p;
  p.id = resource_id(r);
  p.tenant = r.string_or("tenant", "default");
  if (p.tenant.empty() || p.tenant.size() > 64) r.fail("tenant", "must be 1-64 characters");
  p.name = single_line(r, "name", false);
  p.locale = r.string_or("locale", "");
  if (!p.locale.empty() && !is_valid_locale(p.locale)) r.fail("locale", "not a valid locale tag");
  std::set<std::string> ids;
  for_each_table(r, "contacts", [&](TomlReader& cr) {
    Contact c = parse_contact(cr, set);
    if (!ids.insert(c.id).second) cr.fail("id", "duplicate contact id \"" + c.id + "\"");
    p.contacts.push_back(std::move(c));
  });
  r.finish();
  return p;
}

}  // namespace

ResourceSet load_resources(const fs::path& dir) {
  ResourceSet set;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ConfigError(dir.string() + ": resources directory does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".toml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());

  // Two passes: templates first, so a partner may reference a template
  // defined in any file.
  std::vector<toml::table> tables;
  tables.reserve(files.size());
  for (const auto& f : files) tables.push_back(parse_toml_file(f.string()));
  for (size_t i = 0; i < files.size(); ++i) {
    TomlReader root(tables[i], files[i].string(), "");
    for_each_table(root, "template", [&](TomlReader& r) {
      Template t = parse_template(r);
      if (set.templates.contains(t.id)) r.fail("id", "duplicate template id \"" + t.id + "\"");
      set.templates.emplace(t.id, std::move(t));
    });
  }
  for (size_t i = 0; i < files.size(); ++i) {
    TomlReader root(tables[i], files[i].string(), "");
    root.array("template");  // read in the first pass
    for_each_table(root, "partner", [&](TomlReader& r) {
      Partner p = parse_partner(r, set);
      auto key = ResourceSet::partner_key(p.tenant, p.id);
      if (set.partners.contains(key)) r.fail("id", "duplicate partner id \"" + p.id + "\"");
      set.partners.emplace(std::move(key), std::move(p));
    });
    root.finish();
  }
  return set;
}

}  // namespace herald
