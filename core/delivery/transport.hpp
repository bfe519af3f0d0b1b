#pragma once
// Transport: the seam every delivery channel implements (outbox, SMTP, later
// SMS gateways and webhooks). A Dispatcher owns one Transport and runs one
// worker per lane (a pooled connection); all of them run on the dispatcher's
// executor (one handler at a time), and a lane is only ever used by its own
// worker, so implementations need no locking of their own state.
#include <boost/asio/awaitable.hpp>

#include <span>
#include <string>
#include <vector>

#include "core/model/message.hpp"

namespace herald {

// How one delivery attempt ended (KumoMTA's classification).
// `expired` stays last: Dispatcher sizes its per-status counters by it.
enum class DeliveryStatus { delivered, transient_failure, permanent_failure, expired };

const char* to_string(DeliveryStatus s);       // metric label: delivered, transient_failure, ...
const char* history_status(DeliveryStatus s);  // history status: delivered, deferred, failed, expired

// What a failure says about the relay, not the message: the circuit breaker
// counts faults (connect/TLS/AUTH errors, timeouts, dropped connections) and
// opens at once on a throttle (SMTP 421: "back off the whole relay").
enum class RelaySignal : unsigned char { none, fault, throttle };

// One recipient's answer when the transport has per-recipient results (SMTP RCPT).
struct RecipientOutcome {
  std::string address;
  DeliveryStatus status = DeliveryStatus::delivered;
  std::string reply;
};

struct DeliveryOutcome {
  DeliveryOutcome() = default;
  DeliveryOutcome(DeliveryStatus s, std::string d, RelaySignal r = RelaySignal::none)
      : status(s), detail(std::move(d)), relay(r) {}

  DeliveryStatus status = DeliveryStatus::transient_failure;
  std::string detail;  // server reply or local error, for history and logs
  RelaySignal relay = RelaySignal::none;
  // Filled only when recipients were answered differently; a transient
  // outcome then retries just the recipients whose status is transient.
  std::vector<RecipientOutcome> recipients;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const std::string& name() const = 0;

  // How many batches may be in flight at once (pooled connections).
  virtual size_t lanes() const { return 1; }

  // Attempts every message of the batch on lane `lane` (< lanes()); outcomes[i]
  // belongs to batch[i]. Delivery problems are outcomes, never exceptions.
  virtual boost::asio::awaitable<void> send_batch(size_t lane, std::span<const RenderedMessage* const> batch,
                                                  std::span<DeliveryOutcome> outcomes) = 0;

  // Closes connections politely (SMTP QUIT). Called once, after the last batch.
  virtual boost::asio::awaitable<void> shutdown() = 0;
};

}  // namespace herald
