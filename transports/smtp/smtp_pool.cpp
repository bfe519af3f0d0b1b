#include "transports/smtp/smtp_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/config/toml_reader.hpp"
#include "transports/mime/mime_builder.hpp"
#include "transports/smtp/smtp_data.hpp"
#include "transports/tls/tls_client.hpp"

namespace herald {

namespace net = boost::asio;

SmtpPool::SmtpPool(net::any_io_executor ex, std::string name, SmtpSettings settings, Logger& log,
                   MetricsRegistry& metrics)
    : executor_(ex),
      name_(std::move(name)),
      settings_(std::move(settings)),
      log_(log),
      open_connections_(metrics.gauge("herald_smtp_connections", "Open SMTP connections", {{"transport", name_}})),
      sessions_opened_(metrics.counter("herald_smtp_sessions_total", "SMTP connections opened and negotiated",
                                       {{"transport", name_}})),
      lanes_(settings_.max_connections) {
  if (settings_.tls == SmtpTlsMode::none) {
    // Never a handshake: the context only backs the stream type, so the
    // system CA store (~50 ms and 200 M instructions to parse) stays unread.
    tls_ = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  } else if (auto ec = make_tls_client_context(settings_.tls_ca_file, settings_.tls_verify, tls_)) {
    throw ConfigError("transports." + name_ + ".tls_ca_file: " + ec.message());
  }
}

SmtpPool::~SmtpPool() = default;

net::awaitable<void> SmtpPool::send_batch(size_t lane_index, std::span<const RenderedMessage* const> batch,
                                          std::span<DeliveryOutcome> outcomes) {
  if (!reaper_running_ && !stopping_) {
    auto ex = co_await net::this_coro::executor;
    reaper_timer_.emplace(ex);
    reaper_exit_.emplace(ex, std::chrono::steady_clock::time_point::max());
    reaper_running_ = true;
    net::co_spawn(ex, reap_idle(), net::detached);
  }
  Lane& lane = lanes_[lane_index];
  lane.busy = true;
  // Encode everything first (offsets, since `data` grows), then view it.
  lane.data.clear();
  lane.jobs.resize(batch.size());
  std::vector<std::pair<size_t, size_t>> spans(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    size_t start = lane.data.size();
    MimeBuilder::append(*batch[i], lane.data);
    bool eight_bit = encode_smtp_data_in_place(lane.data, start);
    spans[i] = {start, lane.data.size() - start};
    lane.jobs[i] = SmtpJob{batch[i], {}, eight_bit, &outcomes[i]};
  }
  for (size_t i = 0; i < batch.size(); ++i) lane.jobs[i].data = std::string_view(lane.data).substr(spans[i].first, spans[i].second);

  // A connection carries at most max_messages_per_connection messages: the
  // batch is split where a connection has to be replaced.
  std::span<SmtpJob> rest(lane.jobs);
  while (!rest.empty()) {
    if (lane.session && lane.session->messages() >= settings_.max_messages_per_connection) {
      co_await lane.session->quit();
      lane.session.reset();
    }
    size_t room = settings_.max_messages_per_connection - (lane.session ? lane.session->messages() : 0);
    auto chunk = rest.first(std::min(room, rest.size()));
    co_await send_on(lane, chunk);
    rest = rest.subspan(chunk.size());
  }
  lane.busy = false;
}

net::awaitable<void> SmtpPool::send_on(Lane& lane, std::span<SmtpJob> jobs) {
  // A reused connection the server closed while idle fails before anything
  // was accepted: one reconnect-and-resend cannot duplicate a message.
  for (int round = 0; round < 2; ++round) {
    if (!lane.session) {
      auto session = std::make_unique<SmtpSession>(executor_, settings_, *tls_, open_connections_);
      if (auto failed = co_await session->open()) {
        log_.warn("SMTP connection failed", {{"transport", name_}, {"reason", failed->detail}});
        for (auto& job : jobs) *job.outcome = *failed;
        co_return;
      }
      sessions_opened_.inc();
      if (size_t n = session->discarded_pre_tls_bytes())
        log_.warn("discarded bytes the server sent before the TLS handshake",
                  {{"transport", name_}, {"bytes", static_cast<unsigned long>(n)}});
      lane.session = std::move(session);
    }
    bool done = co_await lane.session->send(jobs);
    if (!lane.session->is_open()) lane.session.reset();
    if (done) co_return;
  }
  for (auto& job : jobs)
    *job.outcome = DeliveryOutcome{DeliveryStatus::transient_failure, "connection lost repeatedly", RelaySignal::fault};
}

net::awaitable<void> SmtpPool::reap_idle() {
  const auto period = std::max(settings_.idle_timeout / 4, std::chrono::milliseconds(50));
  while (!stopping_) {
    reaper_timer_->expires_after(period);
    co_await reaper_timer_->async_wait(net::as_tuple(net::use_awaitable));
    auto now = std::chrono::steady_clock::now();
    for (auto& lane : lanes_) {
      if (stopping_) break;
      if (!lane.session || lane.busy || now - lane.session->last_used() < settings_.idle_timeout) continue;
      // Taken out of the lane first: the lane may open a new one meanwhile.
      auto idle = std::move(lane.session);
      co_await idle->quit();
    }
  }
  reaper_running_ = false;
  reaper_exit_->cancel();
}

net::awaitable<void> SmtpPool::shutdown() {
  stopping_ = true;
  if (reaper_running_) {
    reaper_timer_->cancel();
    co_await reaper_exit_->async_wait(net::as_tuple(net::use_awaitable));
  }
  for (auto& lane : lanes_) {
    if (!lane.session) continue;
    co_await lane.session->quit();
    lane.session.reset();
  }
}

}  // namespace herald
