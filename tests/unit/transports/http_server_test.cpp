// HttpServer over real sockets: keep-alive, pipelining, requests split
// across writes, limits (body, header, connections), every timeout, 100
// Continue, and stop() draining. The server runs on two worker io_contexts
// with one thread each, as heraldd runs it; the test thread is the client.
#include "transports/http_ingest/http_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <sys/socket.h>

#include <thread>

#include "core/history/segment_history_log.hpp"
#include "core/journal/journal.hpp"
#include "core/render/message_renderer.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using net::ip::tcp;
using namespace std::chrono_literals;

const std::string kEvent =
    R"({"id":"e-1","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03Z","partner":{"id":"P-1"}})";

std::string post(const std::string& body, const std::string& extra_headers = "") {
  return "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}
const std::string kHealth = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

// n copies of kEvent with ids prefix0 … prefix<n-1>, a line each.
std::string ndjson_events(const std::string& prefix, int n) {
  std::string body;
  for (int i = 0; i < n; ++i) {
    std::string line = kEvent;
    line.replace(line.find("\"e-1\""), 5, "\"" + prefix + std::to_string(i) + "\"");
    body += line + "\n";
  }
  return body;
}
std::string post_ndjson(const std::string& body) {
  return "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-ndjson\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A blocking client socket with a receive timeout.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    timeval tv{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(std::string_view data) { net::write(socket_, net::buffer(data)); }
  void shutdown_send() { socket_.shutdown(tcp::socket::shutdown_send); }

  // The next response; `ec` is set when the connection ends first.
  http::response<http::string_body> response(boost::system::error_code& ec) {
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res, ec);
    return res;
  }
  http::response<http::string_body> response() {
    boost::system::error_code ec;
    auto res = response(ec);
    EXPECT_FALSE(ec) << ec.message();
    return res;
  }
  // True when the server closed the connection (EOF or reset) without sending more.
  bool closed_by_server() {
    char c;
    boost::system::error_code ec;
    size_t n = socket_.read_some(net::buffer(&c, 1), ec);
    return n == 0 && (ec == net::error::eof || ec == net::error::connection_reset);
  }
  // Everything until the server closes.
  std::string read_to_end() {
    std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    char chunk[4096];
    boost::system::error_code ec;
    while (size_t n = socket_.read_some(net::buffer(chunk), ec)) out.append(chunk, n);
    return out;
  }
  std::string read_exactly(size_t n) {
    std::string out(n, '\0');
    size_t from_buffer = std::min(n, buffer_.size());
    net::buffer_copy(net::buffer(out.data(), from_buffer), buffer_.data());
    buffer_.consume(from_buffer);
    if (from_buffer < n) net::read(socket_, net::buffer(out.data() + from_buffer, n - from_buffer));
    return out;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JournalSettings js;
    js.log.dir = dir.path() / "journal";
    js.maintenance_interval = 1h;
    journal = std::make_unique<Journal>(js, make_pwrite_log_io(), log, metrics);
    std::vector<PendingEvent> pending;
    journal->open(pending);
    HistorySettings hs;
    hs.log.dir = dir.path() / "history";
    history = std::make_unique<SegmentHistoryLog>(hs, make_pwrite_log_io(), log, metrics);
    history->open();
    std::filesystem::create_directories(dir.path() / "resources");
    store = std::make_unique<ResourceStore>(dir.path() / "resources", dir.path() / "api");
    pipeline = std::make_unique<EventPipeline>(store->snapshots(), renderer, *journal, *history, metrics, log);
    routes = std::make_unique<ApiRoutes>(*pipeline, *journal, metrics, log, store.get());
  }

  void start(HttpSettings s) {
    s.port = 0;
    server = std::make_unique<HttpServer>(workers, s, *routes, log, metrics);
    server->start();
    port = server->local_endpoint().port();
    for (auto* w : workers) threads.emplace_back([w] { w->run(); });
  }

  // stop() and wait_drained(), as heraldd's shutdown does.
  void stop_and_drain() {
    server->stop();
    auto drained = net::co_spawn(ctx0, server->wait_drained(), net::use_future);
    ASSERT_EQ(drained.wait_for(10s), std::future_status::ready);
    stopped = true;
  }

  void TearDown() override {
    if (server && !stopped) stop_and_drain();
    guards.clear();
    for (auto& t : threads) t.join();
    server.reset();  // only now: its last completions ran on those threads
    history->close();
    journal->close();
  }

  static HttpSettings quick() {
    HttpSettings s;
    s.max_body_bytes = 1024;
    s.max_header_bytes = 1024;
    s.header_timeout = 300ms;
    s.body_timeout = 300ms;
    s.idle_timeout = 600ms;
    return s;
  }

  TempDir dir;
  Logger log{nullptr};
  MetricsRegistry metrics;
  MessageRenderer renderer{Mailbox{"herald@example.com", "herald"}};
  std::unique_ptr<Journal> journal;
  std::unique_ptr<SegmentHistoryLog> history;
  std::unique_ptr<ResourceStore> store;
  std::unique_ptr<EventPipeline> pipeline;
  std::unique_ptr<ApiRoutes> routes;
  net::io_context ctx0{1}, ctx1{1};
  std::vector<net::io_context*> workers{&ctx0, &ctx1};
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards{net::make_work_guard(ctx0),
                                                                              net::make_work_guard(ctx1)};
  std::vector<std::thread> threads;
  std::unique_ptr<HttpServer> server;
  bool stopped = false;
  uint16_t port = 0;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start(quick());
  Client c(port);
  for (int i = 0; i < 5; ++i) {
    c.send(kHealth);
    auto res = c.response();
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), R"({"status":"ok"})");
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start(quick());
  Client c(port);
  c.send(kHealth + "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n" + post(kEvent));
  EXPECT_EQ(c.response().result(), http::status::ok);
  EXPECT_EQ(c.response().result(), http::status::not_found);
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::accepted) << res.body();
}

TEST_F(HttpServerTest, RequestSplitAcrossManyWritesIsReassembled) {
  start(quick());
  Client c(port);
  const std::string req = post(kEvent);
  for (size_t i = 0; i < req.size(); i += 7) {
    c.send(std::string_view(req).substr(i, 7));
    std::this_thread::sleep_for(1ms);
  }
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::accepted) << res.body();
  EXPECT_NE(res.body().find("\"e-1\""), std::string::npos);
}

// A large body's rest is read straight into the body's buffer
// (PaddedStringBody): arriving in pieces, with the next request right
// behind it in the last one, every event is accepted and the next request
// is still answered; a large body that stops coming is cut at the body
// timeout, and one whose sender half-closes gets its 400.
TEST_F(HttpServerTest, LargeBodyArrivingInPiecesIsReadWholeAndTheNextRequestAfterIt) {
  HttpSettings s = quick();
  s.max_body_bytes = 1 << 20;
  start(s);
  Client c(port);
  const std::string body = ndjson_events("big-", 150);
  ASSERT_GT(body.size(), 3 * 4096u);
  const std::string req = post_ndjson(body) + kHealth;
  const size_t head = req.size() - body.size() - kHealth.size();
  c.send(std::string_view(req).substr(0, head + 100));
  std::this_thread::sleep_for(5ms);
  for (size_t at = head + 100; at < req.size(); at += 2999) {
    c.send(std::string_view(req).substr(at, 2999));
    std::this_thread::sleep_for(2ms);
  }
  auto res = c.response();
  ASSERT_EQ(res.result(), http::status::accepted) << res.body();
  EXPECT_NE(res.body().find("\"big-0\""), std::string::npos);
  EXPECT_NE(res.body().find("\"big-149\""), std::string::npos);
  EXPECT_EQ(c.response().result(), http::status::ok);  // the request behind the body

  Client slow(port);
  slow.send("POST /v1/events HTTP/1.1\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n" +
            body.substr(0, 5000));
  EXPECT_TRUE(slow.closed_by_server());
  Client half(port);
  half.send("POST /v1/events HTTP/1.1\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n" +
            body.substr(0, 5000));
  std::this_thread::sleep_for(20ms);
  half.send(body.substr(5000, 5000));
  half.shutdown_send();
  auto cut = half.response();
  EXPECT_EQ(cut.result(), http::status::bad_request);
  EXPECT_NE(cut.body().find("partial message"), std::string::npos);
}

// With bulk decoding spread (heraldd's default: every io thread in turn),
// every second large body is decoded and accepted on the other thread, its
// answer still in order on its own connection; a bad one's 400 comes back
// the same way; small bodies never move; with a threshold of 0 none do.
TEST_F(HttpServerTest, BulkBodiesAreDecodedOnEveryIoThreadInTurn) {
  routes->spread_bulk_decoding({ctx0.get_executor(), ctx1.get_executor()}, 2048);
  HttpSettings s = quick();
  s.max_body_bytes = 1 << 20;
  start(s);
  auto ndjson = [](const std::string& prefix, int n) { return post_ndjson(ndjson_events(prefix, n)); };
  Counter& moved = metrics.counter("herald_http_bulk_decodes_moved_total", "");
  Client c(port);
  std::string pipelined;
  for (int r = 0; r < 4; ++r) pipelined += ndjson("bulk-" + std::to_string(r) + "-", 40) + post(kEvent);
  c.send(pipelined);
  for (int r = 0; r < 4; ++r) {
    auto res = c.response();
    ASSERT_EQ(res.result(), http::status::accepted) << res.body();
    const std::string prefix = "\"bulk-" + std::to_string(r) + "-";
    EXPECT_NE(res.body().find(prefix + "0\""), std::string::npos) << res.body();
    EXPECT_NE(res.body().find(prefix + "39\""), std::string::npos) << res.body();
    EXPECT_EQ(c.response().result(), http::status::accepted);  // the small one behind it, where it was read
  }
  EXPECT_EQ(moved.value(), 2u);  // four large bodies over two threads: two moved
  for (int r = 0; r < 4; ++r) EXPECT_TRUE(journal->status(Journal::key("default", "bulk-" + std::to_string(r) + "-7")));

  std::string bad = ndjson("bad-", 40);
  bad.replace(bad.rfind("invoice.posted"), 14, "invoice posted");
  c.send(bad + bad);  // one on each thread
  for (int i = 0; i < 2; ++i) {
    auto res = c.response();
    EXPECT_EQ(res.result(), http::status::bad_request);
    EXPECT_NE(res.body().find("validation_failed"), std::string::npos) << res.body();
  }
  EXPECT_EQ(moved.value(), 3u);
  EXPECT_FALSE(journal->status(Journal::key("default", "bad-0")));
}

TEST_F(HttpServerTest, BulkDecodingSpreadOfZeroKeepsEveryBodyWhereItWasRead) {
  routes->spread_bulk_decoding({ctx0.get_executor(), ctx1.get_executor()}, 0);
  HttpSettings s = quick();
  s.max_body_bytes = 1 << 20;
  start(s);
  const std::string body = ndjson_events("k-", 40);
  const std::string req = post_ndjson(body);
  ASSERT_GT(body.size(), 2048u);
  Client c(port);
  c.send(req + req);
  EXPECT_EQ(c.response().result(), http::status::accepted);
  EXPECT_EQ(c.response().result(), http::status::accepted);  // the same ids again: answered as accepted
  EXPECT_EQ(metrics.counter("herald_http_bulk_decodes_moved_total", "").value(), 0u);
}

TEST_F(HttpServerTest, ChunkedBodyIsAccepted) {
  start(quick());
  Client c(port);
  std::string body = kEvent.substr(0, 20), rest = kEvent.substr(20);
  char head[16];
  std::string chunked;
  for (const auto& part : {body, rest}) {
    std::snprintf(head, sizeof head, "%zx\r\n", part.size());
    chunked += head + part + "\r\n";
  }
  chunked += "0\r\n\r\n";
  c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunked);
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::accepted) << res.body();
}

TEST_F(HttpServerTest, DeclaredOversizedBodyIs413WithoutReadingIt) {
  start(quick());
  Client c(port);
  c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n");
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_NE(res.body().find("payload_too_large"), std::string::npos);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServerTest, ChunkedBodyGrowingPastTheLimitIs413) {
  start(quick());
  Client c(port);
  c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(0x800, 'x') +
         "\r\n0\r\n\r\n");
  EXPECT_EQ(c.response().result(), http::status::payload_too_large);
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  start(quick());
  Client c(port);
  c.send("GET /healthz HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServerTest, GarbageIs400AndClosed) {
  start(quick());
  Client c(port);
  c.send("GARBAGE\r\n\r\n");
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_NE(res.body().find("malformed HTTP request"), std::string::npos);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServerTest, AmbiguousFramingIs400) {
  start(quick());
  Client c(port);
  c.send("POST /v1/events HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}");
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_NE(res.body().find("more than one Content-Length"), std::string::npos);
}

TEST_F(HttpServerTest, SlowHeaderIsCutAtTheHeaderTimeout) {
  start(quick());
  Client c(port);
  const auto started = std::chrono::steady_clock::now();
  c.send("POST /v1/events HTTP/1.1\r\n");
  EXPECT_TRUE(c.closed_by_server());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST_F(HttpServerTest, SlowBodyIsCutAtTheBodyTimeout) {
  start(quick());
  Client c(port);
  c.send("POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedAtTheIdleTimeout) {
  start(quick());
  Client c(port);
  c.send(kHealth);
  EXPECT_EQ(c.response().result(), http::status::ok);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_GE(std::chrono::steady_clock::now() - started, 500ms);
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
  start(quick());
  Client c(port);
  c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
         "Content-Length: " + std::to_string(kEvent.size()) + "\r\n\r\n");
  EXPECT_EQ(c.read_exactly(25), "HTTP/1.1 100 Continue\r\n\r\n");
  c.send(kEvent);
  EXPECT_EQ(c.response().result(), http::status::accepted);
}

TEST_F(HttpServerTest, HalfClosedPartialRequestGets400) {
  start(quick());
  Client c(port);
  c.send("POST /v1/events HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"id\":");
  c.shutdown_send();
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_NE(res.body().find("partial message"), std::string::npos);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start(quick());
  Client c(port);
  c.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServerTest, Http10RequestGetsAnHttp10AnswerAndIsClosed) {
  start(quick());
  Client c(port);
  c.send("GET /healthz HTTP/1.0\r\n\r\n");
  const std::string all = c.read_to_end();
  EXPECT_TRUE(all.starts_with("HTTP/1.0 200 OK\r\n")) << all;
  EXPECT_TRUE(all.ends_with("\r\n\r\n{\"status\":\"ok\"}")) << all;
}

TEST_F(HttpServerTest, AnswerCarriesContentLengthAndItsHeaders) {
  start(quick());
  Client c(port);
  c.send("DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  auto res = c.response();
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, HEAD");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));
}

// RFC 9110 §9.3.2: a HEAD answer has the GET answer's header and no body; a
// body would be read as the start of the next response on the connection.
TEST_F(HttpServerTest, HeadAnswerHasTheHeaderWithoutABody) {
  start(quick());
  Client c(port);
  c.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  const std::string raw = c.read_to_end();
  const auto second = raw.find("HTTP/1.1 200", 1);
  ASSERT_NE(second, std::string::npos) << raw;
  const std::string head = raw.substr(0, second), get = raw.substr(second);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;  // the header, then at once the next answer
  const std::string body = get.substr(get.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, R"({"status":"ok"})");
  EXPECT_NE(head.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos) << head;
}

TEST_F(HttpServerTest, ConnectionsAboveTheLimitAreClosed) {
  auto s = quick();
  s.max_connections = 2;
  s.idle_timeout = 10s;
  start(s);
  Client a(port), b(port);
  for (Client* c : {&a, &b}) {
    c->send(kHealth);
    EXPECT_EQ(c->response().result(), http::status::ok);
  }
  Client third(port);
  EXPECT_TRUE(third.closed_by_server());
  a.send(kHealth);
  EXPECT_EQ(a.response().result(), http::status::ok);
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndDrains) {
  auto s = quick();
  s.idle_timeout = 30s;  // only stop() can end these connections
  start(s);
  Client a(port), b(port);
  for (Client* c : {&a, &b}) {
    c->send(kHealth);
    EXPECT_EQ(c->response().result(), http::status::ok);
  }
  stop_and_drain();
  EXPECT_TRUE(a.closed_by_server());
  EXPECT_TRUE(b.closed_by_server());
}

}  // namespace
}  // namespace herald
