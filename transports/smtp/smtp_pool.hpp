#pragma once
// SmtpPool: the SMTP Transport for one relay. Up to max_connections
// SmtpSessions, one per dispatcher lane, each reused for up to
// max_messages_per_connection messages and QUIT after idle_timeout without
// traffic. A batch is MIME-built and DATA-encoded into one lane buffer, then
// sent pipelined on that lane's session.
//
// Executor affinity: every lane and the idle reaper run on the dispatcher's
// executor (one core per relay, no locks). A lane is used by its own worker only.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config/settings.hpp"
#include "core/delivery/transport.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "transports/smtp/smtp_session.hpp"

namespace herald {

class SmtpPool final : public Transport {
 public:
  // Throws ConfigError when the TLS CA file cannot be loaded.
  SmtpPool(boost::asio::any_io_executor ex, std::string name, SmtpSettings settings, Logger& log,
           MetricsRegistry& metrics);
  ~SmtpPool() override;

  const std::string& name() const override { return name_; }
  size_t lanes() const override { return lanes_.size(); }
  boost::asio::awaitable<void> send_batch(size_t lane, std::span<const RenderedMessage* const> batch,
                                          std::span<DeliveryOutcome> outcomes) override;
  boost::asio::awaitable<void> shutdown() override;

 private:
  struct Lane {
    std::unique_ptr<SmtpSession> session;
    bool busy = false;
    std::string data;  // the batch's DATA payloads, back to back
    std::vector<SmtpJob> jobs;
  };
  boost::asio::awaitable<void> send_on(Lane& lane, std::span<SmtpJob> jobs);
  boost::asio::awaitable<void> reap_idle();

  boost::asio::any_io_executor executor_;
  std::string name_;
  SmtpSettings settings_;
  Logger& log_;
  Gauge& open_connections_;
  Counter& sessions_opened_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::vector<Lane> lanes_;
  bool reaper_running_ = false;
  bool stopping_ = false;
  std::optional<boost::asio::steady_timer> reaper_timer_;
  std::optional<boost::asio::steady_timer> reaper_exit_;  // cancelled when the reaper ends
};

}  // namespace herald
