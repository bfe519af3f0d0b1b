#pragma once
// RenderedMessage: the output of render and the input of deliver.
//
// Carries everything a transport needs and nothing it has to look up: the
// stable message id (the de-duplication key across retries and restarts), the
// envelope, rendered parts and a reference to the event for attachments.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/document_event.hpp"

namespace herald {

struct Mailbox {
  std::string address;  // validated addr-spec
  std::string name;     // display name, any UTF-8 (encoded by the MIME layer)
};

struct RenderedMessage {
  std::string message_id;  // 32 hex chars, stable per (event, action, recipient)
  std::string channel;     // "email" | "sms" | "webhook"
  std::string template_id;
  std::string tenant;
  std::string partner_id;
  std::string contact_id;
  std::string rule_id;     // set when a global rule produced it
  std::string locale;      // the locale it was rendered in
  Mailbox from;
  std::optional<Mailbox> reply_to;
  std::vector<Mailbox> to;  // e-mail addresses, or the phone number of an SMS
  std::string subject;
  std::string text;        // text part; the body of an SMS or webhook
  std::string html;        // HTML part (e-mail), empty when the template has none
  std::chrono::milliseconds delay{0};  // a rule's delay before the first attempt
  bool attach = false;
  std::shared_ptr<const DocumentEvent> event;
  std::chrono::system_clock::time_point created_at;
  int attempt = 0;  // delivery attempts made so far
};

}  // namespace herald
