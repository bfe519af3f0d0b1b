#pragma once
// MessageRenderer: a matched action or rule + event → RenderedMessage.
//
// Pure CPU work with no I/O, safe to call from any thread (it only reads the
// immutable snapshot). The template context is the event in its API shape
// plus `contact` (the recipient) and `partner` enriched from resources. The
// locale is the contact's, else the partner's (resources, then event), else
// the configured default; it picks the template variant and the formatters'
// conventions. The sender is the template's, else the rule's, else the sender
// "default", else the configured From; its signature is appended to text and
// HTML parts unless they place it themselves with {{>signature}}.
#include <memory>

#include "core/match/rule_index.hpp"
#include "core/model/message.hpp"

namespace herald {

class MessageRenderer final {
 public:
  explicit MessageRenderer(Mailbox default_from, std::string default_locale = "en-US", bool sms_transliterate = false)
      : from_(std::move(default_from)), locale_(std::move(default_locale)), sms_transliterate_(sms_transliterate) {}

  // `context` gets the recipient's fields in place and is reused across calls.
  RenderedMessage render(const std::shared_ptr<const DocumentEvent>& event, const MatchedAction& match,
                         const ResourceSet& resources, EventContext& context) const;

  // Stable id of the message for one (event, action or rule, recipient).
  static std::string message_id(const DocumentEvent& event, const MatchedAction& match);

 private:
  Mailbox from_;
  std::string locale_;
  bool sms_transliterate_;
};

}  // namespace herald
