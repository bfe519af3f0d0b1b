#pragma once
// Transport: the seam every delivery channel implements (outbox, SMTP, later
// SMS gateways and webhooks). A Dispatcher owns one Transport and calls it
// from one coroutine at a time, so implementations need no locking of their
// own state.
#include <boost/asio/awaitable.hpp>

#include <span>
#include <string>

#include "core/model/message.hpp"

namespace herald {

// How one delivery attempt ended (KumoMTA's classification).
enum class DeliveryStatus { delivered, transient_failure, permanent_failure, expired };

const char* to_string(DeliveryStatus s);       // metric label: delivered, transient_failure, ...
const char* history_status(DeliveryStatus s);  // history status: delivered, deferred, failed, expired

struct DeliveryOutcome {
  DeliveryStatus status = DeliveryStatus::transient_failure;
  std::string detail;  // server reply or local error, for history and logs
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const std::string& name() const = 0;

  // Attempts every message of the batch; outcomes[i] belongs to batch[i].
  // Delivery problems are outcomes, never exceptions.
  virtual boost::asio::awaitable<void> send_batch(std::span<const RenderedMessage* const> batch,
                                                  std::span<DeliveryOutcome> outcomes) = 0;

  // Closes connections politely (SMTP QUIT). Called once, after the last batch.
  virtual boost::asio::awaitable<void> shutdown() = 0;
};

}  // namespace herald
