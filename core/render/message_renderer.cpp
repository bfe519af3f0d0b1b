#include "core/render/message_renderer.hpp"

#include "core/util/digest.hpp"

namespace herald {

boost::json::object MessageRenderer::make_context(const DocumentEvent& event) { return to_json(event, false); }

std::string MessageRenderer::message_id(const DocumentEvent& event, const MatchedAction& m) {
  return sha256_hex({event.tenant, event.id, m.partner->id, m.contact->id, m.action->on, m.action->template_id,
                     m.contact->value})
      .substr(0, 32);
}

RenderedMessage MessageRenderer::render(const std::shared_ptr<const DocumentEvent>& event, const MatchedAction& m,
                                        boost::json::object& ctx) const {
  boost::json::object contact;
  contact["id"] = m.contact->id;
  contact["kind"] = to_string(m.contact->kind);
  contact["value"] = m.contact->value;
  contact["label"] = m.contact->label;
  contact["name"] = m.contact->name;
  ctx["contact"] = std::move(contact);
  // Resource data fills what the event left out (e.g. the partner's name).
  auto& partner = ctx["partner"];
  if (!partner.is_object()) partner = boost::json::object{};
  auto& po = partner.get_object();
  if (!po.contains("name") && !m.partner->name.empty()) po["name"] = m.partner->name;
  if (!po.contains("locale") && !m.partner->locale.empty()) po["locale"] = m.partner->locale;

  RenderedMessage msg;
  msg.message_id = message_id(*event, m);
  msg.channel = to_string(m.tmpl->channel);
  msg.template_id = m.tmpl->id;
  msg.tenant = event->tenant;
  msg.partner_id = m.partner->id;
  msg.contact_id = m.contact->id;
  msg.from = from_;
  msg.to.push_back({m.contact->value, m.contact->name});
  m.tmpl->subject.render(ctx, msg.subject);
  m.tmpl->text.render(ctx, msg.text);
  msg.attach = m.action->attach;
  msg.event = event;
  msg.created_at = std::chrono::system_clock::now();
  return msg;
}

}  // namespace herald
