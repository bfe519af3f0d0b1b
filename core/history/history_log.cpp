#include "core/history/history_log.hpp"

namespace herald {

HistoryFields outbound_fields(const RenderedMessage& msg, std::string& recipients) {
  HistoryFields f;
  f.kind = msg.channel;
  f.direction = "outbound";
  f.tenant = msg.tenant;
  f.partner = msg.partner_id;
  f.contact = msg.contact_id;
  if (msg.event) {
    f.event_id = msg.event->id;
    f.event_type = msg.event->type;
    if (msg.event->document) f.document = msg.event->document->number;
    if (msg.event->actor) f.actor = msg.event->actor->id;
    if (msg.event->on_behalf_of) f.on_behalf_of = msg.event->on_behalf_of->id;
  }
  f.message_id = msg.message_id;
  f.template_id = msg.template_id;
  if (msg.to.size() == 1) {
    f.recipient = msg.to.front().address;
  } else {
    recipients.clear();
    for (const auto& to : msg.to) {
      if (!recipients.empty()) recipients += ',';
      recipients += to.address;
    }
    f.recipient = recipients;
  }
  f.subject = msg.subject;
  f.attempt = msg.attempt;
  // The channel's name; a validated tenant and event type; a hex digest.
  f.known_plain = HistoryFields::kKind | HistoryFields::kDirection | HistoryFields::kTenant |
                  HistoryFields::kEventType | HistoryFields::kMessageId;
  return f;
}

HistoryRecord outbound_record(const RenderedMessage& msg) {
  std::string recipients;
  return to_record(outbound_fields(msg, recipients));
}

HistoryFields fields_of(const HistoryRecord& r) {
  return {r.kind,       r.direction,  r.at,       r.tenant,      r.partner,   r.contact,
          r.document,   r.actor,      r.on_behalf_of, r.event_id, r.event_type, r.message_id,
          r.template_id, r.recipient, r.transport, r.subject,    r.status,    r.error,
          r.attempt};
}

HistoryFields received_fields(const DocumentEvent& e, std::string_view source) {
  HistoryFields f;
  f.kind = "event";
  f.direction = "inbound";
  f.at = e.occurred_at;
  f.tenant = e.tenant;
  if (e.partner) f.partner = e.partner->id;
  if (e.document) f.document = e.document->number;
  if (e.actor) f.actor = e.actor->id;
  if (e.on_behalf_of) f.on_behalf_of = e.on_behalf_of->id;
  f.event_id = e.id;
  f.event_type = e.type;
  f.transport = source;
  f.status = "received";
  // The source is http or redis; occurred_at, tenant and type were validated.
  f.known_plain = HistoryFields::kKind | HistoryFields::kDirection | HistoryFields::kAt | HistoryFields::kTenant |
                  HistoryFields::kEventType | HistoryFields::kTransport | HistoryFields::kStatus;
  return f;
}

HistoryRecord to_record(const HistoryFields& f) {
  HistoryRecord r;
  r.kind = f.kind;
  r.direction = f.direction;
  r.at = f.at;
  r.tenant = f.tenant;
  r.partner = f.partner;
  r.contact = f.contact;
  r.document = f.document;
  r.actor = f.actor;
  r.on_behalf_of = f.on_behalf_of;
  r.event_id = f.event_id;
  r.event_type = f.event_type;
  r.message_id = f.message_id;
  r.template_id = f.template_id;
  r.recipient = f.recipient;
  r.transport = f.transport;
  r.subject = f.subject;
  r.status = f.status;
  r.error = f.error;
  r.attempt = f.attempt;
  return r;
}

}  // namespace herald
