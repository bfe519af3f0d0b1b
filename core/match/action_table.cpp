#include "core/match/action_table.hpp"

#include <bit>
#include <cstring>
#include <new>
#include <random>

#include "core/match/rule_index.hpp"

namespace herald {
namespace {

// An arena entry: this header, the key (tenant \x1f partner \x1f type),
// padding to 8, then `count` MatchedActions.
struct Header {
  uint32_t key_len;
  uint32_t count;
  uint32_t tenant_len;
  uint32_t partner_len;
  bool any_when;
};

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

inline uint64_t mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// wyhash-style: 8 bytes per multiply, good avalanche, no table.
uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = seed ^ mix(n, 0x9E3779B97F4A7C15ull);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h ^ w, 0xA0761D6478BD642Full);
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  return mix(h ^ w, 0xE7037ED1A0B428DBull);
}

size_t entry_size(size_t key_len, size_t count) {
  return align8(sizeof(Header) + key_len) + count * sizeof(MatchedAction);
}

}  // namespace

uint64_t ActionTable::hash(std::string_view tenant, std::string_view partner, std::string_view type) const {
  return hash_bytes(type, hash_bytes(partner, hash_bytes(tenant, seed_)));
}

ActionTable::ActionTable(std::span<const Entry> entries) : seed_(std::random_device{}()), groups_(entries.size()) {
  size_t cap = std::bit_ceil(std::max<size_t>(16, entries.size() * 2));
  mask_ = cap - 1;
  slots_.assign(cap, Slot{0, kEmpty});
  size_t total = 0;
  for (const auto& e : entries) total += entry_size(e.tenant.size() + e.partner.size() + e.type.size() + 2, e.count);
  arena_ = std::make_unique<std::byte[]>(std::max<size_t>(total, 8));
  size_t off = 0;
  for (const auto& e : entries) {
    const size_t key_len = e.tenant.size() + e.partner.size() + e.type.size() + 2;
    std::byte* base = arena_.get() + off;
    Header h{static_cast<uint32_t>(key_len), e.count, static_cast<uint32_t>(e.tenant.size()),
             static_cast<uint32_t>(e.partner.size()), e.any_when};
    std::memcpy(base, &h, sizeof h);
    char* key = reinterpret_cast<char*>(base + sizeof(Header));
    std::memcpy(key, e.tenant.data(), e.tenant.size());
    key[e.tenant.size()] = '\x1f';
    std::memcpy(key + e.tenant.size() + 1, e.partner.data(), e.partner.size());
    key[e.tenant.size() + 1 + e.partner.size()] = '\x1f';
    std::memcpy(key + e.tenant.size() + e.partner.size() + 2, e.type.data(), e.type.size());
    auto* actions = reinterpret_cast<MatchedAction*>(base + align8(sizeof(Header) + key_len));
    for (uint32_t i = 0; i < e.count; ++i) new (actions + i) MatchedAction(e.actions[i]);
    uint64_t hv = hash(e.tenant, e.partner, e.type);
    size_t i = hv & mask_;
    while (slots_[i].offset != kEmpty) i = (i + 1) & mask_;
    slots_[i] = {hv, off};
    off += entry_size(key_len, e.count);
  }
}

ActionTable::Hit ActionTable::find(std::string_view tenant, std::string_view partner, std::string_view type) const {
  if (slots_.empty()) return {};
  const uint64_t hv = hash(tenant, partner, type);
  const size_t key_len = tenant.size() + partner.size() + type.size() + 2;
  for (size_t i = hv & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.offset == kEmpty) return {};
    if (s.hash != hv) continue;
    const std::byte* base = arena_.get() + s.offset;
    Header h;
    std::memcpy(&h, base, sizeof h);
    if (h.key_len != key_len || h.tenant_len != tenant.size() || h.partner_len != partner.size()) continue;
    const char* key = reinterpret_cast<const char*>(base + sizeof(Header));
    if (std::string_view(key, tenant.size()) != tenant ||
        std::string_view(key + tenant.size() + 1, partner.size()) != partner ||
        std::string_view(key + tenant.size() + partner.size() + 2, type.size()) != type)
      continue;
    const auto* actions = reinterpret_cast<const MatchedAction*>(base + align8(sizeof(Header) + key_len));
    return {{actions, h.count}, h.any_when};
  }
}

}  // namespace herald
