#pragma once
// MessageRenderer: a matched action + event → RenderedMessage.
//
// Pure CPU work with no I/O, safe to call from any thread (it only reads the
// immutable snapshot). The template context is the event in its API shape plus
// `contact` (the recipient contact) and `partner` enriched from resources.
#include <boost/json/object.hpp>

#include <memory>

#include "core/match/rule_index.hpp"
#include "core/model/message.hpp"

namespace herald {

class MessageRenderer final {
 public:
  explicit MessageRenderer(Mailbox default_from) : from_(std::move(default_from)) {}

  // Builds the context shared by all messages of one event.
  static boost::json::object make_context(const DocumentEvent& event);

  // `context` is modified in place (the contact fields) and reused across calls.
  RenderedMessage render(const std::shared_ptr<const DocumentEvent>& event, const MatchedAction& match,
                         boost::json::object& context) const;

  // Stable id of the message for one (event, action, recipient).
  static std::string message_id(const DocumentEvent& event, const MatchedAction& match);

 private:
  Mailbox from_;
};

}  // namespace herald
