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
  entries_ = set.file_partners->action_count() + set.api_partners->action_count();
  set.for_each_replaced_partner([&](PartnerView replaced) { entries_ -= replaced.action_count(); });
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
  // The event's partner in resources, looked up once for its actions and
  // for the rules' partner recipients.
  const PartnerView partner = event.partner ? set_.find_partner(event.tenant, event.partner->id) : PartnerView{};
  if (partner) {
    partner.for_each_action(event.type, [&](ActionView a) {
      const Expression* when = a.when();
      if (when && !when->evaluate(context.get())) return;
      ContactView c = a.contact();
      out.push_back({partner, c, a, nullptr, set_.find_template(a.template_id()), c.recipient()});
    });
  }
  if (set_.rules.empty()) return;
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
                            PartnerView partner, std::vector<MatchedAction>& out) const {
  for (const Rule* r : rules) {
    if (!r->tenant.empty() && r->tenant != event.tenant) continue;
    if (!r->when.always() && !r->when.evaluate(ctx.get())) continue;
    expand(*r, event, partner, out);
  }
}

void RuleIndex::expand(const Rule& rule, const DocumentEvent& event, PartnerView partner,
                       std::vector<MatchedAction>& out) const {
  const Template* tmpl = set_.find_template(rule.template_id);
  const Channel ch = tmpl->channel;
  auto emit = [&](ContactKind kind, std::string_view value, std::string_view name, ContactView contact = {}) {
    if (value.empty() || !channel_fits(kind, ch)) return;
    out.push_back({partner, contact, {}, &rule, tmpl, {kind, value, name}});
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
        for (size_t k = 0; k < partner.contact_count(); ++k) {
          ContactView c = partner.contact(k);
          if (spec.contact_kind && c.kind() != *spec.contact_kind) continue;
          if (!spec.label.empty() && c.label() != spec.label) continue;
          emit(c.kind(), c.value(), c.name(), c);
        }
        break;
      case RecipientSpec::Kind::account_manager:
        if (!partner) break;
        partner.for_each_account_manager([&](RecipientView m) { emit(m.kind, m.value, m.name); });
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
