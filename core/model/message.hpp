#pragma once
// RenderedMessage: the output of render and the input of deliver.
//
// Carries everything a transport needs and nothing it has to look up: the
// stable message id (the de-duplication key across retries and restarts), the
// envelope, rendered parts and a reference to the event for attachments.
#include <chrono>
#include <memory>
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
  Mailbox from;
  std::vector<Mailbox> to;
  std::string subject;
  std::string text;
  bool attach = false;
  std::shared_ptr<const DocumentEvent> event;
  std::chrono::system_clock::time_point created_at;
  int attempt = 0;  // delivery attempts made so far
};

}  // namespace herald
