#pragma once
// DeliveryLedger: where the dispatcher reports every attempt's outcome so the
// message's state survives restarts (the Journal implements it). Kept apart
// from Transport and HistoryLog: history is for people, the ledger is what
// recovery resumes from.
#include <chrono>
#include <string_view>

#include "core/model/message.hpp"

namespace herald {

enum class MessageState : unsigned char { queued, deferred, delivered, failed, expired };

const char* to_string(MessageState s);
bool parse_message_state(std::string_view s, MessageState& out);
inline bool is_final(MessageState s) { return s >= MessageState::delivered; }

class DeliveryLedger {
 public:
  virtual ~DeliveryLedger() = default;
  // `next_attempt` matters for `deferred` only. Never blocks on disk.
  virtual void record_attempt(const RenderedMessage& msg, MessageState state, std::string_view detail,
                              std::chrono::system_clock::time_point next_attempt) = 0;
};

}  // namespace herald
