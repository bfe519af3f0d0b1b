#pragma once
// RuleIndex: event → the messages to produce, compiled from a ResourceSet.
//
// Partner actions are found through the event's partner (one hash lookup in
// the API's PartnerDirectory and the files' PartnerCatalog, then the
// partner's contiguous actions) and global
// rules by event type (exact), by literal prefix (`case.*`, `*`) and, for the
// rare pattern with an inner `*`, in a short list matched by glob. Matching
// one event costs a few hash lookups plus its candidates, independent of how
// many partners, actions and rules exist. The index points into the ResourceSet it
// was built from; both live together in an immutable ResourceSnapshot.
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model/document_event.hpp"
#include "core/resources/resource_set.hpp"

namespace herald {

// The event as template/expression context, built on first use: events no
// action or rule condition looks at never pay for it.
//
// The JSON lives in a monotonic arena, first in a buffer inside the context:
// it is built once per event, read while that event's messages render, and
// dropped whole. Built on the heap, its allocations and its recursive
// destruction cost ~2 500 instructions of each rendered e-mail (callgrind).
// Nothing may keep a part of it beyond the context (a copy of a
// json::value shares its source's memory resource).
class EventContext final {
 public:
  explicit EventContext(const DocumentEvent& event) : event_(&event) {}
  EventContext(const EventContext&) = delete;
  EventContext& operator=(const EventContext&) = delete;
  // The same event, moved elsewhere (into a shared_ptr once it turned out to
  // produce messages): the cached JSON stays valid.
  void rebind(const DocumentEvent& moved) { event_ = &moved; }
  const boost::json::value& get() {
    if (!json_) json_.emplace(to_json(*event_, false, storage()));
    return *json_;
  }
  boost::json::value& mutable_json() {
    get();
    return *json_;
  }
  // Where values added to the context should live.
  boost::json::storage_ptr storage() { return boost::json::storage_ptr(&arena_); }

 private:
  // The benchmark's event (parties, a document, data) fits: callgrind saw
  // no block taken from the heap. A larger context continues there.
  static constexpr size_t kInlineBytes = 4096;

  const DocumentEvent* event_;
  alignas(std::max_align_t) unsigned char inline_[kInlineBytes];
  boost::json::monotonic_resource arena_{inline_, kInlineBytes};
  std::optional<boost::json::value> json_;  // after arena_: destroyed first
};

struct MatchedAction {
  PartnerView partner;  // the event's partner in resources, if any
  ContactView contact;  // the contact (partner actions, partner.contacts(...))
  ActionView action;    // set for a partner action
  const Rule* rule = nullptr;  // set for a global rule
  const Template* tmpl = nullptr;
  RecipientView to;     // whom the message goes to
};

bool glob_match(std::string_view pattern, std::string_view text);

class RuleIndex final {
 public:
  explicit RuleIndex(const ResourceSet& set);

  // Appends every message `event` produces to `out`.
  void match(const DocumentEvent& event, EventContext& context, std::vector<MatchedAction>& out) const;
  size_t size() const { return entries_; }

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  using RuleList = std::vector<const Rule*>;

  void expand(const Rule& rule, const DocumentEvent& event, PartnerView partner,
              std::vector<MatchedAction>& out) const;
  void match_rules(std::span<const Rule* const> rules, const DocumentEvent& event, EventContext& ctx,
                   PartnerView partner,
                   std::vector<MatchedAction>& out) const;

  const ResourceSet& set_;
  std::unordered_map<std::string, RuleList, KeyHash, std::equal_to<>> rules_exact_;
  std::unordered_map<std::string, RuleList, KeyHash, std::equal_to<>> rules_prefix_;  // "case." for "case.*"
  std::vector<size_t> prefix_lengths_;                                       // distinct key lengths
  RuleList rules_glob_;
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
