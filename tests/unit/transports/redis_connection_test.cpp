// RedisConnection against a scripted server on a loopback socket: command
// encoding, pipelined replies split at every byte, error replies, garbage,
// a server that goes silent, AUTH refusal.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstring>
#include <functional>
#include <optional>

#include "transports/redis_ingest/redis_connection.hpp"

namespace herald {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

TEST(CommandBatchTest, EncodesArgumentsLengthPrefixed) {
  CommandBatch b;
  b.add({"XADD", "s", "*", "event", std::string_view("a\r\n*1\r\n$8\r\nFLUSHALL\r\n\0z", 23)});
  b.add({"PING"});
  EXPECT_EQ(b.count(), 2u);
  static constexpr char kWire[] =
      "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$5\r\nevent\r\n$23\r\n"
      "a\r\n*1\r\n$8\r\nFLUSHALL\r\n\0z\r\n*1\r\n$4\r\nPING\r\n";
  EXPECT_EQ(b.wire(), std::string(kWire, sizeof kWire - 1));
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.wire(), "");
}

// Accepts one connection, reads `expect_bytes` request bytes (if any), then
// writes `answer` in pieces of `chunk` bytes.
struct ScriptedServer {
  explicit ScriptedServer(net::io_context& ioc) : acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}
  tcp::acceptor acceptor;
  std::string received;

  uint16_t port() const { return acceptor.local_endpoint().port(); }

  net::awaitable<void> serve(size_t expect_bytes, std::string answer, size_t chunk, bool then_hang = false) {
    auto sock = co_await acceptor.async_accept(net::use_awaitable);
    if (expect_bytes) {
      received.resize(expect_bytes);
      co_await net::async_read(sock, net::buffer(received), net::use_awaitable);
    }
    for (size_t i = 0; i < answer.size(); i += chunk)
      co_await net::async_write(sock, net::buffer(answer.substr(i, chunk)), net::use_awaitable);
    if (then_hang) {
      char c;
      co_await sock.async_read_some(net::buffer(&c, 1), net::as_tuple(net::use_awaitable));
    }
  }
};

struct Outcome {
  boost::system::error_code ec;
  std::vector<RedisReply> replies;
  std::string detail;
};

Outcome run_exec(ScriptedServer& server, net::io_context& ioc, const CommandBatch& batch,
                 std::function<net::awaitable<void>()> serve, RedisEndpoint ep = {},
                 std::chrono::milliseconds timeout = 2s) {
  ep.host = "127.0.0.1";
  ep.port = server.port();
  RedisConnection conn(ioc.get_executor(), ep);
  Outcome out;
  net::co_spawn(ioc, serve(), net::detached);
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        out.ec = co_await conn.connect(out.detail);
        if (!out.ec) out.ec = co_await conn.exec(batch, out.replies, timeout);
        conn.close();
      },
      net::detached);
  ioc.run();
  return out;
}

TEST(RedisConnectionTest, PipelinedRepliesSplitAtEveryByteBoundary) {
  CommandBatch batch;
  batch.add({"XACK", "s", "g", "1-1"});
  batch.add({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"});
  batch.add({"GET", "missing"});
  batch.add({"XADD", "x"});
  const std::string answer =
      ":1\r\n*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$5\r\nevent\r\n$2\r\n{}\r\n$-1\r\n"
      "-ERR wrong number of arguments\r\n";
  for (size_t chunk : {size_t(1), size_t(2), size_t(7), answer.size()}) {
    net::io_context ioc;
    ScriptedServer server(ioc);
    auto out = run_exec(server, ioc, batch, [&]() { return server.serve(batch.wire().size(), answer, chunk); });
    ASSERT_FALSE(out.ec) << out.ec.message() << " chunk " << chunk;
    EXPECT_EQ(server.received, batch.wire());
    ASSERT_EQ(out.replies.size(), 4u);
    EXPECT_EQ(out.replies[0]->type, REDIS_REPLY_INTEGER);
    EXPECT_EQ(out.replies[0]->integer, 1);
    const redisReply* entry = out.replies[1]->element[0]->element[1]->element[0];
    EXPECT_EQ(reply_text(entry->element[0]), "2-0");
    EXPECT_EQ(reply_text(entry->element[1]->element[1]), "{}");
    EXPECT_EQ(out.replies[2]->type, REDIS_REPLY_NIL);
    EXPECT_TRUE(reply_is_error(out.replies[3].get()));
    EXPECT_EQ(reply_text(out.replies[3].get()), "ERR wrong number of arguments");
  }
}

// Reply nodes live in the exec()'s arena: strings larger than its blocks,
// many that cross block boundaries, empty and nil arrays; the replies stay
// valid after the connection is gone.
TEST(RedisConnectionTest, LargeAndManyRepliesSurviveTheConnection) {
  const std::string big(600'000, 'b');
  std::string answer = "*3\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n*0\r\n*-1\r\n";
  answer += "*3000\r\n";
  for (int i = 0; i < 3000; ++i) {
    const std::string v = std::string(100 + i % 50, char('a' + i % 26)) + std::to_string(i);
    answer += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
  }
  CommandBatch batch;
  batch.add({"GET", "k"});
  batch.add({"LRANGE", "l", "0", "-1"});
  net::io_context ioc;
  ScriptedServer server(ioc);
  auto out = run_exec(server, ioc, batch, [&]() { return server.serve(batch.wire().size(), answer, 64 * 1024); });
  ASSERT_FALSE(out.ec) << out.ec.message();
  ASSERT_EQ(out.replies.size(), 2u);
  const redisReply* first = out.replies[0].get();
  ASSERT_EQ(first->elements, 3u);
  EXPECT_EQ(reply_text(first->element[0]), big);
  EXPECT_EQ(first->element[0]->str[big.size()], '\0');
  EXPECT_EQ(first->element[1]->type, REDIS_REPLY_ARRAY);
  EXPECT_EQ(first->element[1]->elements, 0u);
  EXPECT_EQ(first->element[2]->type, REDIS_REPLY_NIL);
  const redisReply* list = out.replies[1].get();
  ASSERT_EQ(list->elements, 3000u);
  for (int i = 0; i < 3000; ++i) {
    const std::string v = std::string(100 + i % 50, char('a' + i % 26)) + std::to_string(i);
    ASSERT_EQ(reply_text(list->element[i]), v) << i;
    ASSERT_EQ(std::strlen(list->element[i]->str), v.size());
  }
  RedisReply moved = std::move(out.replies[1]);
  out.replies.clear();  // the arena lives on in `moved`
  EXPECT_EQ(reply_text(moved->element[2999]), std::string(100 + 2999 % 50, char('a' + 2999 % 26)) + "2999");
}

TEST(RedisConnectionTest, GarbageIsAProtocolErrorAndClosesTheConnection) {
  for (std::string garbage : {"HTTP/1.1 400 Bad Request\r\n\r\n", "$abc\r\n", "*1\r\n!oops\r\n"}) {
    net::io_context ioc;
    ScriptedServer server(ioc);
    CommandBatch batch;
    batch.add({"PING"});
    auto out = run_exec(server, ioc, batch, [&]() { return server.serve(batch.wire().size(), garbage, 3, true); });
    EXPECT_EQ(out.ec, boost::system::errc::protocol_error) << garbage << ": " << out.ec.message();
    EXPECT_TRUE(out.replies.empty());
  }
}

TEST(RedisConnectionTest, SilentServerTimesOut) {
  net::io_context ioc;
  ScriptedServer server(ioc);
  CommandBatch batch;
  batch.add({"PING"});
  auto start = std::chrono::steady_clock::now();
  auto out = run_exec(
      server, ioc, batch, [&]() { return server.serve(batch.wire().size(), "", 1, true); }, {}, 200ms);
  EXPECT_EQ(out.ec, boost::system::errc::timed_out) << out.ec.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(RedisConnectionTest, ConnectionClosedMidReplyIsAnError) {
  net::io_context ioc;
  ScriptedServer server(ioc);
  CommandBatch batch;
  batch.add({"PING"});
  auto out = run_exec(server, ioc, batch, [&]() { return server.serve(batch.wire().size(), "$10\r\nabc", 64); });
  EXPECT_TRUE(out.ec);
  EXPECT_TRUE(out.replies.empty());
}

TEST(RedisConnectionTest, AuthIsSentAsArgumentsAndRefusalIsReported) {
  net::io_context ioc;
  ScriptedServer server(ioc);
  RedisEndpoint ep;
  ep.username = "herald";
  ep.password = "p\r\nFLUSHALL";
  ep.db = 3;
  CommandBatch hello;
  hello.add({"AUTH", "herald", "p\r\nFLUSHALL"});
  hello.add({"SELECT", "3"});
  CommandBatch batch;
  batch.add({"PING"});
  auto out = run_exec(
      server, ioc, batch,
      [&]() { return server.serve(hello.wire().size(), "-WRONGPASS invalid username-password pair\r\n+OK\r\n", 64); },
      ep);
  EXPECT_EQ(server.received, hello.wire());
  EXPECT_EQ(out.ec, boost::system::errc::permission_denied);
  EXPECT_NE(out.detail.find("WRONGPASS"), std::string::npos) << out.detail;
}

TEST(RedisConnectionTest, RefusedConnectionNamesTheStep) {
  net::io_context ioc;
  uint16_t port;
  {
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  RedisEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  RedisConnection conn(ioc.get_executor(), ep);
  std::optional<boost::system::error_code> ec;
  std::string detail;
  net::co_spawn(ioc, [&]() -> net::awaitable<void> { ec = co_await conn.connect(detail); }, net::detached);
  ioc.run();
  ASSERT_TRUE(ec.has_value());
  EXPECT_TRUE(*ec);
  EXPECT_EQ(detail.rfind("connect: ", 0), 0u) << detail;
  EXPECT_EQ(ep.describe(), "127.0.0.1:" + std::to_string(port));
}

}  // namespace
}  // namespace herald
