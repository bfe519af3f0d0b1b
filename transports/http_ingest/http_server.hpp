#pragma once
// HttpServer: HTTP/1.1 keep-alive listener; one coroutine per connection.
//
// Sessions are spread round-robin over worker io_contexts that are each run
// by exactly one thread, so a session needs no strand: every completion of
// its socket and of its journal commit runs on that thread.
//
// Bounded everywhere: header size and time (slowloris), body size (413
// before the body is read when Content-Length says so) and time, keep-alive
// idle time, write time, number of connections. Deadlines are plain fields
// that one sweep timer per worker checks (a few times a second) instead of a
// timer armed and cancelled around every socket operation: those cost two
// extra scheduler round trips and a timerfd update per read or write, which
// was a large share of a small request's CPU.
//
// stop() closes the listener and cancels connections waiting for or reading
// a request; requests already being processed finish and get their answer.
// wait_drained() completes when the last connection is gone.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/config/settings.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "transports/http_ingest/api_routes.hpp"

namespace herald {

class HttpServer final {
 public:
  // `workers` must each be run by one thread only; the listener runs on the
  // first. They must outlive the server.
  HttpServer(std::span<boost::asio::io_context* const> workers, const HttpSettings& settings, ApiRoutes& routes,
             Logger& log, MetricsRegistry& metrics);
  ~HttpServer();

  // Binds and listens (throws boost::system::system_error), starts accepting.
  void start();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }

  void stop();
  // Completes once no connection, sweep or accept loop is left. The server
  // may be destroyed once the worker threads have returned from run().
  boost::asio::awaitable<void> wait_drained();

 private:
  struct Session;
  struct Worker;
  boost::asio::awaitable<void> run_accept();
  boost::asio::awaitable<void> run_session(Worker& worker, boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> run_sweep(Worker& worker);
  boost::asio::awaitable<bool> read_request(Session& s);
  boost::asio::awaitable<bool> send(Session& s, const HttpResponse& res);
  bool send_now(Session& s, const HttpResponse& res, bool head);
  boost::asio::awaitable<bool> send_rest(Session& s);
  void task_ended();
  void log_failure(const char* what, std::exception_ptr e);

  std::vector<std::unique_ptr<Worker>> workers_;
  HttpSettings settings_;
  ApiRoutes& routes_;
  Logger& log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;  // guards open_
  size_t open_ = 0;   // sessions, sweeps and the accept loop still running
  size_t next_worker_ = 0;  // accept loop only
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> drained_;
  Gauge& open_connections_;
  Counter& requests_;
};

}  // namespace herald
