#include "transports/http_ingest/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace herald {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using net::use_awaitable;

struct HttpServer::Session {
  explicit Session(tcp::socket&& socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
};

HttpServer::HttpServer(net::io_context& ioc, const HttpSettings& settings, ApiRoutes& routes, Logger& log,
                       MetricsRegistry& metrics)
    : ioc_(ioc),
      settings_(settings),
      routes_(routes),
      log_(log),
      acceptor_(net::make_strand(ioc)),
      drained_(ioc, 1),
      open_connections_(metrics.gauge("herald_http_connections", "Open HTTP connections")),
      requests_(metrics.counter("herald_http_requests_total", "HTTP requests read")) {}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  tcp::endpoint ep(net::ip::make_address(settings_.address), settings_.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(net::socket_base::max_listen_connections);
  endpoint_ = acceptor_.local_endpoint();
  net::co_spawn(acceptor_.get_executor(), run_accept(), [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log_.error("http accept loop failed", {{"error", ex.what()}});
      }
    }
    std::lock_guard lock(mutex_);
    accept_done_ = true;
    if (sessions_.empty()) drained_.try_send(boost::system::error_code{});
  });
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  std::lock_guard lock(mutex_);
  for (const auto& s : sessions_) {
    // On the session's strand: either the session is waiting for a request
    // (the read is cancelled and it exits) or it is processing one (nothing
    // is pending on the socket; it sees stopping_ after answering).
    // The session may have closed its socket already: ignore EBADF.
    net::post(s->stream.get_executor(), [s] {
      beast::error_code ec;
      s->stream.socket().cancel(ec);
    });
  }
}

net::awaitable<void> HttpServer::wait_drained() {
  co_await drained_.async_receive(net::as_tuple(use_awaitable));
}

void HttpServer::session_ended(const std::shared_ptr<Session>& s) {
  open_connections_.add(-1);
  std::lock_guard lock(mutex_);
  sessions_.erase(s);
  if (sessions_.empty() && accept_done_) drained_.try_send(boost::system::error_code{});
}

net::awaitable<void> HttpServer::run_accept() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(net::make_strand(ioc_), net::as_tuple(use_awaitable));
    if (ec) {
      if (stopping_ || ec == net::error::operation_aborted) break;
      log_.warn("accept failed", {{"error", ec.message()}});
      continue;
    }
    auto session = std::make_shared<Session>(std::move(socket));
    {
      std::lock_guard lock(mutex_);
      if (sessions_.size() >= settings_.max_connections) {
        log_.warn("connection limit reached; closing new connection",
                  {{"limit", static_cast<unsigned long>(settings_.max_connections)}});
        continue;  // the socket closes with `session`
      }
      sessions_.insert(session);
    }
    open_connections_.add(1);
    auto ex = session->stream.get_executor();
    net::co_spawn(ex, run_session(session), [this, session](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log_.error("http session failed", {{"error", ex.what()}});
        }
      }
      session_ended(session);
    });
  }
}

net::awaitable<void> HttpServer::run_session(std::shared_ptr<Session> session) {
  auto& stream = session->stream;
  beast::flat_buffer buffer;
  EventDecoder decoder;

  auto send = [&](HttpResponse res, bool keep_alive) -> net::awaitable<bool> {
    res.keep_alive(keep_alive);
    stream.expires_after(settings_.body_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, net::as_tuple(use_awaitable));
    (void)n;
    co_return !ec;
  };
  auto reject = [&](HttpStatus status, const char* code, std::string reason, unsigned version) {
    return send(make_error_response(status, version, code, reason), false);
  };

  for (;;) {
    if (stopping_) break;
    // Wait for the first byte of the next request under the idle timeout,
    // then give the whole header header_timeout (bounds slowloris clients).
    if (buffer.size() == 0) {
      stream.expires_after(settings_.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), net::as_tuple(use_awaitable));
      if (ec) break;
      buffer.commit(n);
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(settings_.max_header_bytes));
    parser.body_limit(settings_.max_body_bytes);
    stream.expires_after(settings_.header_timeout);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, net::as_tuple(use_awaitable));
    (void)hn;
    if (hec == http::error::body_limit) {
      co_await reject(HttpStatus::payload_too_large, "payload_too_large",
                      "body exceeds " + std::to_string(settings_.max_body_bytes) + " bytes", 11);
      break;
    }
    if (hec == http::error::header_limit) {
      co_await reject(HttpStatus::request_header_fields_too_large, "header_too_large", "request header too large", 11);
      break;
    }
    if (hec) {
      if (hec != http::error::end_of_stream && hec != net::error::operation_aborted && hec != beast::error::timeout)
        co_await reject(HttpStatus::bad_request, "bad_request", "malformed HTTP request: " + hec.message(), 11);
      break;
    }
    requests_.inc();
    const auto& header = parser.get();
    if (auto why = check_request_framing(header)) {
      co_await reject(HttpStatus::bad_request, "bad_request", *why, header.version());
      break;
    }
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, header.version()};
      stream.expires_after(settings_.body_timeout);
      auto [cec, cn] = co_await http::async_write(stream, cont, net::as_tuple(use_awaitable));
      (void)cn;
      if (cec) break;
    }
    stream.expires_after(settings_.body_timeout);
    auto [bec, bn] = co_await http::async_read(stream, buffer, parser, net::as_tuple(use_awaitable));
    (void)bn;
    if (bec == http::error::body_limit) {
      co_await reject(HttpStatus::payload_too_large, "payload_too_large",
                      "body exceeds " + std::to_string(settings_.max_body_bytes) + " bytes", header.version());
      break;
    }
    if (bec) {
      if (bec != net::error::operation_aborted && bec != beast::error::timeout && bec != http::error::end_of_stream)
        co_await reject(HttpStatus::bad_request, "bad_request", "malformed HTTP body: " + bec.message(),
                        header.version());
      break;
    }
    HttpRequest req = parser.release();
    bool keep_alive = req.keep_alive() && !stopping_;
    HttpResponse res = co_await routes_.handle(req, decoder);
    if (!co_await send(std::move(res), keep_alive) || !keep_alive) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

}  // namespace herald
