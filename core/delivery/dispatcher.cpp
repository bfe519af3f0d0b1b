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
                       const RelayGuardSettings& guard, HistoryLog& history, DeliveryLedger& ledger,
                       MetricsRegistry& metrics, Logger& log, std::function<double()> uniform01)
    : exec_(std::move(ex)),
      transport_(std::move(transport)),
      settings_(settings),
      retry_(settings.retry, uniform01),
      uniform01_(std::move(uniform01)),
      breaker_(guard.breaker_failures, guard.breaker_open),
      // A tenth of a second of tokens may accumulate: smooth, yet batches of
      // a few messages still go out together.
      rate_(guard.max_messages_per_second, guard.max_messages_per_second / 10, std::chrono::steady_clock::now()),
      history_(history),
      ledger_(ledger),
      metrics_(metrics),
      log_(log),
      queue_(exec_, settings.queue_capacity),
      done_(exec_, transport_->lanes()),
      depth_(metrics.gauge("herald_queue_depth", "Messages waiting per stage",
                           {{"stage", "deliver:" + transport_->name()}})),
      breaker_state_(metrics.gauge("herald_breaker_open", "Relay circuit breaker: 0 closed, 1 open, 2 half-open",
                                   {{"transport", transport_->name()}})),
      retries_(metrics.counter("herald_retries_total", "Delivery attempts scheduled for retry",
                               {{"transport", transport_->name()}})),
      parked_(metrics.counter("herald_breaker_parked_total", "Messages held back while the relay breaker was open",
                              {{"transport", transport_->name()}})),
      dead_letters_(metrics.counter("herald_dead_letters_total",
                                    "Messages that exhausted their attempts or TTL (dead-letter state)",
                                    {{"transport", transport_->name()}})),
      latency_(metrics.histogram("herald_delivery_seconds", "Time from render to final delivery outcome",
                                 {{"transport", transport_->name()}})) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::start() {
  for (size_t lane = 0; lane < transport_->lanes(); ++lane) {
    net::co_spawn(exec_, run_worker(lane), [this](std::exception_ptr e) {
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
}

net::awaitable<void> Dispatcher::submit(std::shared_ptr<RenderedMessage> msg) {
  depth_.add(1);
  co_await queue_.async_send(boost::system::error_code{}, std::move(msg), use_awaitable);
}

bool Dispatcher::try_submit(std::shared_ptr<RenderedMessage>& msg) {
  depth_.add(1);
  if (queue_.try_send(boost::system::error_code{}, std::move(msg))) return true;
  depth_.add(-1);
  return false;
}

void Dispatcher::schedule(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay) {
  net::co_spawn(exec_, run_retry(std::move(msg), std::max(delay, std::chrono::milliseconds(0))), net::detached);
}

net::awaitable<void> Dispatcher::drain() {
  co_await net::dispatch(exec_, use_awaitable);
  draining_ = true;
  for (auto* t : retry_timers_) t->cancel();
  // A null message per worker marks the end: workers deliver everything ahead of it.
  const size_t lanes = transport_->lanes();
  for (size_t i = 0; i < lanes; ++i) co_await queue_.async_send(boost::system::error_code{}, nullptr, use_awaitable);
  for (size_t i = 0; i < lanes; ++i) co_await done_.async_receive(net::as_tuple(use_awaitable));
  co_await transport_->shutdown();
  log_.info("delivery stopped", {{"transport", transport_->name()}});
}

void Dispatcher::record(const RenderedMessage& msg, const DeliveryOutcome& outcome) {
  std::string recipients;
  HistoryFields f = outbound_fields(msg, recipients);
  f.transport = transport_->name();
  f.status = history_status(outcome.status);
  if (outcome.status != DeliveryStatus::delivered) f.error = outcome.detail;
  history_.append_fields(f);
  Counter*& sent = sent_[static_cast<size_t>(outcome.status)];
  if (!sent)
    sent = &metrics_.counter("herald_messages_sent_total", "Delivery outcomes by transport and status",
                             {{"transport", transport_->name()}, {"status", to_string(outcome.status)}});
  sent->inc();
}

void Dispatcher::handle_outcome(std::shared_ptr<RenderedMessage> msg, DeliveryOutcome& outcome) {
  if (outcome.status == DeliveryStatus::transient_failure) {
    const bool too_old = std::chrono::system_clock::now() - msg->created_at > settings_.retry.ttl;
    if (retry_.exhausted(msg->attempt) || too_old) {
      outcome.status = DeliveryStatus::expired;
      outcome.detail = (too_old ? "expired after " : "gave up after ") + std::to_string(msg->attempt) +
                       " attempts: " + outcome.detail;
    } else if (draining_) {
      outcome.detail = "shutting down before retry: " + outcome.detail;
    } else {
      record(*msg, outcome);
      // Recipients the server already accepted must not get it twice.
      if (!outcome.recipients.empty()) {
        std::erase_if(msg->to, [&](const Mailbox& m) {
          for (const auto& r : outcome.recipients)
            if (r.address == m.address) return r.status != DeliveryStatus::transient_failure;
          return false;
        });
      }
      retries_.inc();
      auto delay = retry_.delay(msg->attempt);
      ledger_.record_attempt(*msg, MessageState::deferred, outcome.detail, std::chrono::system_clock::now() + delay);
      log_.info("delivery deferred", {{"message_id", msg->message_id},
                                      {"transport", transport_->name()},
                                      {"attempt", msg->attempt},
                                      {"retry_in_ms", static_cast<long long>(delay.count())},
                                      {"reason", outcome.detail}});
      net::co_spawn(exec_, run_retry(std::move(msg), delay), net::detached);
      return;
    }
  }
  if (outcome.status != DeliveryStatus::transient_failure) {
    latency_.observe(std::chrono::duration<double>(std::chrono::system_clock::now() - msg->created_at).count());
  }
  if (outcome.status == DeliveryStatus::expired) dead_letters_.inc();
  if (outcome.status != DeliveryStatus::delivered) {
    log_.warn("delivery failed", {{"message_id", msg->message_id},
                                  {"transport", transport_->name()},
                                  {"status", to_string(outcome.status)},
                                  {"attempt", msg->attempt},
                                  {"reason", outcome.detail}});
  }
  // The journal first: whoever sees the outcome counted (metrics, history)
  // then finds it in GET /v1/events/{id} too.
  ledger_.record_attempt(*msg, ledger_state(outcome.status), outcome.detail, std::chrono::system_clock::now());
  record(*msg, outcome);
}

void Dispatcher::park(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay) {
  parked_.inc();
  ledger_.record_attempt(*msg, MessageState::deferred, "relay circuit breaker open",
                         std::chrono::system_clock::now() + delay);
  schedule(std::move(msg), delay);
}

void Dispatcher::publish_breaker_state() {
  switch (breaker_.state()) {
    case CircuitBreaker::State::closed: breaker_state_.set(0); break;
    case CircuitBreaker::State::open: breaker_state_.set(1); break;
    case CircuitBreaker::State::half_open: breaker_state_.set(2); break;
  }
}

void Dispatcher::judge_relay(std::span<const DeliveryOutcome> outcomes) {
  // One verdict per batch: a batch is one connection's worth of evidence, so
  // a refused connect failing 64 messages is one fault, not 64.
  RelaySignal worst = RelaySignal::none;
  for (const auto& o : outcomes) worst = std::max(worst, o.relay);
  auto now = std::chrono::steady_clock::now();
  auto before = breaker_.state();
  if (worst == RelaySignal::throttle) breaker_.on_throttle(now);
  else if (worst == RelaySignal::fault) breaker_.on_fault(now);
  else breaker_.on_success();
  auto after = breaker_.state();
  publish_breaker_state();
  if (before != after && after != CircuitBreaker::State::half_open) {
    log_.warn(after == CircuitBreaker::State::open ? "relay circuit breaker opened" : "relay circuit breaker closed",
              {{"transport", transport_->name()}, {"consecutive_faults", breaker_.consecutive_faults()}});
  }
}

net::awaitable<size_t> Dispatcher::admit(Batch& batch, bool& probe) {
  probe = false;
  auto now = std::chrono::steady_clock::now();
  size_t sendable = batch.size();
  switch (breaker_.admit(now)) {
    case CircuitBreaker::Admit::yes: break;
    case CircuitBreaker::Admit::probe:
      probe = true;
      publish_breaker_state();
      sendable = 1;
      break;
    case CircuitBreaker::Admit::no: sendable = 0; break;
  }
  if (sendable < batch.size()) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(breaker_.reopens_at() - now);
    // Spread the parked messages over a tenth of the wait so they don't all
    // return in the same millisecond.
    for (size_t i = sendable; i < batch.size(); ++i) {
      auto jitter = std::chrono::milliseconds(int64_t(double(wait.count()) / 10 * uniform01_()));
      park(std::move(batch[i]), std::max(wait, std::chrono::milliseconds(1)) + jitter);
    }
    batch.resize(sendable);
  }
  if (!batch.empty()) {
    auto wait = rate_.reserve(double(batch.size()), now);
    if (wait.count() > 0) {
      net::steady_timer timer(exec_, wait);
      co_await timer.async_wait(net::as_tuple(use_awaitable));
    }
  }
  co_return batch.size();
}

net::awaitable<void> Dispatcher::run_retry(std::shared_ptr<RenderedMessage> msg, std::chrono::milliseconds delay) {
  net::steady_timer timer(exec_, delay);
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

net::awaitable<void> Dispatcher::run_worker(size_t lane) {
  Batch batch;
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
  // Under a rate limit a batch never exceeds the bucket's burst, or the
  // whole batch would wait and then go out at once.
  const size_t max_batch =
      rate_.unlimited() ? settings_.batch_size : std::clamp(size_t(rate_.burst()), size_t(1), settings_.batch_size);
  while (!closing) {
    batch.clear();
    auto [ec, first] = co_await queue_.async_receive(net::as_tuple(use_awaitable));
    take(ec, std::move(first));
    while (!closing && batch.size() < max_batch && queue_.try_receive(take)) {
    }
    bool probe = false;
    if (batch.empty() || co_await admit(batch, probe) == 0) continue;
    views.clear();
    for (auto& m : batch) {
      ++m->attempt;
      views.push_back(m.get());
    }
    outcomes.assign(batch.size(), DeliveryOutcome{});
    co_await transport_->send_batch(lane, views, outcomes);
    judge_relay(outcomes);
    if (probe)
      log_.info("relay probe", {{"transport", transport_->name()}, {"status", to_string(outcomes[0].status)}});
    for (size_t i = 0; i < batch.size(); ++i) handle_outcome(std::move(batch[i]), outcomes[i]);
  }
}

}  // namespace herald
