#pragma once
// Resources (SPEC §4): templates and partners with contacts and their actions.
//
// A ResourceSet is immutable once loaded; the daemon publishes it together with
// the RuleIndex compiled from it as one ResourceSnapshot (shared_ptr<const>),
// so matching and rendering never see a half-applied change. Loading validates
// everything and throws ConfigError naming file, resource, field and reason.
#include <filesystem>
#include <string_view>
#include <map>
#include <string>
#include <vector>

#include "core/render/field_template.hpp"

namespace herald {

enum class Channel { email, sms, webhook };
enum class ContactKind { email, mobile, landline, web };

const char* to_string(Channel c);
Channel channel_from_string(std::string_view s);  // inverse of to_string
const char* to_string(ContactKind k);

struct Template {
  std::string id;
  Channel channel = Channel::email;
  std::string subject_source;
  std::string text_source;
  FieldTemplate subject;
  FieldTemplate text;
};

struct Action {
  std::string on;           // event type
  std::string template_id;
  bool attach = false;      // attach the document's attachments
};

struct Contact {
  std::string id;
  ContactKind kind = ContactKind::email;
  std::string value;  // address or number
  std::string label;  // "sales", "warehouse", ...
  std::string name;   // display name
  std::vector<Action> actions;
};

struct Partner {
  std::string tenant = "default";
  std::string id;
  std::string name;
  std::string locale;
  std::vector<Contact> contacts;
};

struct ResourceSet {
  std::map<std::string, Template> templates;  // by id
  std::map<std::string, Partner> partners;    // by partner_key(tenant, id)

  static std::string partner_key(std::string_view tenant, std::string_view id) {
    std::string k(tenant);
    k += '\x1f';
    k += id;
    return k;
  }
  const Template* find_template(const std::string& id) const {
    auto it = templates.find(id);
    return it == templates.end() ? nullptr : &it->second;
  }
};

// Loads every *.toml file in `dir` (sorted by name). A file may hold any mix
// of [[template]] and [[partner]] tables. Throws ConfigError.
ResourceSet load_resources(const std::filesystem::path& dir);

}  // namespace herald
