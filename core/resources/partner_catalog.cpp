#include "core/resources/partner_catalog.hpp"

#include <algorithm>
#include <bit>
#include <random>

#include "core/config/toml_reader.hpp"
#include "core/util/hash.hpp"

namespace herald {

namespace {

// Whether `p` comes before (tenant, id) in the catalog's order.
bool key_less(const PartnerView& p, std::string_view tenant, std::string_view id) {
  int c = p.tenant().compare(tenant);
  return c < 0 || (c == 0 && p.id() < id);
}

}  // namespace

PartnerCatalog::PartnerCatalog(Shards shards) : shards_(std::move(shards)), seed_(std::random_device{}()) {
  std::erase_if(shards_, [](const auto& s) { return !s || s->size() == 0; });
  for (const auto& s : shards_) count_ += s->size();
  if (shards_.size() <= 1) return;
  // Load at most 1/2: linear probing stays short, and the table is 12 bytes
  // a slot (3 MB for 100k partners).
  slots_.resize(std::bit_ceil(std::max<size_t>(16, count_ * 2)));
  const size_t mask = slots_.size() - 1;
  order_.reserve(count_);
  for (uint32_t s = 0; s < shards_.size(); ++s) {
    const PartnerDirectory& shard = *shards_[s];
    for (size_t k = 0; k < shard.sorted_count(); ++k) {
      const PartnerView p = shard.sorted(k);
      const uint64_t h = hash(p.tenant(), p.id());
      const auto tag = static_cast<uint32_t>(h >> 32);
      size_t i = h & mask;
      for (; slots_[i].shard != 0; i = (i + 1) & mask) {
        const Slot& other = slots_[i];
        if (other.tag != tag) continue;
        const PartnerView q = view(other.shard - 1, other.slot);
        if (q.id() == p.id() && q.tenant() == p.tenant())
          throw ConfigError(std::string(p.file()) + ": duplicate partner id \"" + std::string(p.id()) +
                            "\" (tenant \"" + std::string(p.tenant()) + "\"), already in " + std::string(q.file()));
      }
      slots_[i] = {tag, s + 1, p.i_};
      order_.push_back({s, p.i_});
    }
  }
  std::sort(order_.begin(), order_.end(),
            [&](Position a, Position b) {
              const PartnerView y = view(b.shard, b.slot);
              return key_less(view(a.shard, a.slot), y.tenant(), y.id());
            });
}

uint64_t PartnerCatalog::hash(std::string_view tenant, std::string_view id) const {
  return hash_bytes(id, hash_bytes(tenant, seed_));
}

PartnerView PartnerCatalog::find(std::string_view tenant, std::string_view id) const {
  if (shards_.empty()) return {};
  if (shards_.size() == 1) return shards_[0]->find(tenant, id);
  const uint64_t h = hash(tenant, id);
  const auto tag = static_cast<uint32_t>(h >> 32);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask; slots_[i].shard != 0; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.tag != tag) continue;
    PartnerView p = view(s.shard - 1, s.slot);
    if (p.id() == id && p.tenant() == tenant) return p;
  }
  return {};
}

size_t PartnerCatalog::action_count() const {
  size_t n = 0;
  for (const auto& s : shards_) n += s->action_count();
  return n;
}

PartnerView PartnerCatalog::sorted(size_t k) const {
  if (shards_.size() == 1) return shards_[0]->sorted(k);
  return view(order_[k].shard, order_[k].slot);
}

size_t PartnerCatalog::lower_bound(std::string_view tenant, std::string_view id) const {
  if (shards_.empty()) return 0;
  if (shards_.size() == 1) return shards_[0]->lower_bound(tenant, id);
  auto it = std::lower_bound(order_.begin(), order_.end(), 0,
                             [&](Position pos, int) { return key_less(view(pos.shard, pos.slot), tenant, id); });
  return static_cast<size_t>(it - order_.begin());
}

size_t PartnerCatalog::memory_bytes() const {
  size_t n = slots_.size() * sizeof(Slot) + order_.size() * sizeof(Position);
  for (const auto& s : shards_) n += s->memory_bytes();
  return n;
}

}  // namespace herald
