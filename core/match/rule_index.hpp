#pragma once
// RuleIndex: event → candidate actions, compiled from a ResourceSet.
//
// Keyed by (tenant, partner, event type), so matching one event costs one hash
// lookup plus the number of candidates, independent of how many partners and
// actions exist. The index points into the ResourceSet it was built from; both
// live together in an immutable ResourceSnapshot.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model/document_event.hpp"
#include "core/resources/resource_set.hpp"

namespace herald {

struct MatchedAction {
  const Partner* partner = nullptr;
  const Contact* contact = nullptr;
  const Action* action = nullptr;
  const Template* tmpl = nullptr;
};

class RuleIndex final {
 public:
  explicit RuleIndex(const ResourceSet& set);

  // Appends every action that fires for `event` to `out`.
  void match(const DocumentEvent& event, std::vector<MatchedAction>& out) const;
  size_t size() const { return entries_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<MatchedAction>, Hash, std::equal_to<>> by_key_;
  size_t entries_ = 0;
};

// An immutable, consistent view of all resources plus their compiled index.
struct ResourceSnapshot {
  explicit ResourceSnapshot(ResourceSet&& set, uint64_t gen)
      : resources(std::move(set)), index(resources), generation(gen) {}
  ResourceSnapshot(const ResourceSnapshot&) = delete;
  ResourceSnapshot& operator=(const ResourceSnapshot&) = delete;

  const ResourceSet resources;
  const RuleIndex index;
  const uint64_t generation;
};

// RCU-style publication: readers take a reference in one atomic load and keep
// it for the whole event; writers swap in a new snapshot without blocking them.
class SnapshotHolder final {
 public:
  explicit SnapshotHolder(std::shared_ptr<const ResourceSnapshot> initial) : current_(std::move(initial)) {}
  std::shared_ptr<const ResourceSnapshot> get() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const ResourceSnapshot> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const ResourceSnapshot>> current_;
};

}  // namespace herald
