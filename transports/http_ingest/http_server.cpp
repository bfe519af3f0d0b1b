#include "transports/http_ingest/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <optional>
#include <tuple>

namespace herald {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using net::use_awaitable;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr size_t kHeaderReadSize = 4096;   // a whole small request in one read
constexpr size_t kBodyReadSize = 65536;    // large bodies in few reads
constexpr size_t kKeepBufferBytes = 16384;  // idle sessions give larger buffers back

// By hand rather than with Beast's serializer, which walks a concatenated
// buffer view of every field (about 5k instructions for a small 202, a
// tenth of a single-event request): here one pass of appends. Every
// response is framed here, by a Content-Length from its body (ApiRoutes
// does not call prepare_payload(): its lookups and field insertion cost
// ~800 instructions a request), except those that may not have one. The
// answer to a HEAD request carries the GET answer's header, Content-Length
// included, and no body (RFC 9110 §9.3.2): a body there would be read as
// the start of the next response on the connection.
void serialize_response(const HttpResponse& res, std::string& out, bool head) {
  const unsigned status = res.result_int();
  out.append(res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  const char code[4] = {char('0' + status / 100 % 10), char('0' + status / 10 % 10), char('0' + status % 10), ' '};
  out.append(code, 4);
  out.append(res.reason());
  out.append("\r\n");
  for (const auto& f : res) {
    out.append(f.name_string());
    out.append(": ");
    out.append(f.value());
    out.append("\r\n");
  }
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (!bodiless && res.find(http::field::content_length) == res.end()) {
    out.append("Content-Length: ");
    out.append(std::to_string(res.body().size()));
    out.append("\r\n");
  }
  out.append("\r\n");
  if (!head) out.append(res.body());
}

// Beast's request parser, keeping only the header fields herald reads
// (ApiRoutes: Authorization, Content-Type; read_request: Expect; Beast's
// keep_alive(): Connection) and counting the framing fields instead of
// storing them. Each stored field is an allocation and an insert into the
// field list (~350 instructions, callgrind); a typical client sends Host,
// Content-Length and more that nothing here looks at.
class RequestParser final : public http::request_parser<PaddedStringBody> {
 public:
  const RequestFraming& framing() const { return framing_; }

 private:
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    switch (name) {
      case http::field::transfer_encoding:
      case http::field::content_length: framing_.add(name, value); break;
      case http::field::authorization:
      case http::field::content_type:
      case http::field::expect:
      case http::field::connection: get().insert(name, name_string, value); break;
      default: break;
    }
  }

  RequestFraming framing_;
};

}  // namespace

// Everything below is touched only by the worker's thread.
struct HttpServer::Worker {
  explicit Worker(net::io_context& c) : ioc(c), sweep(c) {}
  net::io_context& ioc;
  net::steady_timer sweep;
  std::vector<Session*> sessions;
  // One per thread, not per session: decoding never suspends, and simdjson's
  // parse buffers stay hot in cache when every request reuses them, instead
  // of a cold set per connection (sized by that connection's largest body).
  EventDecoder decoder;
};

struct HttpServer::Session {
  Session(Worker& w, tcp::socket&& s) : worker(w), socket(std::move(s)) {
    slot = worker.sessions.size();
    worker.sessions.push_back(this);
  }
  ~Session() {
    worker.sessions.back()->slot = slot;
    worker.sessions[slot] = worker.sessions.back();
    worker.sessions.pop_back();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void expires_after(std::chrono::milliseconds d) { deadline = SteadyClock::now() + d; }
  void no_deadline() { deadline = SteadyClock::time_point::max(); }

  Worker& worker;
  tcp::socket socket;
  beast::flat_buffer buffer;
  std::string out;  // the serialized response, reused
  size_t out_sent = 0;  // bytes of `out` written
  std::optional<RequestParser> parser;
  SteadyClock::time_point deadline = SteadyClock::time_point::max();
  bool reading = false;    // waiting for or reading a request: stop() cancels it
  bool timed_out = false;  // set by the sweep; the socket was cancelled
  size_t slot = 0;         // index in worker.sessions
};

HttpServer::HttpServer(std::span<net::io_context* const> workers, const HttpSettings& settings, ApiRoutes& routes,
                       Logger& log, MetricsRegistry& metrics)
    : settings_(settings),
      routes_(routes),
      log_(log),
      acceptor_(*workers.front()),
      drained_(*workers.front(), 1),
      open_connections_(metrics.gauge("herald_http_connections", "Open HTTP connections")),
      requests_(metrics.counter("herald_http_requests_total", "HTTP requests read")) {
  for (auto* w : workers) workers_.push_back(std::make_unique<Worker>(*w));
}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  tcp::endpoint ep(net::ip::make_address(settings_.address), settings_.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(net::socket_base::max_listen_connections);
  endpoint_ = acceptor_.local_endpoint();
  // Drained means: no session, no sweep and no accept loop left running.
  open_ = workers_.size() + 1;
  for (auto& w : workers_)
    net::co_spawn(w->ioc, run_sweep(*w), [this](std::exception_ptr e) {
      log_failure("http sweep failed", e);
      task_ended();
    });
  net::co_spawn(acceptor_.get_executor(), run_accept(), [this](std::exception_ptr e) {
    log_failure("http accept loop failed", e);
    task_ended();
  });
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  for (auto& w : workers_) {
    // A session waiting for or reading a request is cancelled; one that is
    // processing a request or writing its answer sees stopping_ afterwards.
    net::post(w->ioc, [w = w.get()] {
      for (Session* s : w->sessions)
        if (s->reading) {
          beast::error_code ec;
          s->socket.cancel(ec);
        }
      if (w->sessions.empty()) w->sweep.cancel();
    });
  }
}

net::awaitable<void> HttpServer::wait_drained() {
  co_await drained_.async_receive(net::as_tuple(use_awaitable));
}

void HttpServer::log_failure(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log_.error(what, {{"error", ex.what()}});
  }
}

void HttpServer::task_ended() {
  bool last;
  {
    std::lock_guard lock(mutex_);
    last = --open_ == 0;
  }
  if (last) drained_.try_send(boost::system::error_code{});
}

net::awaitable<void> HttpServer::run_accept() {
  while (!stopping_) {
    Worker& w = *workers_[next_worker_++ % workers_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(w.ioc, net::as_tuple(use_awaitable));
    if (ec) {
      if (stopping_ || ec == net::error::operation_aborted) break;
      log_.warn("accept failed", {{"error", ec.message()}});
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      if (open_ - workers_.size() - 1 >= settings_.max_connections) {
        log_.warn("connection limit reached; closing new connection",
                  {{"limit", static_cast<unsigned long>(settings_.max_connections)}});
        continue;  // the socket closes here
      }
      ++open_;
    }
    open_connections_.add(1);
    net::co_spawn(w.ioc, run_session(w, std::move(socket)), [this](std::exception_ptr e) {
      log_failure("http session failed", e);
      open_connections_.add(-1);
      task_ended();
    });
  }
}

net::awaitable<void> HttpServer::run_sweep(Worker& w) {
  const auto shortest = std::min({settings_.header_timeout, settings_.body_timeout, settings_.idle_timeout});
  const auto tick = std::clamp<std::chrono::milliseconds>(shortest / 4, std::chrono::milliseconds(20),
                                                          std::chrono::milliseconds(1000));
  while (!stopping_ || !w.sessions.empty()) {
    w.sweep.expires_after(tick);
    co_await w.sweep.async_wait(net::as_tuple(use_awaitable));
    const auto now = SteadyClock::now();
    for (Session* s : w.sessions) {
      if (s->deadline > now || s->timed_out) continue;
      s->timed_out = true;
      beast::error_code ec;
      s->socket.cancel(ec);
    }
  }
}

// The response is serialized into one buffer and written with a
// non-blocking send first: a small answer leaves in one syscall without a
// trip through the scheduler, and without a coroutine of its own (a frame
// per request); only what the socket did not take is written by
// send_rest(). False: the connection failed.
bool HttpServer::send_now(Session& s, const HttpResponse& res, bool head) {
  s.out.clear();
  s.out_sent = 0;
  serialize_response(res, s.out, head);
  beast::error_code ec;
  s.expires_after(settings_.body_timeout);
  const size_t sent = s.socket.write_some(net::buffer(s.out), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) return true;
  if (ec) return false;
  s.out_sent = sent;
  if (sent == s.out.size()) s.no_deadline();
  return true;
}

net::awaitable<bool> HttpServer::send_rest(Session& s) {
  if (s.out_sent == s.out.size()) co_return true;
  if (s.timed_out) co_return false;
  auto [ec, n] = co_await net::async_write(s.socket, net::buffer(s.out.data() + s.out_sent, s.out.size() - s.out_sent),
                                           net::as_tuple(use_awaitable));
  s.out_sent += n;
  s.no_deadline();
  co_return !ec && !s.timed_out;
}

net::awaitable<bool> HttpServer::send(Session& s, const HttpResponse& res) {
  co_return send_now(s, res, false) && co_await send_rest(s);
}

// Reads one request into s.parser, driving Beast's parser directly over the
// session's buffer: a request that arrived whole costs one read and no
// composed operation. False: close the connection (any error answer has
// been sent).
net::awaitable<bool> HttpServer::read_request(Session& s) {
  auto& parser = s.parser.emplace();
  parser.header_limit(static_cast<std::uint32_t>(settings_.max_header_bytes));
  parser.body_limit(settings_.max_body_bytes);
  enum class Phase { idle, header, body } phase = Phase::idle;
  // Waiting for the first byte of a request has the keep-alive idle time;
  // from then on the header must arrive within header_timeout (slowloris)
  // and the body within body_timeout.
  s.expires_after(settings_.idle_timeout);
  s.reading = true;
  auto malformed = [&](std::string_view what) {
    return (phase == Phase::body ? "malformed HTTP body: " : "malformed HTTP request: ") + std::string(what);
  };
  auto reject = [&](HttpStatus status, const char* code, std::string reason) -> net::awaitable<bool> {
    s.reading = false;
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    auto res = make_error_response(status, version, code, reason);
    res.keep_alive(false);
    co_await send(s, res);
    co_return false;
  };
  auto finished = [&] {
    s.reading = false;
    s.no_deadline();
    if (s.buffer.size() == 0 && s.buffer.capacity() > kKeepBufferBytes) s.buffer.shrink_to_fit();
  };
  for (;;) {
    if (s.buffer.size() > 0) {
      if (phase == Phase::idle) {
        phase = Phase::header;
        s.expires_after(settings_.header_timeout);
      }
      beast::error_code ec;
      const size_t used = parser.put(s.buffer.data(), ec);
      s.buffer.consume(used);
      if (ec == http::error::body_limit)
        co_return co_await reject(HttpStatus::payload_too_large, "payload_too_large",
                                  "body exceeds " + std::to_string(settings_.max_body_bytes) + " bytes");
      if (ec == http::error::header_limit)
        co_return co_await reject(HttpStatus::request_header_fields_too_large, "header_too_large",
                                  "request header too large");
      if (ec && ec != http::error::need_more)
        co_return co_await reject(HttpStatus::bad_request, "bad_request", malformed(ec.message()));
      if (phase == Phase::header && parser.is_header_done()) {
        phase = Phase::body;
        requests_.inc();
        const auto& header = parser.get();
        if (auto why = check_request_framing(parser.framing(), header.version())) co_return co_await reject(HttpStatus::bad_request, "bad_request", *why);
        s.expires_after(settings_.body_timeout);
        if (!parser.is_done() && beast::iequals(header[http::field::expect], "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          auto [cec, cn] = co_await net::async_write(s.socket, net::buffer(kContinue), net::as_tuple(use_awaitable));
          (void)cn;
          if (cec) co_return false;
        }
      }
      if (parser.is_done()) {
        finished();
        co_return true;
      }
      if (used > 0 && s.buffer.size() > 0) continue;  // more to parse without reading
    }
    if (stopping_ || s.timed_out) co_return false;
    // A body of known length gets what remains of it (at least a header's
    // worth): a client that writes header and body apart (Python's
    // http.client does) would otherwise grow the buffer to 64 KB for a
    // 300-byte event, and shrink_to_fit above give it back, two large
    // allocations a request.
    size_t want = kHeaderReadSize;
    boost::optional<std::uint64_t> remaining;
    if (phase == Phase::body) {
      remaining = parser.content_length_remaining();
      want = remaining ? std::clamp<size_t>(*remaining, kHeaderReadSize, kBodyReadSize) : kBodyReadSize;
    }
    // The rest of a large body is read straight into the body's buffer and
    // handed to the parser from there, where its reader leaves it
    // (PaddedStringBody): not into the connection's buffer and copied.
    PaddedBuffer& body = parser.get().body();
    const bool direct = remaining && *remaining > kHeaderReadSize && s.buffer.size() == 0 &&
                        body.spare_size() >= *remaining;
    boost::system::error_code ec;
    size_t n = 0;
    if (direct)  // (no co_await inside ?:, which GCC 12 miscompiles)
      std::tie(ec, n) = co_await s.socket.async_read_some(net::buffer(body.spare(), static_cast<size_t>(*remaining)),
                                                          net::as_tuple(use_awaitable));
    else
      std::tie(ec, n) = co_await s.socket.async_read_some(s.buffer.prepare(want), net::as_tuple(use_awaitable));
    if (ec) {
      s.reading = false;
      // Timed out, cancelled by stop(), reset: close without an answer. A
      // client that half-closed mid-request still hears why.
      if (ec == net::error::eof && phase != Phase::idle)
        co_return co_await reject(HttpStatus::bad_request, "bad_request", malformed("partial message"));
      co_return false;
    }
    if (!direct) {
      s.buffer.commit(n);
      continue;
    }
    beast::error_code pec;
    const size_t taken = parser.put(net::buffer(body.spare(), n), pec);
    if ((pec && pec != http::error::need_more) || taken != n)
      co_return co_await reject(HttpStatus::bad_request, "bad_request", malformed(pec ? pec.message() : "body overrun"));
    if (parser.is_done()) {
      finished();
      co_return true;
    }
  }
}

net::awaitable<void> HttpServer::run_session(Worker& worker, tcp::socket socket) {
  {
    Session s(worker, std::move(socket));
    beast::error_code ec;
    s.socket.set_option(tcp::no_delay(true), ec);
    s.socket.non_blocking(true, ec);  // for send()'s first, synchronous attempt
    while (!stopping_) {
      if (!co_await read_request(s)) break;
      HttpRequest req = s.parser->release();
      const bool keep_alive = req.keep_alive() && !stopping_;
      HttpResponse res = co_await routes_.handle(req, s.worker.decoder);
      // HTTP/1.1 keeps the connection by default, and no answer of ours
      // has a Connection field, so then there is nothing to set (Beast's
      // keep_alive() looks the field up on every response).
      if (!keep_alive || res.version() != 11) res.keep_alive(keep_alive);
      if (!send_now(s, res, req.method() == http::verb::head)) break;
      if (s.out_sent < s.out.size() && !co_await send_rest(s)) break;
      if (!keep_alive) break;
      // Asio tries a read before it waits for epoll, and right after an
      // answer the client has not sent its next request yet: under wrk half
      // of all reads found nothing, a syscall each. Running the other
      // connections' ready handlers first gives the client that time
      // (recvfrom per request 2.0 -> 1.05-1.17, perf stat under wrk).
      if (s.buffer.size() == 0) co_await net::post(s.socket.get_executor(), use_awaitable);
    }
    s.socket.shutdown(tcp::socket::shutdown_send, ec);
    s.socket.close(ec);
  }
  // The last session of a stopping server ends its worker's sweep now
  // rather than at the next tick.
  if (stopping_ && worker.sessions.empty()) worker.sweep.cancel();
}

}  // namespace herald
