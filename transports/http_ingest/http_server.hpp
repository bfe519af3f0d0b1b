#pragma once
// HttpServer: Beast HTTP/1.1 listener with keep-alive, one coroutine per
// connection on its own strand.
//
// Bounded everywhere: header size and time (slowloris), body size (413
// before the body is read when Content-Length says so) and time, keep-alive
// idle time, number of connections. stop() closes the listener and cancels
// idle connections; requests already being processed finish and get their
// answer. wait_drained() completes when the last connection is gone.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "core/config/settings.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "transports/http_ingest/api_routes.hpp"

namespace herald {

class HttpServer final {
 public:
  HttpServer(boost::asio::io_context& ioc, const HttpSettings& settings, ApiRoutes& routes, Logger& log,
             MetricsRegistry& metrics);
  ~HttpServer();

  // Binds and listens (throws boost::system::system_error), starts accepting.
  void start();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }

  void stop();
  boost::asio::awaitable<void> wait_drained();

 private:
  struct Session;
  boost::asio::awaitable<void> run_accept();
  boost::asio::awaitable<void> run_session(std::shared_ptr<Session> session);
  void session_ended(const std::shared_ptr<Session>& s);

  boost::asio::io_context& ioc_;
  HttpSettings settings_;
  ApiRoutes& routes_;
  Logger& log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;  // guards sessions_ and accept_done_
  std::unordered_set<std::shared_ptr<Session>> sessions_;
  bool accept_done_ = false;
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> drained_;
  Gauge& open_connections_;
  Counter& requests_;
};

}  // namespace herald
