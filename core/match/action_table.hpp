#pragma once
// ActionTable: (tenant, partner, event type) → the partner actions to try.
//
// The hot lookup of matching, sized for a million actions. A std::unordered_map
// costs about six cache misses per cold lookup (bucket, node, heap key, heap
// vector, contact, action); this open-addressing table costs two: a 16-byte
// slot, then one arena entry holding the key and its candidates side by side,
// each candidate already carrying its recipient. Hashing reads 8 bytes per
// step with a per-table random seed, so crafted partner ids cannot aim at
// collisions.
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace herald {

struct MatchedAction;

class ActionTable final {
 public:
  struct Entry {
    std::string_view tenant, partner, type;
    const MatchedAction* actions;
    uint32_t count;
    bool any_when;  // some action has a `when` to evaluate
  };
  ActionTable() = default;
  explicit ActionTable(std::span<const Entry> entries);

  struct Hit {
    std::span<const MatchedAction> actions;
    bool any_when = false;
  };
  Hit find(std::string_view tenant, std::string_view partner, std::string_view type) const;
  size_t groups() const { return groups_; }

 private:
  struct Slot {
    uint64_t hash;
    uint64_t offset;  // into arena_; kEmpty when free
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  uint64_t hash(std::string_view tenant, std::string_view partner, std::string_view type) const;

  std::vector<Slot> slots_;
  std::unique_ptr<std::byte[]> arena_;
  uint64_t seed_ = 0;
  size_t mask_ = 0;
  size_t groups_ = 0;
};

}  // namespace herald
