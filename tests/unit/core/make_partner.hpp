#pragma once
// Partners made up for the directory and catalog tests.
#include <string>

#include "core/resources/partner_directory.hpp"

namespace herald {

// Where an action's template is named, for Builder::add (the tests' partners
// come from no file).
inline std::string nowhere(size_t, size_t) { return "test"; }

// `contacts` contacts alternating e-mail (invoice.posted) and mobile
// (customer_order.realized), one action each.
inline Partner make_partner(std::string tenant, std::string id, int contacts) {
  Partner p;
  p.tenant = std::move(tenant);
  p.id = std::move(id);
  p.name = "Partner " + p.id;
  for (int c = 0; c < contacts; ++c) {
    Contact contact;
    contact.id = "c" + std::to_string(c);
    contact.kind = c % 2 ? ContactKind::mobile : ContactKind::email;
    contact.value = c % 2 ? "+421 900 000 00" + std::to_string(c) : "c" + std::to_string(c) + "@" + p.id + ".example";
    contact.name = "Contact " + std::to_string(c);
    Action a;
    a.on = c % 2 ? "customer_order.realized" : "invoice.posted";
    a.template_id = c % 2 ? "order-sms" : "invoice-email";
    contact.actions.push_back(std::move(a));
    p.contacts.push_back(std::move(contact));
  }
  return p;
}

}  // namespace herald
