#include "core/match/rule_index.hpp"

namespace herald {
namespace {

void make_key(std::string& key, std::string_view tenant, std::string_view partner, std::string_view type) {
  key.clear();
  key.append(tenant);
  key += '\x1f';
  key.append(partner);
  key += '\x1f';
  key.append(type);
}

}  // namespace

RuleIndex::RuleIndex(const ResourceSet& set) {
  std::string key;
  for (const auto& [_, partner] : set.partners) {
    for (const auto& contact : partner.contacts) {
      for (const auto& action : contact.actions) {
        make_key(key, partner.tenant, partner.id, action.on);
        by_key_[key].push_back({&partner, &contact, &action, set.find_template(action.template_id)});
        ++entries_;
      }
    }
  }
}

void RuleIndex::match(const DocumentEvent& event, std::vector<MatchedAction>& out) const {
  if (!event.partner) return;
  // Reused per thread so a match allocates nothing once warmed up.
  thread_local std::string key;
  make_key(key, event.tenant, event.partner->id, event.type);
  auto it = by_key_.find(std::string_view(key));
  if (it == by_key_.end()) return;
  out.insert(out.end(), it->second.begin(), it->second.end());
}

}  // namespace herald
