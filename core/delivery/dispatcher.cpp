#include "core/delivery/dispatcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/util/time_format.hpp"

namespace herald {

namespace net = boost::asio;
using net::use_awaitable;

namespace {

MessageState ledger_state(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::delivered: return MessageState::delivered;
    case DeliveryStatus::transient_failure: return MessageState::deferred;
    case DeliveryStatus::permanent_failure: return MessageState::failed;
    case DeliveryStatus::expired: return MessageState::expired;
  }
  return MessageState::deferred;
}

}  // namespace

Dispatcher::Dispatcher(Executor ex, std::unique_ptr<Transport> transport, const DeliverySettings& settings,
                       HistoryLog& history, DeliveryLedger& ledger, MetricsRegistry& metrics, Logger& log,
                       std::function<double()> uniform01)
    : strand_(net::make_strand(ex)),
      transport_(std::move(transport)),
      settings_(settings),
      retry_(settings.retry, std::move(uniform01)),
      history_(history),
      ledger_(ledger),
      metrics_(metrics),
      log_(log),
      queue_(strand_, settings.queue_capacity),
      done_(strand_, 1),
      depth_(metrics.gauge("herald_queue_depth", "Messages waiting per stage",
                           {{"stage", "deliver:" + transport_->name()}})),
      retries_(metrics.counter("herald_retries_total", "Delivery attempts scheduled for retry",
                               {{"transport", transport_->name()}})),
      latency_(metrics.histogram("herald_delivery_seconds", "Time from render to final delivery outcome",
                                 {{"transport", transport_->name()}})) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::start() {
  net::co_spawn(strand_, run_worker(), [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log_.error("delivery worker crashed", {{"transport", transport_->name()}, {"error", ex.what()}});
      }
    }
    done_.try_send(boost::system::error_code{});
  });
}

net::awaitable<void> Dispatcher::submit(std::shared_ptr<RenderedMessage> msg) {
  depth_.add(1);
  co_await queue_.async_send(boost::system::error_code{}, std::move(msg), use_awaitable);
}

void Dispatcher::schedule(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay) {
  net::co_spawn(strand_, run_retry(std::move(msg), std::max(delay, std::chrono::milliseconds(0))), net::detached);
}

net::awaitable<void> Dispatcher::drain() {
  co_await net::dispatch(strand_, use_awaitable);
  draining_ = true;
  for (auto* t : retry_timers_) t->cancel();
  // A null message marks the end: the worker delivers everything ahead of it.
  co_await queue_.async_send(boost::system::error_code{}, nullptr, use_awaitable);
  co_await done_.async_receive(net::as_tuple(use_awaitable));
}

void Dispatcher::record(const RenderedMessage& msg, const DeliveryOutcome& outcome) {
  HistoryRecord r = outbound_record(msg);
  r.transport = transport_->name();
  r.status = history_status(outcome.status);
  if (outcome.status != DeliveryStatus::delivered) r.error = outcome.detail;
  history_.append(r);
  metrics_
      .counter("herald_messages_sent_total", "Delivery outcomes by transport and status",
               {{"transport", transport_->name()}, {"status", to_string(outcome.status)}})
      .inc();
}

void Dispatcher::handle_outcome(std::shared_ptr<RenderedMessage> msg, const DeliveryOutcome& outcome) {
  DeliveryOutcome final_outcome = outcome;
  if (outcome.status == DeliveryStatus::transient_failure) {
    if (retry_.exhausted(msg->attempt)) {
      final_outcome.status = DeliveryStatus::expired;
      final_outcome.detail = "gave up after " + std::to_string(msg->attempt) + " attempts: " + outcome.detail;
    } else if (draining_) {
      final_outcome.detail = "shutting down before retry: " + outcome.detail;
    } else {
      record(*msg, outcome);
      retries_.inc();
      auto delay = retry_.delay(msg->attempt);
      ledger_.record_attempt(*msg, MessageState::deferred, outcome.detail, std::chrono::system_clock::now() + delay);
      log_.info("delivery deferred", {{"message_id", msg->message_id},
                                      {"transport", transport_->name()},
                                      {"attempt", msg->attempt},
                                      {"retry_in_ms", static_cast<long long>(delay.count())},
                                      {"reason", outcome.detail}});
      net::co_spawn(strand_, run_retry(std::move(msg), delay), net::detached);
      return;
    }
  }
  if (final_outcome.status != DeliveryStatus::transient_failure) {
    latency_.observe(std::chrono::duration<double>(std::chrono::system_clock::now() - msg->created_at).count());
  }
  if (final_outcome.status != DeliveryStatus::delivered) {
    log_.warn("delivery failed", {{"message_id", msg->message_id},
                                  {"transport", transport_->name()},
                                  {"status", to_string(final_outcome.status)},
                                  {"attempt", msg->attempt},
                                  {"reason", final_outcome.detail}});
  }
  record(*msg, final_outcome);
  ledger_.record_attempt(*msg, ledger_state(final_outcome.status), final_outcome.detail,
                         std::chrono::system_clock::now());
}

net::awaitable<void> Dispatcher::run_retry(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay) {
  net::steady_timer timer(strand_, delay);
  auto it = retry_timers_.insert(retry_timers_.end(), &timer);
  co_await timer.async_wait(net::as_tuple(use_awaitable));
  retry_timers_.erase(it);
  if (draining_) {
    DeliveryOutcome abandoned{DeliveryStatus::transient_failure, "shutting down before retry"};
    log_.warn("retry abandoned at shutdown", {{"message_id", msg->message_id}, {"transport", transport_->name()}});
    record(*msg, abandoned);
    co_return;
  }
  co_await submit(std::move(msg));
}

net::awaitable<void> Dispatcher::run_worker() {
  std::vector<std::shared_ptr<RenderedMessage>> batch;
  std::vector<const RenderedMessage*> views;
  std::vector<DeliveryOutcome> outcomes;
  bool closing = false;
  auto take = [&](boost::system::error_code ec, std::shared_ptr<RenderedMessage> m) {
    if (ec) {
      closing = true;
      return;
    }
    depth_.add(-1);
    if (!m) {
      depth_.add(1);  // the end marker was never counted as a message
      closing = true;
    } else {
      batch.push_back(std::move(m));
    }
  };
  while (!closing) {
    batch.clear();
    auto [ec, first] = co_await queue_.async_receive(net::as_tuple(use_awaitable));
    take(ec, std::move(first));
    while (!closing && batch.size() < settings_.batch_size && queue_.try_receive(take)) {
    }
    if (batch.empty()) continue;
    views.clear();
    for (auto& m : batch) {
      ++m->attempt;
      views.push_back(m.get());
    }
    outcomes.assign(batch.size(), DeliveryOutcome{});
    co_await transport_->send_batch(views, outcomes);
    for (size_t i = 0; i < batch.size(); ++i) handle_outcome(std::move(batch[i]), outcomes[i]);
  }
  co_await transport_->shutdown();
  log_.info("delivery worker stopped", {{"transport", transport_->name()}});
}

}  // namespace herald
