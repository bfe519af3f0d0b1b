#pragma once
// SmtpTransport: delivers e-mail over one SMTP connection to a configured
// relay (EHLO, MAIL, RCPT, DATA; RSET after a failed transaction; QUIT on
// shutdown). The connection is reused across messages up to
// max_messages_per_connection and re-opened after idle_timeout.
//
// Executor affinity: called by one Dispatcher from its strand, one batch at a
// time, so it keeps no locks. Every failure is an outcome: connection and
// protocol errors, timeouts and 4xx replies are transient; 5xx replies are
// permanent and carry the full server reply. A malformed reply drops the
// connection and counts as transient. The SMTP pool work extends this class
// with pooling, PIPELINING, STARTTLS and AUTH.
#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

#include "core/config/settings.hpp"
#include "core/delivery/transport.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

class SmtpTransport final : public Transport {
 public:
  SmtpTransport(boost::asio::any_io_executor ex, std::string name, SmtpSettings settings, Logger& log,
                MetricsRegistry& metrics);
  ~SmtpTransport() override;

  const std::string& name() const override { return name_; }
  boost::asio::awaitable<void> send_batch(std::span<const RenderedMessage* const> batch,
                                          std::span<DeliveryOutcome> outcomes) override;
  boost::asio::awaitable<void> shutdown() override;

 private:
  struct Connection;
  boost::asio::awaitable<DeliveryOutcome> send_one(const RenderedMessage& msg);
  boost::asio::awaitable<std::string> connect();  // "" on success, else the reason
  void drop_connection();

  boost::asio::any_io_executor executor_;
  std::string name_;
  SmtpSettings settings_;
  Logger& log_;
  Gauge& open_connections_;
  std::unique_ptr<Connection> conn_;
  std::string mime_buf_;  // reused across messages
  std::string data_buf_;
};

}  // namespace herald
