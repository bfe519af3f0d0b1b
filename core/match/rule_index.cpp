#include "core/match/rule_index.hpp"

#include <algorithm>

namespace herald {
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

RuleIndex::RuleIndex(const ResourceSet& set) : set_(set) {
  // Group each partner's actions by event type (in contact order), then
  // lay them out in the flat table.
  std::vector<MatchedAction> all;
  std::vector<ActionTable::Entry> entries;
  std::vector<size_t> first;  // each entry's start in `all`, which still grows
  for (const auto& [_, partner] : set.partners) {
    size_t n = 0;
    for (const auto& contact : partner.contacts) n += contact.actions.size();
    if (n == 0) continue;
    std::vector<std::pair<std::string_view, MatchedAction>> actions;
    actions.reserve(n);
    for (const auto& contact : partner.contacts)
      for (const auto& action : contact.actions)
        actions.push_back({action.on, {&partner, &contact, &action, nullptr, set.find_template(action.template_id),
                                       {contact.kind, contact.value, contact.name}}});
    std::stable_sort(actions.begin(), actions.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < actions.size();) {
      size_t j = i;
      bool any_when = false;
      while (j < actions.size() && actions[j].first == actions[i].first) {
        any_when = any_when || !actions[j].second.action->when.always();
        all.push_back(actions[j++].second);
      }
      first.push_back(all.size() - (j - i));
      entries.push_back({partner.tenant, partner.id, actions[i].first, nullptr, static_cast<uint32_t>(j - i), any_when});
      i = j;
    }
    entries_ += n;
  }
  for (size_t k = 0; k < entries.size(); ++k) entries[k].actions = all.data() + first[k];
  actions_ = ActionTable(entries);
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
    auto hit = actions_.find(event.tenant, event.partner->id, event.type);
    if (!hit.any_when) {
      out.insert(out.end(), hit.actions.begin(), hit.actions.end());
    } else {
      for (const auto& m : hit.actions)
        if (m.action->when.always() || m.action->when.evaluate(context.get())) out.push_back(m);
    }
  }
  if (set_.rules.empty()) return;
  PartnerLookup partner;
  auto exact = rules_exact_.find(std::string_view(event.type));
  if (exact != rules_exact_.end()) match_rules(exact->second, event, context, partner, out);
  for (size_t len : prefix_lengths_) {
    if (len > event.type.size()) continue;
    auto it = rules_prefix_.find(std::string_view(event.type).substr(0, len));
    if (it != rules_prefix_.end()) match_rules(it->second, event, context, partner, out);
  }
  for (const Rule* r : rules_glob_)
    if (glob_match(r->on, event.type)) match_rules({&r, 1}, event, context, partner, out);
}

void RuleIndex::match_rules(std::span<const Rule* const> rules, const DocumentEvent& event, EventContext& ctx,
                            PartnerLookup& partner, std::vector<MatchedAction>& out) const {
  for (const Rule* r : rules) {
    if (!r->tenant.empty() && r->tenant != event.tenant) continue;
    if (!r->when.always() && !r->when.evaluate(ctx.get())) continue;
    expand(*r, event, partner, out);
  }
}

void RuleIndex::expand(const Rule& rule, const DocumentEvent& event, PartnerLookup& lookup,
                       std::vector<MatchedAction>& out) const {
  const Template* tmpl = set_.find_template(rule.template_id);
  if (!lookup.done) {
    lookup.partner = event.partner ? set_.find_partner(event.tenant, event.partner->id) : nullptr;
    lookup.done = true;
  }
  const Partner* partner = lookup.partner;
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
