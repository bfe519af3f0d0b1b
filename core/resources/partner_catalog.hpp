#pragma once
// PartnerCatalog: the operator's partners, in shards (one PartnerDirectory
// per large file, one for all the small files) under one lookup table.
//
// A reload rebuilds only the shards whose files changed and shares the
// others with the snapshot it replaces (read_resource_dir). In one directory,
// changing one file of 100 with 100k partners × 10 contacts meant parsing
// them all again (~11 s) and building a second copy of everything beside the
// one still serving (a peak of ~220 MB for a daemon of ~100).
//
// A lookup is one probe of the catalog's table (12-byte slots: the key's
// tag, the shard, the partner's slot there), then the partner's record, one
// cache miss more than a single directory's; with one shard the catalog
// has no table and asks that shard.
#include <memory>
#include <string_view>
#include <vector>

#include "core/resources/partner_directory.hpp"

namespace herald {

class PartnerCatalog final {
 public:
  using Shards = std::vector<std::shared_ptr<const PartnerDirectory>>;
  // Throws ConfigError naming both files when a (tenant, id) is in two
  // shards.
  explicit PartnerCatalog(Shards shards);
  PartnerCatalog() : PartnerCatalog(Shards{}) {}

  PartnerView find(std::string_view tenant, std::string_view id) const;
  size_t size() const { return count_; }
  size_t action_count() const;
  // The partners sorted by (tenant, id), as PartnerDirectory lists them.
  size_t sorted_count() const { return count_; }
  PartnerView sorted(size_t k) const;
  size_t lower_bound(std::string_view tenant, std::string_view id) const;
  const Shards& shards() const { return shards_; }
  size_t memory_bytes() const;

 private:
  struct Slot {
    uint32_t tag = 0;
    uint32_t shard = 0;  // index + 1; 0: free
    uint32_t slot = 0;   // the partner's slot in its shard
  };
  struct Position {
    uint32_t shard;
    uint32_t slot;
  };
  uint64_t hash(std::string_view tenant, std::string_view id) const;
  PartnerView view(uint32_t shard, uint32_t slot) const { return {shards_[shard].get(), slot}; }

  Shards shards_;
  std::vector<Slot> slots_;       // open addressing, linear probing; empty with one shard
  std::vector<Position> order_;   // by (tenant, id); empty with one shard
  size_t count_ = 0;
  uint64_t seed_;
};

}  // namespace herald
