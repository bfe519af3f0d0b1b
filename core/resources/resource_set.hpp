#pragma once
// Resources (SPEC §4): templates, senders, groups, global rules, and partners
// with contacts and their actions.
//
// A ResourceSet is immutable once loaded; the daemon publishes it together with
// the RuleIndex compiled from it as one ResourceSnapshot (shared_ptr<const>),
// so matching and rendering never see a half-applied change. Loading validates
// everything and throws ConfigError naming file, resource, field and reason.
#include <toml++/toml.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/match/expression.hpp"
#include "core/model/message.hpp"
#include "core/render/mustache.hpp"
#include "core/resources/partner_catalog.hpp"
#include "core/resources/partner_directory.hpp"

namespace herald {

// The parts of one template; a locale variant leaves empty the parts it takes
// from the default.
enum class Part : uint8_t { subject, text, html, sms };
constexpr size_t kPartCount = 4;
const char* to_string(Part p);

struct TemplateParts {
  mustache::Template part[kPartCount];
  bool has[kPartCount] = {};
  const mustache::Template* get(Part p) const {
    auto i = static_cast<size_t>(p);
    return has[i] ? &part[i] : nullptr;
  }
};

struct Template {
  std::string id;
  Channel channel = Channel::email;
  bool partial = false;  // only a building block ({{>id}}, {{<id}}): no action or rule may send it
  std::string sender;    // sender id, optional
  TemplateParts base;
  std::map<std::string, TemplateParts, std::less<>> locales;  // "cs-CZ" → variant

  // The part for `locale`: its exact variant, then the variant of its
  // language, then the default. nullptr when the template has no such part.
  const mustache::Template* part(Part p, std::string_view locale) const;
};

struct Sender {
  std::string id;
  Mailbox from;
  std::optional<Mailbox> reply_to;
  // Appended to text and HTML parts, or placed by {{>signature}}.
  mustache::Template signature_text, signature_html;
  bool has_signature_text = false, has_signature_html = false;
};

struct Group {
  std::string id;
  std::string name;
  std::vector<Recipient> members;
};

// One entry of a rule's `to`.
struct RecipientSpec {
  enum class Kind { partner, partner_contacts, account_manager, group, actor, literal };
  Kind kind = Kind::literal;
  std::optional<ContactKind> contact_kind;  // partner.contacts(kind="email")
  std::string label;                        // partner.contacts(label="sales")
  std::string group;                        // group:<id>
  Recipient literal;
  std::string source;                       // as written, for messages
};

struct Rule {
  std::string id;
  std::string tenant;  // empty: every tenant
  std::string on;      // event type or glob ("case.*", "*")
  Expression when;
  std::vector<RecipientSpec> to;
  std::string template_id;
  std::string sender;
  std::chrono::milliseconds delay{0};
  bool attach = false;
};

struct ResourceSet {
  std::map<std::string, Template, std::less<>> templates;  // by id
  std::map<std::string, Sender, std::less<>> senders;
  std::map<std::string, Group, std::less<>> groups;
  std::map<std::string, Rule, std::less<>> rules;
  // Partners from the operator's files, and from the admin API's files,
  // which replace the former's of the same (tenant, id). Never null.
  std::shared_ptr<const PartnerCatalog> file_partners = empty_catalog();
  std::shared_ptr<const PartnerDirectory> api_partners = empty_partners();

  static std::shared_ptr<const PartnerDirectory> empty_partners() {
    static const std::shared_ptr<const PartnerDirectory> empty = PartnerDirectory::Builder().build();
    return empty;
  }
  static std::shared_ptr<const PartnerCatalog> empty_catalog() {
    static const std::shared_ptr<const PartnerCatalog> empty = std::make_shared<const PartnerCatalog>();
    return empty;
  }
  template <class Map>
  static const typename Map::mapped_type* find(const Map& m, std::string_view id) {
    auto it = m.find(id);
    return it == m.end() ? nullptr : &it->second;
  }
  const Template* find_template(std::string_view id) const { return find(templates, id); }
  const Sender* find_sender(std::string_view id) const { return find(senders, id); }
  const Group* find_group(std::string_view id) const { return find(groups, id); }
  PartnerView find_partner(std::string_view tenant, std::string_view id) const {
    if (PartnerView p = api_partners->find(tenant, id)) return p;
    return file_partners->find(tenant, id);
  }
  // Calls f(PartnerView) for each file partner an API partner replaces.
  template <class F>
  void for_each_replaced_partner(F&& f) const {
    for (size_t k = 0; k < api_partners->sorted_count(); ++k) {
      PartnerView p = api_partners->sorted(k);
      if (PartnerView replaced = file_partners->find(p.tenant(), p.id())) f(replaced);
    }
  }
  // Partners in effect (an API partner replacing a file's counts once).
  size_t partner_count() const;
};

enum class ResourceKind { template_, sender, group, rule, partner };
const char* to_string(ResourceKind k);  // "template", ...: the TOML array name

// A parsed resource file: any mix of [[template]], [[sender]], [[group]],
// [[rule]] and [[partner]] tables.
struct ResourceFile {
  std::string name;  // its path, for error messages
  toml::table table;
};

// What a reload compares to tell a file unchanged: the SHA-256 of its bytes
// (sizes and times can stay equal across an edit made within the clock's
// tick, or a backup restored with its times). And what the file gave.
struct FileState {
  std::string sha256;
  bool partners = false;                           // it holds [[partner]]
  std::shared_ptr<const PartnerDirectory> shard;   // its partners, when the file is large
};

// A resources directory as read: its files' tables without [[partner]], and
// the partners packed into shards under a catalog (their templates are
// checked by build_resources, once all templates are known).
struct ResourceDir {
  std::vector<ResourceFile> files;
  std::vector<FileState> states;  // one per file
  std::shared_ptr<const PartnerDirectory> small_shard;  // the partners of the small files
  std::shared_ptr<const PartnerCatalog> partners;
  size_t parsed = 0;        // files parsed by the read that made this (the others were kept)
  size_t shards_built = 0;  // of the catalog's shards, those it built (the others were kept)
};

// Where each template, sender, group or rule was defined: (kind, id) → file
// and table. Points into the ResourceFiles. (Partners answer for themselves:
// PartnerView::file(), PartnerView::to_json().)
struct ResourceOrigin {
  std::string file;
  const toml::table* table = nullptr;
  bool override = false;  // from the admin API's files
};
using ResourceOrigins = std::map<std::pair<ResourceKind, std::string>, ResourceOrigin>;

// Every *.toml file in `dir`, sorted by name, partners packed as each file is
// read. Throws ConfigError.
//
// A file of at least kOwnShardBytes with partners gets a shard of its own;
// the partners of all smaller files share one. With `previous` (the last
// read of `dir`), only the files whose bytes changed are parsed, and only
// the shards they feed are built again (the small files' shard from all of
// them); the others are shared with `previous`. Beside 100k partners in 100
// files, a template edit costs reading and hashing the files (0.4 s for
// 91 MB), a change to one partner file that and one shard, where reading
// everything again took ~11 s and doubled the memory while the old
// directory served on.
inline constexpr size_t kOwnShardBytes = 64 * 1024;
ResourceDir read_resource_dir(const std::filesystem::path& dir, const ResourceDir* previous = nullptr);
// The same files with their whole tables (the admin API's few files).
std::vector<ResourceFile> read_resource_files(const std::filesystem::path& dir);

// Validates and compiles `dir`, then `overrides` (whose resources replace
// the directory's of the same kind and id). Throws ConfigError naming file,
// resource, field and reason.
ResourceSet build_resources(const ResourceDir& dir, const std::vector<ResourceFile>& overrides,
                            ResourceOrigins* origins);

// read_resource_dir + build_resources without overrides.
ResourceSet load_resources(const std::filesystem::path& dir);

}  // namespace herald
