#pragma once
// Dispatcher: one bounded ready queue + one delivery worker per transport.
//
// Executor affinity: everything here (queue consumer, retry timers, the
// transport and its sockets) runs on the dispatcher's strand, so no state is
// shared across threads except the queue itself (a concurrent channel).
// submit() suspends while the queue is full, which slows ingest down instead
// of growing memory. Transient failures are retried with RetryPolicy after a
// timer. Every outcome goes to the DeliveryLedger (the journal), so retry
// state survives a restart.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <functional>
#include <list>
#include <memory>

#include "core/config/settings.hpp"
#include "core/delivery/delivery_ledger.hpp"
#include "core/delivery/retry_policy.hpp"
#include "core/delivery/transport.hpp"
#include "core/history/history_log.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

class Dispatcher final {
 public:
  using Executor = boost::asio::any_io_executor;

  Dispatcher(Executor ex, std::unique_ptr<Transport> transport, const DeliverySettings& settings,
             HistoryLog& history, DeliveryLedger& ledger, MetricsRegistry& metrics, Logger& log,
             std::function<double()> uniform01);
  ~Dispatcher();

  void start();

  // Queues a message; suspends while the queue is full. Must not be called
  // after drain() started.
  boost::asio::awaitable<void> submit(std::shared_ptr<RenderedMessage> msg);

  // Queues a message after `delay` (recovered work whose retry is not due).
  void schedule(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay);

  // Delivers everything already queued, abandons pending retries (recorded in
  // history as deferred), shuts the transport down, and returns.
  boost::asio::awaitable<void> drain();

  Transport& transport() { return *transport_; }

 private:
  using Queue = boost::asio::experimental::concurrent_channel<void(boost::system::error_code,
                                                                   std::shared_ptr<RenderedMessage>)>;
  boost::asio::awaitable<void> run_worker();
  boost::asio::awaitable<void> run_retry(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay);
  void record(const RenderedMessage& msg, const DeliveryOutcome& outcome);
  void handle_outcome(std::shared_ptr<RenderedMessage> msg, const DeliveryOutcome& outcome);

  boost::asio::strand<Executor> strand_;
  std::unique_ptr<Transport> transport_;
  DeliverySettings settings_;
  RetryPolicy retry_;
  HistoryLog& history_;
  DeliveryLedger& ledger_;
  MetricsRegistry& metrics_;
  Logger& log_;
  Queue queue_;
  // Signals the end of the worker to drain().
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> done_;
  std::list<boost::asio::steady_timer*> retry_timers_;  // strand-confined
  bool draining_ = false;                                // strand-confined
  Gauge& depth_;
  Counter& retries_;
  Histogram& latency_;
};

}  // namespace herald
