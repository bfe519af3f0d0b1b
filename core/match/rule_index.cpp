#include "core/match/rule_index.hpp"

#include <algorithm>

namespace herald {
namespace {

constexpr uint64_t kFnvBasis = 14695981039346656037ull;

// FNV-1a: the key's pieces hash exactly like their '\x1f'-joined string, so
// a lookup never builds the joined key.
uint64_t fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void append_key(std::string& key, std::string_view tenant, std::string_view partner, std::string_view type) {
  key.clear();
  key.append(tenant);
  key += '\x1f';
  key.append(partner);
  key += '\x1f';
  key.append(type);
}

}  // namespace

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative '*' matching with one backtrack point (linear for these patterns).
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

size_t RuleIndex::KeyHash::operator()(std::string_view k) const noexcept { return fnv(kFnvBasis, k); }

size_t RuleIndex::KeyHash::operator()(const KeyParts& k) const noexcept {
  uint64_t h = fnv(kFnvBasis, k.tenant);
  h = fnv(h, "\x1f");
  h = fnv(h, k.partner);
  h = fnv(h, "\x1f");
  return fnv(h, k.type);
}

bool RuleIndex::KeyEq::operator()(const KeyParts& p, std::string_view k) const noexcept {
  if (k.size() != p.tenant.size() + p.partner.size() + p.type.size() + 2) return false;
  if (k.substr(0, p.tenant.size()) != p.tenant || k[p.tenant.size()] != '\x1f') return false;
  k.remove_prefix(p.tenant.size() + 1);
  if (k.substr(0, p.partner.size()) != p.partner || k[p.partner.size()] != '\x1f') return false;
  return k.substr(p.partner.size() + 1) == p.type;
}

RuleIndex::RuleIndex(const ResourceSet& set) : set_(set) {
  std::string key;
  for (const auto& [_, partner] : set.partners) {
    for (const auto& contact : partner.contacts) {
      for (const auto& action : contact.actions) {
        append_key(key, partner.tenant, partner.id, action.on);
        by_key_[key].push_back({&partner, &contact, &action, set.find_template(action.template_id)});
        ++entries_;
      }
    }
  }
  for (const auto& [_, rule] : set.rules) {
    ++entries_;
    size_t star = rule.on.find('*');
    if (star == std::string::npos) {
      rules_exact_[rule.on].push_back(&rule);
    } else if (star == rule.on.size() - 1) {
      std::string prefix = rule.on.substr(0, star);
      rules_prefix_[prefix].push_back(&rule);
      if (std::find(prefix_lengths_.begin(), prefix_lengths_.end(), prefix.size()) == prefix_lengths_.end())
        prefix_lengths_.push_back(prefix.size());
    } else {
      rules_glob_.push_back(&rule);
    }
  }
}

void RuleIndex::match(const DocumentEvent& event, EventContext& context, std::vector<MatchedAction>& out) const {
  if (event.partner) {
    auto it = by_key_.find(KeyParts{event.tenant, event.partner->id, event.type});
    if (it != by_key_.end()) {
      for (const auto& c : it->second) {
        if (!c.action->when.always() && !c.action->when.evaluate(context.get())) continue;
        out.push_back({c.partner, c.contact, c.action, nullptr, c.tmpl, {c.contact->kind, c.contact->value, c.contact->name}});
      }
    }
  }
  if (set_.rules.empty()) return;
  auto exact = rules_exact_.find(std::string_view(event.type));
  if (exact != rules_exact_.end()) match_rules(exact->second, event, context, out);
  for (size_t len : prefix_lengths_) {
    if (len > event.type.size()) continue;
    auto it = rules_prefix_.find(std::string_view(event.type).substr(0, len));
    if (it != rules_prefix_.end()) match_rules(it->second, event, context, out);
  }
  for (const Rule* r : rules_glob_)
    if (glob_match(r->on, event.type)) match_rules({&r, 1}, event, context, out);
}

void RuleIndex::match_rules(std::span<const Rule* const> rules, const DocumentEvent& event, EventContext& ctx,
                            std::vector<MatchedAction>& out) const {
  for (const Rule* r : rules) {
    if (!r->tenant.empty() && r->tenant != event.tenant) continue;
    if (!r->when.always() && !r->when.evaluate(ctx.get())) continue;
    expand(*r, event, out);
  }
}

void RuleIndex::expand(const Rule& rule, const DocumentEvent& event, std::vector<MatchedAction>& out) const {
  const Template* tmpl = set_.find_template(rule.template_id);
  const Partner* partner = event.partner ? set_.find_partner(event.tenant, event.partner->id) : nullptr;
  const Channel ch = tmpl->channel;
  auto emit = [&](ContactKind kind, std::string_view value, std::string_view name, const Contact* contact = nullptr) {
    if (value.empty() || !channel_fits(kind, ch)) return;
    out.push_back({partner, contact, nullptr, &rule, tmpl, {kind, value, name}});
  };
  auto party = [&](const std::optional<Party>& p) {
    if (!p) return;
    if (ch == Channel::email) emit(ContactKind::email, p->email, p->name);
    if (ch == Channel::sms) emit(ContactKind::mobile, p->phone, p->name);
  };
  for (const auto& spec : rule.to) {
    switch (spec.kind) {
      case RecipientSpec::Kind::partner: party(event.partner); break;
      case RecipientSpec::Kind::actor: party(event.actor); break;
      case RecipientSpec::Kind::partner_contacts:
        if (!partner) break;
        for (const auto& c : partner->contacts) {
          if (spec.contact_kind && c.kind != *spec.contact_kind) continue;
          if (!spec.label.empty() && c.label != spec.label) continue;
          emit(c.kind, c.value, c.name, &c);
        }
        break;
      case RecipientSpec::Kind::account_manager:
        if (!partner) break;
        for (const auto& m : partner->account_managers) emit(m.kind, m.value, m.name);
        break;
      case RecipientSpec::Kind::group:
        if (const Group* g = set_.find_group(spec.group))
          for (const auto& m : g->members) emit(m.kind, m.value, m.name);
        break;
      case RecipientSpec::Kind::literal: emit(spec.literal.kind, spec.literal.value, spec.literal.name); break;
    }
  }
}

}  // namespace herald
