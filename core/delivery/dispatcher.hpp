#pragma once
// Dispatcher: one bounded ready queue per transport (relay), drained by one
// worker per transport lane (pooled connection), KumoMTA-style.
//
// Executor affinity: everything here (the workers, retry timers, the
// transport and its sockets) runs on the dispatcher's executor, which must
// never run two handlers at once: an io_context run by one thread (what the
// daemon gives it: an implicit strand, in Asio's terms) or a strand. So
// delivery to one relay uses at most one core and no state is shared across
// threads except the queue itself (a concurrent channel). submit() suspends
// while the queue is full, which slows ingest down instead of growing memory.
//
// No strand of its own on top: over the daemon's one-thread context it
// serialized nothing more, and cost each e-mail ~9 strand dispatches, each
// with a heap-allocated blocking query, plus ~5 heap-allocated copies of the
// strand as an any_io_executor (callgrind: ~14 of an e-mail's allocations).
//
// Every batch passes the relay guard first: a token bucket (messages/s) and
// a circuit breaker (consecutive relay faults; SMTP 421 opens it at once).
// While the breaker is open, messages are parked until it half-opens without
// spending an attempt. Transient failures are retried with RetryPolicy after
// a timer until max_attempts or the TTL; every outcome goes to the
// DeliveryLedger (the journal), so retry state survives a restart.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <functional>
#include <list>
#include <memory>

#include "core/config/settings.hpp"
#include "core/delivery/circuit_breaker.hpp"
#include "core/delivery/delivery_ledger.hpp"
#include "core/delivery/retry_policy.hpp"
#include "core/delivery/token_bucket.hpp"
#include "core/delivery/transport.hpp"
#include "core/history/history_log.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

class Dispatcher final {
 public:
  using Executor = boost::asio::any_io_executor;

  Dispatcher(Executor ex, std::unique_ptr<Transport> transport, const DeliverySettings& settings,
             const RelayGuardSettings& guard, HistoryLog& history, DeliveryLedger& ledger, MetricsRegistry& metrics,
             Logger& log, std::function<double()> uniform01);
  ~Dispatcher();

  void start();

  // Queues a message; suspends while the queue is full. Must not be called
  // after drain() started.
  boost::asio::awaitable<void> submit(std::shared_ptr<RenderedMessage> msg);
  // submit() without suspending while the queue has room (nearly always):
  // true when queued. False, `msg` untouched, when the queue is full (or
  // closed): then co_await submit(). Saves a coroutine frame and an
  // async_send per message on the ingest thread.
  bool try_submit(std::shared_ptr<RenderedMessage>& msg);

  // Queues a message after `delay` (recovered work whose retry is not due).
  void schedule(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay);

  // Delivers everything already queued, abandons pending retries (recorded in
  // history as deferred), shuts the transport down, and returns.
  boost::asio::awaitable<void> drain();

  Transport& transport() { return *transport_; }
  const CircuitBreaker& breaker() const { return breaker_; }

 private:
  using Queue = boost::asio::experimental::concurrent_channel<void(boost::system::error_code,
                                                                   std::shared_ptr<RenderedMessage>)>;
  using Batch = std::vector<std::shared_ptr<RenderedMessage>>;
  boost::asio::awaitable<void> run_worker(size_t lane);
  boost::asio::awaitable<void> run_retry(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay);
  // Applies the relay guard to a received batch: parks what may not go now,
  // waits for the rate limit. Returns how many leading messages to send.
  boost::asio::awaitable<size_t> admit(Batch& batch, bool& probe);
  void park(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay);
  void judge_relay(std::span<const DeliveryOutcome> outcomes);
  void publish_breaker_state();  // herald_breaker_open from breaker_.state()
  void record(const RenderedMessage& msg, const DeliveryOutcome& outcome);
  void handle_outcome(std::shared_ptr<RenderedMessage> msg, DeliveryOutcome& outcome);

  Executor exec_;  // serializes every handler (see above)
  std::unique_ptr<Transport> transport_;
  DeliverySettings settings_;
  RetryPolicy retry_;
  std::function<double()> uniform01_;
  CircuitBreaker breaker_;   // exec_-confined
  TokenBucket rate_;         // exec_-confined
  HistoryLog& history_;
  DeliveryLedger& ledger_;
  MetricsRegistry& metrics_;
  Logger& log_;
  Queue queue_;
  // Each worker signals its end to drain().
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> done_;
  std::list<boost::asio::steady_timer*> retry_timers_;  // exec_-confined
  bool draining_ = false;                                // exec_-confined
  Gauge& depth_;
  Gauge& breaker_state_;
  Counter& retries_;
  Counter& parked_;
  Counter& dead_letters_;
  Histogram& latency_;
  // herald_messages_sent_total per DeliveryStatus, looked up on first use
  // (exec_-confined): not a registry lookup per message.
  std::array<Counter*, static_cast<size_t>(DeliveryStatus::expired) + 1> sent_{};
};

}  // namespace herald
