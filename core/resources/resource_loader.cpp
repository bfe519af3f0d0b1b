#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "core/config/toml_reader.hpp"
#include "core/ingest/event_decoder.hpp"
#include "core/resources/resource_set.hpp"
#include "core/util/digest.hpp"
#include "core/util/memory.hpp"
#include "core/util/utf8.hpp"

namespace herald {

const char* to_string(Part p) {
  switch (p) {
    case Part::subject: return "subject";
    case Part::text: return "text";
    case Part::html: return "html";
    case Part::sms: return "sms";
  }
  return "text";
}

const mustache::Template* Template::part(Part p, std::string_view locale) const {
  if (!locale.empty() && !locales.empty()) {
    auto it = locales.find(locale);
    if (it != locales.end()) {
      if (const auto* m = it->second.get(p)) return m;
    } else {
      std::string_view lang = locale.substr(0, locale.find_first_of("-_"));
      for (const auto& [tag, parts] : locales) {
        if (tag.substr(0, tag.find_first_of("-_")) == lang) {
          if (const auto* m = parts.get(p)) return m;
          break;
        }
      }
    }
  }
  return base.get(p);
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

std::optional<Mailbox> mailbox(TomlReader& r, std::string_view address_key, std::string_view name_key, bool required) {
  std::string address = required ? r.required_string(address_key) : r.string_or(address_key, "");
  std::string name = single_line(r, name_key, false);
  if (address.empty()) return std::nullopt;
  if (!is_valid_email_address(address)) r.fail(address_key, "not a valid e-mail address");
  return Mailbox{std::move(address), std::move(name)};
}

ContactKind contact_kind(TomlReader& r, std::string_view key) {
  auto kind = r.required_string(key);
  if (kind == "email") return ContactKind::email;
  if (kind == "mobile") return ContactKind::mobile;
  if (kind == "landline") return ContactKind::landline;
  if (kind == "web") return ContactKind::web;
  r.fail(key, "must be email, mobile, landline or web");
}

// Why `value` is not a valid address for `kind`, or nullptr.
const char* recipient_problem(ContactKind kind, std::string_view value) {
  switch (kind) {
    case ContactKind::email: return is_valid_email_address(value) ? nullptr : "not a valid e-mail address";
    case ContactKind::mobile:
    case ContactKind::landline: return is_valid_phone(value) ? nullptr : "not a valid phone number";
    case ContactKind::web:
      return (value.starts_with("https://") || value.starts_with("http://")) && !has_line_breaking_or_control(value)
                 ? nullptr
                 : "must be an http(s) URL";
  }
  return "unknown kind";
}

Recipient parse_recipient(TomlReader& r) {
  Recipient rc;
  rc.kind = contact_kind(r, "kind");
  rc.value = r.required_string("value");
  if (const char* why = recipient_problem(rc.kind, rc.value)) r.fail("value", why);
  rc.name = single_line(r, "name", false);
  return rc;
}

Expression compile_when(TomlReader& r) {
  Expression e;
  std::string src = r.string_or("when", "");
  ExpressionError err;
  if (!Expression::compile(src, e, err))
    r.fail("when", "column " + std::to_string(err.column) + ": " + err.reason);
  return e;
}

void compile_part(TomlReader& r, std::string_view key, TemplateParts& parts, Part p, bool whole_lines = false) {
  auto src = r.string(key);
  if (!src) return;
  // A text signature is a block of lines: ending it with a newline lets a
  // standalone {{>signature}} line keep the line after it apart.
  if (whole_lines && !src->empty() && src->back() != '\n') *src += '\n';
  if (!is_valid_utf8(*src)) r.fail(key, "not valid UTF-8");
  mustache::CompileError err;
  auto i = static_cast<size_t>(p);
  if (!mustache::Template::compile(*src, parts.part[i], err))
    r.fail(key, "template error at line " + std::to_string(err.line) + ", column " + std::to_string(err.column) +
                    ": " + err.reason);
  parts.has[i] = true;
}

void read_parts(TomlReader& r, TemplateParts& parts) {
  for (Part p : {Part::subject, Part::text, Part::html, Part::sms}) compile_part(r, to_string(p), parts, p);
}

Template parse_template(TomlReader& r) {
  Template t;
  t.id = resource_id(r);
  if (t.id == "signature") r.fail("id", "\"signature\" is reserved for the sender's signature partial");
  auto ch = r.string_or("channel", "email");
  if (ch == "email") t.channel = Channel::email;
  else if (ch == "sms") t.channel = Channel::sms;
  else if (ch == "webhook") t.channel = Channel::webhook;
  else r.fail("channel", "must be email, sms or webhook");
  t.partial = r.boolean("partial").value_or(false);
  t.sender = r.string_or("sender", "");
  read_parts(r, t.base);
  if (const toml::table* locales = r.table("locale")) {
    for (const auto& [key, node] : *locales) {
      std::string tag(key.str());
      std::string prefix = r.path("locale") + "." + tag;
      if (!is_valid_locale(tag)) throw ConfigError(r.file() + ": " + prefix + ": not a valid locale tag");
      if (!node.is_table()) throw ConfigError(r.file() + ": " + prefix + ": must be a table");
      TomlReader lr(*node.as_table(), r.file(), prefix);
      read_parts(lr, t.locales[tag]);
      lr.finish();
    }
  }
  if (!t.partial) {
    const auto& b = t.base;
    auto has = [&](Part p) { return b.has[static_cast<size_t>(p)]; };
    switch (t.channel) {
      case Channel::email:
        if (!has(Part::subject)) r.fail("subject", "required for e-mail templates");
        if (!has(Part::text) && !has(Part::html)) r.fail("text", "an e-mail template needs text, html or both");
        break;
      case Channel::sms:
        if (!has(Part::sms) && !has(Part::text)) r.fail("sms", "an SMS template needs sms (or text)");
        break;
      case Channel::webhook:
        if (!has(Part::text)) r.fail("text", "required (the webhook payload)");
        break;
    }
  }
  r.finish();
  return t;
}

Sender parse_sender(TomlReader& r) {
  Sender s;
  s.id = resource_id(r);
  s.from = *mailbox(r, "address", "name", true);
  s.reply_to = mailbox(r, "reply_to", "reply_to_name", false);
  TemplateParts sig;
  compile_part(r, "signature_text", sig, Part::text, true);
  compile_part(r, "signature_html", sig, Part::html);
  for (Part p : {Part::text, Part::html}) {
    const auto* t = sig.get(p);
    if (t && !t->partial_names().empty())
      r.fail(p == Part::text ? "signature_text" : "signature_html", "a signature cannot include partials");
  }
  s.has_signature_text = sig.has[static_cast<size_t>(Part::text)];
  s.has_signature_html = sig.has[static_cast<size_t>(Part::html)];
  s.signature_text = std::move(sig.part[static_cast<size_t>(Part::text)]);
  s.signature_html = std::move(sig.part[static_cast<size_t>(Part::html)]);
  r.finish();
  return s;
}

Group parse_group(TomlReader& r) {
  Group g;
  g.id = resource_id(r);
  g.name = single_line(r, "name", false);
  for_each_table(r, "members", [&](TomlReader& mr) {
    g.members.push_back(parse_recipient(mr));
    mr.finish();
  });
  if (g.members.empty()) r.fail("members", "a group needs at least one member");
  r.finish();
  return g;
}

const Template& sendable_template(TomlReader& r, const ResourceSet& set, std::string_view key) {
  std::string id = r.required_string(key);
  const Template* t = set.find_template(id);
  if (!t) r.fail(key, "no template with id \"" + id + "\"");
  if (t->partial) r.fail(key, "template \"" + id + "\" is a partial and cannot be sent on its own");
  return *t;
}

void check_sender(TomlReader& r, const ResourceSet& set, const std::string& id) {
  if (!id.empty() && !set.find_sender(id)) r.fail("sender", "no sender with id \"" + id + "\"");
}

bool valid_type_glob(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' || c == '*';
    if (!ok) return false;
  }
  return true;
}

// "90s", "15m", "2h", "1d", "1h30m", "500ms".
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t total = 0;
  while (!s.empty()) {
    int64_t n = 0;
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && n < 1'000'000'000) n = n * 10 + (s[i++] - '0');
    if (i == 0) return std::nullopt;
    s.remove_prefix(i);
    int64_t unit = 0;
    for (auto [u, ms] : {std::pair<std::string_view, int64_t>{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000},
                         {"d", 86'400'000}}) {
      if (s.starts_with(u)) {
        unit = ms;
        s.remove_prefix(u.size());
        break;
      }
    }
    if (unit == 0) return std::nullopt;
    total += n * unit;
  }
  if (total > int64_t{366} * 86'400'000) return std::nullopt;
  return std::chrono::milliseconds(total);
}

RecipientSpec parse_recipient_spec(TomlReader& r, const ResourceSet& set, std::string_view text, Channel channel) {
  RecipientSpec spec;
  spec.source = text;
  auto bad = [&](const std::string& why) { r.fail("to", "\"" + std::string(text) + "\": " + why); };
  if (text == "partner") {
    spec.kind = RecipientSpec::Kind::partner;
  } else if (text == "account_manager") {
    spec.kind = RecipientSpec::Kind::account_manager;
  } else if (text == "actor") {
    spec.kind = RecipientSpec::Kind::actor;
  } else if (text.starts_with("group:")) {
    spec.kind = RecipientSpec::Kind::group;
    spec.group = text.substr(6);
    const Group* g = set.find_group(spec.group);
    if (!g) bad("no group with id \"" + spec.group + "\"");
    bool any = false;
    for (const auto& m : g->members) any = any || channel_fits(m.kind, channel);
    if (!any) bad(std::string("no member of the group can receive ") + to_string(channel) + " messages");
  } else if (text.starts_with("partner.contacts")) {
    spec.kind = RecipientSpec::Kind::partner_contacts;
    std::string_view args = text.substr(16);
    if (!args.empty()) {
      if (args.front() != '(' || args.back() != ')') bad("expected partner.contacts(kind=\"...\", label=\"...\")");
      args = args.substr(1, args.size() - 2);
      while (!args.empty()) {
        while (!args.empty() && (args.front() == ' ' || args.front() == ',')) args.remove_prefix(1);
        if (args.empty()) break;
        size_t eq = args.find('=');
        if (eq == std::string_view::npos) bad("expected name=\"value\"");
        std::string_view name = args.substr(0, eq);
        while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
        args.remove_prefix(eq + 1);
        while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
        if (args.empty() || args.front() != '"') bad("values are quoted: name=\"value\"");
        size_t close = args.find('"', 1);
        if (close == std::string_view::npos) bad("unterminated string");
        std::string value(args.substr(1, close - 1));
        args.remove_prefix(close + 1);
        if (name == "kind") {
          if (value == "email") spec.contact_kind = ContactKind::email;
          else if (value == "mobile") spec.contact_kind = ContactKind::mobile;
          else if (value == "landline") spec.contact_kind = ContactKind::landline;
          else if (value == "web") spec.contact_kind = ContactKind::web;
          else bad("kind must be email, mobile, landline or web");
          if (!channel_fits(*spec.contact_kind, channel))
            bad(std::string("a ") + value + " contact cannot receive " + to_string(channel) + " messages");
        } else if (name == "label") {
          spec.label = value;
        } else {
          bad("unknown filter \"" + std::string(name) + "\" (kind, label)");
        }
      }
    }
  } else {
    spec.kind = RecipientSpec::Kind::literal;
    spec.literal.value = text;
    if (text.find('@') != std::string_view::npos) spec.literal.kind = ContactKind::email;
    else if (text.starts_with("http://") || text.starts_with("https://")) spec.literal.kind = ContactKind::web;
    else spec.literal.kind = ContactKind::mobile;
    if (const char* why = recipient_problem(spec.literal.kind, text))
      bad(std::string(why) + " (expected partner, partner.contacts(...), account_manager, group:<id>, actor, "
                             "or an address/number)");
    if (!channel_fits(spec.literal.kind, channel))
      bad(std::string("cannot receive ") + to_string(channel) + " messages");
  }
  return spec;
}

Rule parse_rule(TomlReader& r, const ResourceSet& set) {
  Rule rule;
  rule.id = resource_id(r);
  rule.tenant = r.string_or("tenant", "");
  if (rule.tenant.size() > 64) r.fail("tenant", "must be at most 64 characters");
  rule.on = r.required_string("on");
  if (!valid_type_glob(rule.on)) r.fail("on", "must be an event type or a glob such as case.* or *");
  rule.when = compile_when(r);
  const Template& t = sendable_template(r, set, "template");
  rule.template_id = t.id;
  rule.sender = r.string_or("sender", "");
  check_sender(r, set, rule.sender);
  if (auto d = r.string("delay")) {
    auto ms = parse_duration(*d);
    if (!ms) r.fail("delay", "must be a duration such as 90s, 15m, 2h, 1d or 1h30m (at most 366d)");
    rule.delay = *ms;
  }
  rule.attach = r.boolean("attach").value_or(false);
  const toml::array* to = r.array("to");
  if (!to || to->empty()) r.fail("to", "at least one recipient is required");
  for (const auto& node : *to) {
    if (!node.is_string()) r.fail("to", "each recipient is a string");
    rule.to.push_back(parse_recipient_spec(r, set, node.as_string()->get(), t.channel));
  }
  r.finish();
  return rule;
}

Contact parse_contact(TomlReader& r) {
  Contact c;
  c.id = resource_id(r);
  c.kind = contact_kind(r, "kind");
  c.value = r.required_string("value");
  if (const char* why = recipient_problem(c.kind, c.value)) r.fail("value", why);
  c.label = single_line(r, "label", false);
  c.name = single_line(r, "name", false);
  c.locale = r.string_or("locale", "");
  if (!c.locale.empty() && !is_valid_locale(c.locale)) r.fail("locale", "not a valid locale tag");
  // Templates are checked once all are known (check_template_uses), so
  // partners need not wait for every file's templates.
  for_each_table(r, "actions", [&](TomlReader& ar) {
    Action a;
    a.on = ar.required_string("on");
    if (!is_valid_event_type(a.on)) ar.fail("on", "must be an event type such as invoice.posted");
    a.when = compile_when(ar);
    a.template_id = ar.required_string("template");
    a.attach = ar.boolean("attach").value_or(false);
    ar.finish();
    c.actions.push_back(std::move(a));
  });
  r.finish();
  return c;
}

Partner parse_partner(TomlReader& r) {
  Partner p;
  p.id = resource_id(r);
  p.tenant = r.string_or("tenant", "default");
  if (p.tenant.empty() || p.tenant.size() > 64) r.fail("tenant", "must be 1-64 characters");
  p.name = single_line(r, "name", false);
  p.locale = r.string_or("locale", "");
  if (!p.locale.empty() && !is_valid_locale(p.locale)) r.fail("locale", "not a valid locale tag");
  if (const toml::table* am = r.table("account_manager")) {
    TomlReader ar(*am, r.file(), r.path("account_manager"));
    p.account_manager_name = single_line(ar, "name", false);
    for (auto [key, kind] : {std::pair{"email", ContactKind::email}, std::pair{"mobile", ContactKind::mobile}}) {
      std::string value = ar.string_or(key, "");
      if (value.empty()) continue;
      if (const char* why = recipient_problem(kind, value)) ar.fail(key, why);
      p.account_managers.push_back({kind, std::move(value), p.account_manager_name});
    }
    if (p.account_managers.empty()) ar.fail("email", "an account manager needs an email or a mobile");
    ar.finish();
  }
  std::set<std::string> ids;
  for_each_table(r, "contacts", [&](TomlReader& cr) {
    Contact c = parse_contact(cr);
    if (!ids.insert(c.id).second) cr.fail("id", "duplicate contact id \"" + c.id + "\"");
    p.contacts.push_back(std::move(c));
  });
  r.finish();
  return p;
}

// Parses the [[partner]] tables of `root` into `out`. A duplicate (tenant,
// id) within `out` is an error.
void add_partners(TomlReader& root, PartnerDirectory::Builder& out) {
  for_each_table(root, "partner", [&](TomlReader& r) {
    Partner p = parse_partner(r);
    // Where an action's template is named, rebuilt only for the first use
    // of each template by each contact kind.
    auto where = [&](size_t contact, size_t action) {
      std::string at = r.path("contacts") + "[" + std::to_string(contact) + "].actions[" + std::to_string(action) + "]";
      const toml::node* n = r.raw()["contacts"][contact]["actions"][action].node();
      return TomlReader(n && n->is_table() ? *n->as_table() : r.raw(), r.file(), at).location("template");
    };
    if (!out.add(p, r.file(), where)) r.fail("id", "duplicate partner id \"" + p.id + "\"");
  });
}

// The templates partner actions send must exist, be sendable, and fit the
// channel of every contact kind they go to.
void check_template_uses(const PartnerDirectory& partners, const ResourceSet& set) {
  for (const auto& use : partners.template_uses()) {
    const std::string* first = nullptr;
    for (const auto& w : use.where)
      if (!first && !w.empty()) first = &w;
    const Template* t = set.find_template(use.template_id);
    if (!t) throw ConfigError(*first + ": no template with id \"" + use.template_id + "\"");
    if (t->partial)
      throw ConfigError(*first + ": template \"" + use.template_id + "\" is a partial and cannot be sent on its own");
    for (unsigned k = 0; k < kContactKindCount; ++k) {
      const auto kind = static_cast<ContactKind>(k);
      if ((use.kinds & (1u << k)) && !channel_fits(kind, t->channel))
        throw ConfigError(use.where[k] + ": a " + to_string(kind) + " contact cannot receive " +
                          to_string(t->channel) + " messages");
    }
  }
}

// Every {{>name}} / {{<name}} of a part must name "signature" (text and html
// only) or a template having that part, and partials must not form a cycle:
// a broken reference is a load error, never an empty spot in a sent message.
void check_partials(const ResourceSet& set, const std::string& origin) {
  for (Part p : {Part::subject, Part::text, Part::html, Part::sms}) {
    auto names_of = [&](const Template& t) {
      std::set<std::string> names;
      auto add = [&](const TemplateParts& parts) {
        if (const auto* m = parts.get(p))
          for (const auto& n : m->partial_names()) names.insert(n);
      };
      add(t.base);
      for (const auto& [_, v] : t.locales) add(v);
      return names;
    };
    for (const auto& [id, t] : set.templates) {
      for (const auto& n : names_of(t)) {
        if (n == "signature" && (p == Part::text || p == Part::html)) continue;
        const Template* target = set.find_template(n);
        if (!target || !target->base.get(p))
          throw ConfigError(origin + ": template \"" + id + "\": " + to_string(p) + ": unknown partial \"" + n +
                            "\" (no template with a " + to_string(p) + " part by that id)");
      }
    }
    // Depth-first search for a cycle; 1 = on the path, 2 = done.
    std::map<std::string, int, std::less<>> state;
    std::vector<std::string> path;
    std::function<void(const std::string&)> visit = [&](const std::string& id) {
      state[id] = 1;
      path.push_back(id);
      for (const auto& n : names_of(*set.find_template(id))) {
        if (n == "signature") continue;
        if (state[n] == 1) {
          std::string cycle;
          for (auto it = std::find(path.begin(), path.end(), n); it != path.end(); ++it) cycle += *it + " → ";
          throw ConfigError(origin + ": template \"" + id + "\": " + to_string(p) + ": partials form a cycle: " +
                            cycle + n);
        }
        if (state[n] == 0) visit(n);
      }
      path.pop_back();
      state[id] = 2;
    };
    for (const auto& [id, _] : set.templates)
      if (state[id] == 0) visit(id);
  }
}

}  // namespace

namespace {

std::vector<fs::path> toml_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ConfigError(dir.string() + ": resources directory does not exist");
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".toml") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

std::vector<ResourceFile> read_resource_files(const fs::path& dir) {
  std::vector<ResourceFile> files;
  for (const auto& p : toml_files(dir)) files.push_back({p.string(), parse_toml_file(p.string())});
  return files;
}

ResourceDir read_resource_dir(const fs::path& dir, const ResourceDir* previous) {
  // One file's parse tree at a time: partners are packed as each file is
  // read and their tables dropped, so a directory of 100k partners never
  // holds more than one file's tree (toml++ trees cost ~1 KB per contact).
  std::map<std::string_view, size_t, std::less<>> before;  // file name → index in previous
  if (previous)
    for (size_t i = 0; i < previous->files.size(); ++i) before.emplace(previous->files[i].name, i);
  auto small_partners = [](const FileState& f) { return f.partners && !f.shard; };
  ResourceDir out;
  PartnerCatalog::Shards shards;
  auto add_shard = [&](const std::shared_ptr<const PartnerDirectory>& shard) {
    if (shard && shard->size() > 0) shards.push_back(shard);
  };
  PartnerDirectory::Builder small;
  // The small files' shard is built again when one of them with partners
  // changed, came or went (any file with partners, on a first read).
  bool small_changed = false;
  std::vector<size_t> small_kept;  // unchanged small files with partners: not in `small` yet
  constexpr uintmax_t kPurgeEveryBytes = 16u << 20;  // of TOML read
  uintmax_t parsed = 0;
  std::vector<bool> still_there(previous ? previous->files.size() : 0);  // by index in previous
  for (const auto& p : toml_files(dir)) {
    std::string name = p.string();
    std::string bytes = read_toml_bytes(name);
    FileState state{sha256_hex({bytes}), false, nullptr};
    auto it = before.find(name);
    if (it != before.end()) {
      still_there[it->second] = true;
      const FileState& old = previous->states[it->second];
      if (old.sha256 == state.sha256) {
        add_shard(old.shard);
        if (small_partners(old)) small_kept.push_back(out.files.size());
        out.files.push_back(previous->files[it->second]);  // without its partners: templates, rules, ...
        out.states.push_back(old);
        continue;
      }
      small_changed = small_changed || small_partners(old);
    }
    ResourceFile file{std::move(name), parse_toml_text(bytes, p.string())};
    ++out.parsed;
    state.partners = file.table.contains("partner");
    TomlReader root(file.table, file.name, "");
    if (state.partners && bytes.size() >= kOwnShardBytes) {
      PartnerDirectory::Builder own;
      add_partners(root, own);
      state.shard = own.build();
      add_shard(state.shard);
      ++out.shards_built;
    } else if (state.partners) {
      add_partners(root, small);
      small_changed = true;
    }
    file.table.erase("partner");
    out.files.push_back(std::move(file));
    out.states.push_back(std::move(state));
    // The allocator keeps freed pages for seconds before it returns them:
    // the parse trees of a hundred files, dropped one by one, added up to
    // ~70 MB of resident garbage by the end of a 100k-partner load (peak
    // 175–233 MB for a 91 MB directory). Returned every few files instead
    // (after each one, the purges slowed the load from 11 to 18–25 s).
    parsed += bytes.size();
    if (parsed >= kPurgeEveryBytes) {
      release_free_memory();
      parsed = 0;
    }
  }
  for (size_t i = 0; i < still_there.size(); ++i)
    small_changed = small_changed || (small_partners(previous->states[i]) && !still_there[i]);
  if (!small_changed) {
    out.small_shard = previous ? previous->small_shard : nullptr;
  } else {
    // The unchanged small files' partners join the changed ones'.
    for (size_t i : small_kept) {
      const std::string& name = out.files[i].name;
      std::string bytes = read_toml_bytes(name);
      if (sha256_hex({bytes}) != out.states[i].sha256)
        throw ConfigError(name + ": changed while the resources were being read; reload again");
      toml::table table = parse_toml_text(bytes, name);
      ++out.parsed;
      TomlReader root(table, name, "");
      add_partners(root, small);
    }
    out.small_shard = small.build();
    ++out.shards_built;
  }
  add_shard(out.small_shard);
  out.partners = previous && previous->partners && previous->partners->shards() == shards
                     ? previous->partners
                     : std::make_shared<const PartnerCatalog>(std::move(shards));
  return out;
}

const char* to_string(ResourceKind k) {
  switch (k) {
    case ResourceKind::template_: return "template";
    case ResourceKind::sender: return "sender";
    case ResourceKind::group: return "group";
    case ResourceKind::rule: return "rule";
    case ResourceKind::partner: return "partner";
  }
  return "template";
}

ResourceSet build_resources(const ResourceDir& dir, const std::vector<ResourceFile>& overrides,
                            ResourceOrigins* origins) {
  ResourceSet set;
  // Two passes: templates, senders and groups first, so rules may reference
  // them from any file. Within the directory an id is unique; an entry of
  // `overrides` (the admin API's) replaces a file's of the same id.
  struct Source {
    const ResourceFile* file;
    bool override;
  };
  std::vector<Source> all;
  for (const auto& f : dir.files) all.push_back({&f, false});
  for (const auto& f : overrides) all.push_back({&f, true});
  std::map<std::pair<ResourceKind, std::string>, bool> from_override;
  auto add = [&](ResourceKind kind, auto& map, auto&& item, TomlReader& r, const Source& src,
                 const toml::table& table) {
    std::string key = item.id;
    auto [it, fresh] = from_override.try_emplace({kind, key}, src.override);
    if (!fresh && (it->second || !src.override))
      r.fail("id", std::string("duplicate ") + to_string(kind) + " id \"" + item.id + "\"");
    it->second = src.override;
    if (origins) (*origins)[{kind, key}] = {src.file->name, &table, src.override};
    map.insert_or_assign(std::move(key), std::move(item));
  };
  auto each = [&](TomlReader& root, const char* key, ResourceKind kind, auto&& parse) {
    for_each_table(root, key, [&](TomlReader& r) { parse(r, r.raw(), kind); });
  };
  for (const auto& src : all) {
    TomlReader root(src.file->table, src.file->name, "");
    each(root, "template", ResourceKind::template_, [&](TomlReader& r, const toml::table& t, ResourceKind k) {
      add(k, set.templates, parse_template(r), r, src, t);
    });
    each(root, "sender", ResourceKind::sender, [&](TomlReader& r, const toml::table& t, ResourceKind k) {
      add(k, set.senders, parse_sender(r), r, src, t);
    });
    each(root, "group", ResourceKind::group, [&](TomlReader& r, const toml::table& t, ResourceKind k) {
      add(k, set.groups, parse_group(r), r, src, t);
    });
  }
  for (const auto& [id, t] : set.templates)
    if (!t.sender.empty() && !set.find_sender(t.sender))
      throw ConfigError("template \"" + id + "\": no sender with id \"" + t.sender + "\"");
  check_partials(set, "resources");
  PartnerDirectory::Builder api_partners;
  for (const auto& src : all) {
    TomlReader root(src.file->table, src.file->name, "");
    for (const char* first_pass : {"template", "sender", "group"}) root.array(first_pass);
    each(root, "rule", ResourceKind::rule, [&](TomlReader& r, const toml::table& t, ResourceKind k) {
      add(k, set.rules, parse_rule(r, set), r, src, t);
    });
    if (src.override) add_partners(root, api_partners);
    root.finish();
  }
  if (dir.partners) set.file_partners = dir.partners;
  set.api_partners = api_partners.build();
  for (const auto& shard : set.file_partners->shards()) check_template_uses(*shard, set);
  check_template_uses(*set.api_partners, set);
  return set;
}

size_t ResourceSet::partner_count() const {
  size_t n = file_partners->size() + api_partners->size();
  for_each_replaced_partner([&](PartnerView) { --n; });
  return n;
}

ResourceSet load_resources(const fs::path& dir) { return build_resources(read_resource_dir(dir), {}, nullptr); }

}  // namespace herald
