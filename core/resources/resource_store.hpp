#pragma once
// ResourceStore: the resources behind the admin API (SPEC §4).
//
// Two sources: the operator's files in `resources_dir` (read at start and on
// SIGHUP) and the admin API's files in `api_dir` (one TOML file per resource,
// written by PUT, removed by DELETE), whose resources replace the operator's
// of the same kind and id. Every change is validated by compiling the whole
// candidate set first: a bad resource is refused with the loader's error
// (resource, field, reason; line/column for templates) and nothing changes.
// A good one is written atomically (temp file, fsync, rename, fsync dir),
// then published as a new snapshot; readers never block on a writer.
//
// Changes are serialized by a mutex: they are rare, and each compiles the
// full set (milliseconds for the seed, about a second for 100k partners). A
// reload reads the operator's files before it takes that mutex, so API calls
// wait for its compile, not for its read.
#include <boost/json/value.hpp>

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "core/match/rule_index.hpp"
#include "core/resources/resource_set.hpp"
#include "core/util/metrics.hpp"

namespace herald {

// JSON ↔ TOML for resource bodies. Returns false (with `reason`) for values
// TOML cannot hold: null, integers beyond int64.
bool json_to_toml(const boost::json::value& in, toml::table& out, std::string& reason);
boost::json::value toml_to_json(const toml::table& in);

// "templates" → template, ... (the admin API's path segment).
std::optional<ResourceKind> resource_kind_from_plural(std::string_view s);

class ResourceStore final {
 public:
  // Loads both directories (creating `api_dir`). Throws ConfigError.
  // With `metrics`, publishes herald_resources_generation and
  // herald_rule_index_actions.
  ResourceStore(std::filesystem::path resources_dir, std::filesystem::path api_dir, MetricsRegistry* metrics = nullptr);

  // What matching and rendering read.
  const SnapshotHolder& snapshots() const { return *snapshots_; }

  // Reads both directories again and publishes the result (SIGHUP). Throws
  // ConfigError; the previous snapshot keeps serving. Only changed files
  // are parsed, and only the partner shards they feed are built
  // (read_resource_dir).
  struct ReloadReport {
    size_t files = 0;          // in the operator's directory
    size_t parsed = 0;         // parses of them (the unchanged are kept as they were)
    size_t shards = 0;         // partner shards
    size_t shards_built = 0;   // of them, built again (the rest shared with the last read)
  };
  ReloadReport reload();

  struct Answer {
    int status = 200;          // HTTP status
    std::string error;         // machine code when status >= 400
    std::string reason;        // human text when status >= 400
    boost::json::value body;   // the answer's JSON when status < 400
  };
  Answer get(ResourceKind kind, std::string_view tenant, std::string_view id) const;
  Answer list(ResourceKind kind, std::string_view tenant, size_t limit, std::string_view after) const;
  Answer put(ResourceKind kind, std::string_view tenant, std::string_view id, const boost::json::value& body);
  Answer remove(ResourceKind kind, std::string_view tenant, std::string_view id);

  // A snapshot with `extra` resources applied on top (nothing persisted or
  // published): POST /v1/preview with unsaved resources.
  std::shared_ptr<const ResourceSnapshot> candidate(const boost::json::object& extra, std::string& error) const;

  uint64_t generation() const;

 private:
  std::filesystem::path file_for(ResourceKind kind, std::string_view tenant, std::string_view id) const;
  void publish(ResourceSet&& set, ResourceOrigins&& origins);
  void update_gauges();

  std::filesystem::path resources_dir_;
  std::filesystem::path api_dir_;
  std::unique_ptr<SnapshotHolder> snapshots_;
  mutable std::mutex mutex_;
  std::mutex reload_mutex_;  // one reload at a time; taken before mutex_
  ResourceDir files_;                    // the operator's, as last read
  std::vector<ResourceFile> api_files_;  // the admin API's
  ResourceOrigins origins_;
  uint64_t generation_ = 1;
  Gauge* generation_gauge_ = nullptr;
  Gauge* actions_gauge_ = nullptr;
  Gauge* partner_bytes_gauge_ = nullptr;
};

}  // namespace herald
