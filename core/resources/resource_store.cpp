#include "core/resources/resource_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/config/toml_reader.hpp"
#include "core/storage/file_io.hpp"
#include "core/util/memory.hpp"
#include "core/util/percent_encoding.hpp"

namespace herald {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

bool to_array(const json::array& in, toml::array& out, std::string& reason);

bool to_table(const json::object& in, toml::table& out, std::string& reason) {
  for (const auto& [k, v] : in) {
    std::string key(k);
    switch (v.kind()) {
      case json::kind::object: {
        toml::table t;
        if (!to_table(v.get_object(), t, reason)) return false;
        out.insert_or_assign(key, std::move(t));
        break;
      }
      case json::kind::array: {
        toml::array a;
        if (!to_array(v.get_array(), a, reason)) return false;
        out.insert_or_assign(key, std::move(a));
        break;
      }
      case json::kind::string: out.insert_or_assign(key, std::string(v.get_string())); break;
      case json::kind::int64: out.insert_or_assign(key, v.get_int64()); break;
      case json::kind::uint64:
        if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) {
          reason = "\"" + key + "\": integer out of range";
          return false;
        }
        out.insert_or_assign(key, static_cast<int64_t>(v.get_uint64()));
        break;
      case json::kind::double_: out.insert_or_assign(key, v.get_double()); break;
      case json::kind::bool_: out.insert_or_assign(key, v.get_bool()); break;
      case json::kind::null: reason = "\"" + key + "\": null is not a value (leave the field out)"; return false;
    }
  }
  return true;
}

bool to_array(const json::array& in, toml::array& out, std::string& reason) {
  for (const auto& v : in) {
    switch (v.kind()) {
      case json::kind::object: {
        toml::table t;
        if (!to_table(v.get_object(), t, reason)) return false;
        out.push_back(std::move(t));
        break;
      }
      case json::kind::array: {
        toml::array a;
        if (!to_array(v.get_array(), a, reason)) return false;
        out.push_back(std::move(a));
        break;
      }
      case json::kind::string: out.push_back(std::string(v.get_string())); break;
      case json::kind::int64: out.push_back(v.get_int64()); break;
      case json::kind::uint64:
        if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) {
          reason = "integer out of range";
          return false;
        }
        out.push_back(static_cast<int64_t>(v.get_uint64()));
        break;
      case json::kind::double_: out.push_back(v.get_double()); break;
      case json::kind::bool_: out.push_back(v.get_bool()); break;
      case json::kind::null: reason = "null is not a value"; return false;
    }
  }
  return true;
}

json::value node_to_json(const toml::node& n) {
  if (const auto* t = n.as_table()) return toml_to_json(*t);
  if (const auto* a = n.as_array()) {
    json::array out;
    for (const auto& e : *a) out.push_back(node_to_json(e));
    return out;
  }
  if (const auto* s = n.as_string()) return json::value(s->get());
  if (const auto* i = n.as_integer()) return json::value(i->get());
  if (const auto* f = n.as_floating_point()) return json::value(f->get());
  if (const auto* b = n.as_boolean()) return json::value(b->get());
  std::ostringstream os;  // dates and times
  n.visit([&](const auto& v) { os << v; });
  return json::value(os.str());
}

// File names for API resources: kind@[tenant@]id.toml, with every byte
// outside [A-Za-z0-9_.-] percent-encoded (ids are any printable ASCII).
std::string encode_name(std::string_view s) {
  std::string out;
  // A leading '.' is encoded too: no hidden or "." / ".." names.
  append_percent_encoded(out, s.substr(0, 1), [](unsigned char c) { return c != '.' && c != '~' && is_unreserved(c); });
  if (!s.empty()) append_percent_encoded(out, s.substr(1), [](unsigned char c) { return c != '~' && is_unreserved(c); });
  return out;
}

// Atomic, durable replace of `path` by `data`; returns the error text or "".
std::string write_file(const fs::path& path, const std::string& data) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return "open " + tmp.string() + ": " + std::strerror(errno);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return "write " + tmp.string() + ": " + why;
    }
    off += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "write " + path.string() + ": " + why;
  }
  if (fsync_directory(path.parent_path())) return "fsync " + path.parent_path().string();
  return "";
}

ResourceStore::Answer failure(int status, std::string error, std::string reason) {
  ResourceStore::Answer a;
  a.status = status;
  a.error = std::move(error);
  a.reason = std::move(reason);
  return a;
}

std::vector<ResourceFile> read_api_dir(const fs::path& dir) {
  fs::create_directories(dir);
  return read_resource_files(dir);
}

}  // namespace

bool json_to_toml(const json::value& in, toml::table& out, std::string& reason) {
  if (!in.is_object()) {
    reason = "the body must be a JSON object";
    return false;
  }
  return to_table(in.get_object(), out, reason);
}

json::value toml_to_json(const toml::table& in) {
  json::object out;
  for (const auto& [k, v] : in) out[k.str()] = node_to_json(v);
  return out;
}

std::optional<ResourceKind> resource_kind_from_plural(std::string_view s) {
  if (s == "templates") return ResourceKind::template_;
  if (s == "senders") return ResourceKind::sender;
  if (s == "groups") return ResourceKind::group;
  if (s == "rules") return ResourceKind::rule;
  if (s == "partners") return ResourceKind::partner;
  return std::nullopt;
}

ResourceStore::ResourceStore(fs::path resources_dir, fs::path api_dir, MetricsRegistry* metrics)
    : resources_dir_(std::move(resources_dir)), api_dir_(std::move(api_dir)) {
  if (metrics) {
    generation_gauge_ = &metrics->gauge("herald_resources_generation", "Resource snapshots published (1 at start)");
    actions_gauge_ = &metrics->gauge("herald_rule_index_actions", "Partner actions and global rules in the index");
    partner_bytes_gauge_ = &metrics->gauge("herald_resources_partner_bytes",
                                           "Bytes held by the partner directories (contacts, actions, their text)");
  }
  files_ = read_resource_dir(resources_dir_);
  api_files_ = read_api_dir(api_dir_);
  ResourceOrigins origins;
  ResourceSet set = build_resources(files_, api_files_, &origins);
  origins_ = std::move(origins);
  snapshots_ = std::make_unique<SnapshotHolder>(std::make_shared<const ResourceSnapshot>(std::move(set), generation_));
  update_gauges();
  release_free_memory();  // the files' parse trees
}

void ResourceStore::update_gauges() {
  if (!generation_gauge_) return;
  generation_gauge_->set(static_cast<int64_t>(generation_));
  auto snap = snapshots_->get();
  actions_gauge_->set(static_cast<int64_t>(snap->index.size()));
  partner_bytes_gauge_->set(
      static_cast<int64_t>(snap->resources.file_partners->memory_bytes() + snap->resources.api_partners->memory_bytes()));
}

ResourceStore::ReloadReport ResourceStore::reload() {
  std::lock_guard serial(reload_mutex_);
  // The operator's files are read before taking the store's lock: with 100k
  // partners that takes seconds, and the admin API need not wait for it.
  // files_ changes only here, under both locks, so reading it under
  // reload_mutex_ alone is safe.
  ResourceDir files = read_resource_dir(resources_dir_, &files_);
  ReloadReport report{files.files.size(), files.parsed, files.partners->shards().size(), files.shards_built};
  std::lock_guard lock(mutex_);
  auto api_files = read_api_dir(api_dir_);
  ResourceOrigins origins;
  ResourceSet set = build_resources(files, api_files, &origins);
  files_ = std::move(files);
  api_files_ = std::move(api_files);
  publish(std::move(set), std::move(origins));
  release_free_memory();
  return report;
}

void ResourceStore::publish(ResourceSet&& set, ResourceOrigins&& origins) {
  origins_ = std::move(origins);
  snapshots_->publish(std::make_shared<const ResourceSnapshot>(std::move(set), ++generation_));
  update_gauges();
}

uint64_t ResourceStore::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

fs::path ResourceStore::file_for(ResourceKind kind, std::string_view tenant, std::string_view id) const {
  std::string name = to_string(kind);
  if (kind == ResourceKind::partner) name += "@" + encode_name(tenant);
  name += "@" + encode_name(id) + ".toml";
  return api_dir_ / name;
}

ResourceStore::Answer ResourceStore::get(ResourceKind kind, std::string_view tenant, std::string_view id) const {
  std::lock_guard lock(mutex_);
  Answer a;
  if (kind == ResourceKind::partner) {
    PartnerView p = snapshots_->get()->resources.find_partner(tenant, id);
    if (!p) return failure(404, "not_found", "no partner with this id");
    a.body = p.to_json();
    return a;
  }
  auto it = origins_.find({kind, std::string(id)});
  if (it == origins_.end()) return failure(404, "not_found", std::string("no ") + to_string(kind) + " with this id");
  a.body = toml_to_json(*it->second.table);
  return a;
}

ResourceStore::Answer ResourceStore::list(ResourceKind kind, std::string_view tenant, size_t limit,
                                          std::string_view after) const {
  std::lock_guard lock(mutex_);
  json::array items;
  std::string last;
  bool more = false;
  auto item = [&](std::string_view id, bool api, std::string_view file) {
    if (items.size() == limit) {
      more = true;
      return false;
    }
    items.push_back(json::object{{"id", id}, {"origin", api ? "api" : "file"}, {"file", file}});
    last = id;
    return true;
  };
  if (kind == ResourceKind::partner) {
    // Both directories in (tenant, id) order, merged; an API partner hides
    // the file's of the same id.
    const ResourceSet& set = snapshots_->get()->resources;
    const PartnerCatalog& files = *set.file_partners;
    const PartnerDirectory& api = *set.api_partners;
    auto start = [&](const auto& d) {
      size_t k = d.lower_bound(tenant, after);
      if (!after.empty() && k < d.sorted_count() && d.sorted(k).tenant() == tenant && d.sorted(k).id() == after) ++k;
      return k;
    };
    auto at = [&](const auto& d, size_t k) {
      return k < d.sorted_count() && d.sorted(k).tenant() == tenant ? d.sorted(k) : PartnerView{};
    };
    for (size_t i = start(files), j = start(api);;) {
      PartnerView f = at(files, i), a = at(api, j);
      if (!f && !a) break;
      if (a && (!f || a.id() <= f.id())) {
        if (f && a.id() == f.id()) ++i;
        if (!item(a.id(), true, a.file())) break;
        ++j;
      } else {
        if (!item(f.id(), false, f.file())) break;
        ++i;
      }
    }
  } else {
    for (auto it = origins_.upper_bound({kind, std::string(after)}); it != origins_.end() && it->first.first == kind;
         ++it)
      if (!item(it->first.second, it->second.override, it->second.file)) break;
  }
  Answer a;
  json::object o{{"items", std::move(items)}};
  if (more) o["next"] = last;
  a.body = std::move(o);
  return a;
}

ResourceStore::Answer ResourceStore::put(ResourceKind kind, std::string_view tenant, std::string_view id,
                                         const json::value& body) {
  toml::table t;
  std::string reason;
  if (!json_to_toml(body, t, reason)) return failure(400, "bad_resource", reason);
  auto check = [&](const char* field, std::string_view want) -> std::optional<Answer> {
    if (const auto* v = t.get(field); v && (!v->is_string() || v->as_string()->get() != want))
      return failure(400, "id_mismatch", std::string("\"") + field + "\" in the body differs from the URL");
    t.insert_or_assign(field, std::string(want));
    return std::nullopt;
  };
  if (auto bad = check("id", id)) return *bad;
  if (kind == ResourceKind::partner)
    if (auto bad = check("tenant", tenant)) return *bad;

  std::lock_guard lock(mutex_);
  const fs::path path = file_for(kind, tenant, id);
  ResourceFile file{path.string(), {}};
  toml::array arr;
  arr.push_back(t);
  file.table.insert_or_assign(to_string(kind), std::move(arr));
  std::vector<ResourceFile> candidate = api_files_;
  bool created = true;
  for (auto& f : candidate) {
    if (f.name == file.name) {
      f.table = file.table;
      created = false;
    }
  }
  if (created) candidate.push_back(file);
  ResourceOrigins origins;
  ResourceSet set;
  try {
    set = build_resources(files_, candidate, &origins);
  } catch (const ConfigError& e) {
    return failure(422, "invalid_resource", e.what());
  }
  std::ostringstream os;
  os << "# Written by the herald admin API (PUT /v1/" << to_string(kind) << "s/...); edit through the API.\n"
     << file.table << "\n";
  if (auto err = write_file(path, os.str()); !err.empty()) return failure(500, "write_failed", err);
  api_files_ = std::move(candidate);
  publish(std::move(set), std::move(origins));
  Answer a;
  a.status = created ? 201 : 200;
  a.body = toml_to_json(t);
  return a;
}

ResourceStore::Answer ResourceStore::remove(ResourceKind kind, std::string_view tenant, std::string_view id) {
  std::lock_guard lock(mutex_);
  std::string file;
  bool api = false;
  if (kind == ResourceKind::partner) {
    const ResourceSet& set = snapshots_->get()->resources;
    if (PartnerView p = set.api_partners->find(tenant, id)) api = true, file = p.file();
    else if (PartnerView q = set.file_partners->find(tenant, id)) file = q.file();
  } else if (auto it = origins_.find({kind, std::string(id)}); it != origins_.end()) {
    api = it->second.override;
    file = it->second.file;
  }
  if (file.empty()) return failure(404, "not_found", std::string("no ") + to_string(kind) + " with this id");
  if (!api)
    return failure(409, "defined_in_file", "defined in " + file + "; change that file and reload (SIGHUP) instead");
  const std::string name = file_for(kind, tenant, id).string();
  std::vector<ResourceFile> candidate;
  for (const auto& f : api_files_)
    if (f.name != name) candidate.push_back(f);
  ResourceOrigins origins;
  ResourceSet set;
  try {
    set = build_resources(files_, candidate, &origins);
  } catch (const ConfigError& e) {
    return failure(409, "in_use", std::string("removing it would break the resources: ") + e.what());
  }
  if (::unlink(name.c_str()) != 0 && errno != ENOENT)
    return failure(500, "write_failed", "unlink " + name + ": " + std::strerror(errno));
  fsync_directory(api_dir_);
  api_files_ = std::move(candidate);
  publish(std::move(set), std::move(origins));
  Answer a;
  a.status = 204;
  return a;
}

std::shared_ptr<const ResourceSnapshot> ResourceStore::candidate(const json::object& extra, std::string& error) const {
  ResourceFile file{"preview", {}};
  for (const auto& [plural, items] : extra) {
    auto kind = resource_kind_from_plural(plural);
    if (!kind || !items.is_array()) {
      error = "resources: \"" + std::string(plural) + "\" is not a list of templates, senders, groups, rules or partners";
      return nullptr;
    }
    toml::array arr;
    for (const auto& item : items.get_array()) {
      toml::table t;
      if (!json_to_toml(item, t, error)) return nullptr;
      arr.push_back(std::move(t));
    }
    file.table.insert_or_assign(to_string(*kind), std::move(arr));
  }
  std::lock_guard lock(mutex_);
  std::vector<ResourceFile> overrides = api_files_;
  overrides.push_back(std::move(file));
  try {
    return std::make_shared<const ResourceSnapshot>(build_resources(files_, overrides, nullptr), 0);
  } catch (const ConfigError& e) {
    error = e.what();
    return nullptr;
  }
}

}  // namespace herald
