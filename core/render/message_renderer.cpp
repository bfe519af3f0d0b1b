#include "core/render/message_renderer.hpp"

#include "core/render/sms_text.hpp"
#include "core/util/digest.hpp"

namespace herald {
namespace {

namespace json = boost::json;

// Partials of one part in one locale: other templates' same part, and
// "signature" from the message's sender.
class PartPartials final : public mustache::PartialSource {
 public:
  PartPartials(const ResourceSet& set, Part part, std::string_view locale, const Sender* sender)
      : set_(set), part_(part), locale_(locale), sender_(sender) {}

  const mustache::Template* find_partial(std::string_view name) const override {
    if (name == "signature") {
      if (!sender_) return nullptr;
      if (part_ == Part::text && sender_->has_signature_text) return &sender_->signature_text;
      if (part_ == Part::html && sender_->has_signature_html) return &sender_->signature_html;
      return nullptr;
    }
    const Template* t = set_.find_template(name);
    return t ? t->part(part_, locale_) : nullptr;
  }

 private:
  const ResourceSet& set_;
  Part part_;
  std::string_view locale_;
  const Sender* sender_;
};

bool places_signature(const mustache::Template& t) {
  for (const auto& n : t.partial_names())
    if (n == "signature") return true;
  return false;
}

}  // namespace

std::string MessageRenderer::message_id(const DocumentEvent& event, const MatchedAction& m) {
  if (m.rule)
    return sha256_hex({event.tenant, event.id, "rule", m.rule->id, m.tmpl->id, m.to.value}, 32);
  return sha256_hex({event.tenant, event.id, m.partner.id(), m.contact.id(), m.action.on(), m.action.template_id(),
                     m.contact.value()},
                    32);
}

RenderedMessage MessageRenderer::render(const std::shared_ptr<const DocumentEvent>& event, const MatchedAction& m,
                                        const ResourceSet& set, EventContext& context) const {
  json::object& ctx = context.mutable_json().as_object();
  json::object contact(5, context.storage());
  contact.emplace("id", m.contact ? m.contact.id() : std::string_view());
  contact.emplace("kind", to_string(m.to.kind));
  contact.emplace("value", m.to.value);
  contact.emplace("label", m.contact ? m.contact.label() : std::string_view());
  contact.emplace("name", m.to.name);
  ctx["contact"] = std::move(contact);
  // Resource data fills what the event left out (e.g. the partner's name).
  auto& partner = ctx["partner"];
  if (!partner.is_object()) partner = json::object(context.storage());
  auto& po = partner.get_object();
  if (m.partner) {
    if (!po.contains("id")) po["id"] = m.partner.id();
    if (!po.contains("name") && !m.partner.name().empty()) po["name"] = m.partner.name();
    if (!po.contains("locale") && !m.partner.locale().empty()) po["locale"] = m.partner.locale();
  }

  RenderedMessage msg;
  if (m.contact && !m.contact.locale().empty()) msg.locale = m.contact.locale();
  else if (m.partner && !m.partner.locale().empty()) msg.locale = m.partner.locale();
  else if (event->partner && !event->partner->locale.empty()) msg.locale = event->partner->locale;
  else msg.locale = locale_;
  ctx["locale"] = msg.locale;

  const Sender* sender = nullptr;
  if (!m.tmpl->sender.empty()) sender = set.find_sender(m.tmpl->sender);
  if (!sender && m.rule && !m.rule->sender.empty()) sender = set.find_sender(m.rule->sender);
  if (!sender) sender = set.find_sender("default");

  msg.message_id = message_id(*event, m);
  msg.channel = to_string(m.tmpl->channel);
  msg.template_id = m.tmpl->id;
  msg.tenant = event->tenant;
  msg.partner_id = m.partner ? std::string(m.partner.id()) : (event->partner ? event->partner->id : std::string());
  msg.contact_id = m.contact ? std::string(m.contact.id()) : std::string();
  if (m.rule) {
    msg.rule_id = m.rule->id;
    msg.delay = m.rule->delay;
  }
  msg.from = sender ? sender->from : from_;
  if (sender) msg.reply_to = sender->reply_to;
  msg.to.push_back({std::string(m.to.value), std::string(m.to.name)});
  msg.attach = m.rule ? m.rule->attach : m.action.attach();
  msg.event = event;
  msg.created_at = std::chrono::system_clock::now();

  const LocaleInfo* loc = find_locale(msg.locale);
  auto render_part = [&](Part p, mustache::Escape escape, std::string& out) {
    const mustache::Template* t = m.tmpl->part(p, msg.locale);
    if (!t) return false;
    PartPartials partials(set, p, msg.locale, sender);
    mustache::RenderOptions opt{escape, &partials, loc};
    mustache::render(*t, context.get(), opt, out);
    if (sender && m.tmpl->channel == Channel::email && (p == Part::text || p == Part::html) && !places_signature(*t)) {
      const bool html = p == Part::html;
      if (html ? sender->has_signature_html : sender->has_signature_text) {
        std::string sig;
        mustache::render(html ? sender->signature_html : sender->signature_text, context.get(), opt, sig);
        if (html) {
          auto body_end = out.rfind("</body>");
          out.insert(body_end == std::string::npos ? out.size() : body_end, sig);
        } else {
          if (!out.empty() && out.back() != '\n') out += '\n';
          out += "-- \n";  // RFC 3676 signature separator
          out += sig;
        }
      }
    }
    return true;
  };
  switch (m.tmpl->channel) {
    case Channel::email:
      render_part(Part::subject, mustache::Escape::header, msg.subject);
      render_part(Part::text, mustache::Escape::none, msg.text);
      render_part(Part::html, mustache::Escape::html, msg.html);
      break;
    case Channel::sms:
      if (!render_part(Part::sms, mustache::Escape::none, msg.text))
        render_part(Part::text, mustache::Escape::none, msg.text);
      if (sms_transliterate_) msg.text = transliterate_to_gsm(msg.text);
      break;
    case Channel::webhook: render_part(Part::text, mustache::Escape::none, msg.text); break;
  }
  return msg;
}

}  // namespace herald
