// herald-redis-bench: the client side of the Redis Streams ingest benchmark
// (bench/redis_ingest.sh drives it).
//
//   fill  --port P --stream S --events N [--size B]   pre-fills S with N events
//   raw   --port P --stream S --group G [--count C]   XREADGROUP+XACK until the
//         stream is drained, with the same pipelined RedisConnection herald
//         uses and none of herald's work: the read loop's ceiling
//   watch --port P --stream S --group G --expect N    waits until group G has
//         read and acked N entries and times it from its first read
//
// Each prints `entries_per_s=<number>` (fill: `xadd_per_s=`) as its last line.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "transports/redis_ingest/redis_connection.hpp"

namespace net = boost::asio;
using herald::CommandBatch;
using herald::RedisConnection;
using herald::RedisEndpoint;
using herald::RedisReply;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string mode;
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string stream = "herald:events";
  std::string group = "herald";
  size_t events = 1'000'000;
  size_t size = 300;
  size_t count = 1000;
  size_t expect = 0;
};

[[noreturn]] void usage() {
  std::cerr << "usage: herald-redis-bench fill|raw|watch [--host H] [--port P] [--stream S] [--group G]\n"
               "       [--events N] [--size BYTES] [--count C] [--expect N]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  if (argc < 2) usage();
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) usage();
    std::string v = argv[++i];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = static_cast<uint16_t>(std::stoi(v));
    else if (k == "--stream") o.stream = v;
    else if (k == "--group") o.group = v;
    else if (k == "--events") o.events = std::stoull(v);
    else if (k == "--size") o.size = std::stoull(v);
    else if (k == "--count") o.count = std::stoull(v);
    else if (k == "--expect") o.expect = std::stoull(v);
    else usage();
  }
  return o;
}

void check(boost::system::error_code ec, const char* what) {
  if (ec) {
    std::cerr << what << ": " << ec.message() << "\n";
    std::exit(1);
  }
}

// An invoice event padded with `data.note` to about `size` bytes.
std::string make_event(size_t i, size_t size) {
  std::string e = R"({"id":"bench-)" + std::to_string(i) +
                  R"(","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00",)"
                  R"("partner":{"id":"P-BENCH","name":"Bench s.r.o."},)"
                  R"("document":{"kind":"invoice","number":"FV-)" +
                  std::to_string(i) + R"(","total":"1249.90","currency":"EUR"},"data":{"note":")";
  if (e.size() + 4 < size) e.append(size - e.size() - 4, 'x');
  e += "\"}}";
  return e;
}

net::awaitable<void> fill(RedisConnection& c, const Options& o) {
  CommandBatch batch;
  std::vector<RedisReply> replies;
  auto t0 = Clock::now();
  for (size_t i = 0; i < o.events;) {
    batch.clear();
    for (size_t k = 0; k < 1000 && i < o.events; ++k, ++i) {
      std::string e = make_event(i, o.size);
      batch.add({"XADD", o.stream, "*", "event", e});
    }
    check(co_await c.exec(batch, replies, std::chrono::seconds(30)), "XADD");
    for (auto& r : replies)
      if (herald::reply_is_error(r.get())) {
        std::cerr << "XADD: " << herald::reply_text(r.get()) << "\n";
        std::exit(1);
      }
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("events=%zu seconds=%.3f\nxadd_per_s=%.0f\n", o.events, s, o.events / s);
}

// The same round trip as herald's consumer: XACK of the previous batch +
// XREADGROUP of the next, in one write.
net::awaitable<void> raw(RedisConnection& c, const Options& o) {
  CommandBatch batch;
  std::vector<RedisReply> replies;
  batch.add({"XGROUP", "CREATE", o.stream, o.group, "0", "MKSTREAM"});
  check(co_await c.exec(batch, replies, std::chrono::seconds(5)), "XGROUP");
  std::vector<std::string> acks;
  std::vector<std::string_view> args;
  const std::string count = std::to_string(o.count);
  size_t total = 0;
  auto t0 = Clock::now();
  for (;;) {
    batch.clear();
    if (!acks.empty()) {
      args = {"XACK", o.stream, o.group};
      for (auto& a : acks) args.push_back(a);
      batch.add(args);
    }
    batch.add({"XREADGROUP", "GROUP", o.group, "raw-1", "COUNT", count, "STREAMS", o.stream, ">"});
    check(co_await c.exec(batch, replies, std::chrono::seconds(30)), "XREADGROUP");
    acks.clear();
    const redisReply* r = replies.back().get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) break;
    const redisReply* entries = r->element[0]->element[1];
    if (entries->elements == 0) break;
    for (size_t i = 0; i < entries->elements; ++i) acks.emplace_back(herald::reply_text(entries->element[i]->element[0]));
    total += entries->elements;
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("entries=%zu seconds=%.3f\nentries_per_s=%.0f\n", total, s, total / s);
}

std::map<std::string, long long> group_info(const redisReply* groups, const std::string& name) {
  std::map<std::string, long long> out;
  for (size_t g = 0; groups && g < groups->elements; ++g) {
    const redisReply* info = groups->element[g];
    std::map<std::string, long long> fields;
    bool ours = false;
    for (size_t f = 0; f + 1 < info->elements; f += 2) {
      std::string key(herald::reply_text(info->element[f]));
      const redisReply* v = info->element[f + 1];
      if (key == "name") ours = herald::reply_text(v) == name;
      if (v->type == REDIS_REPLY_INTEGER) fields[key] = v->integer;
    }
    if (ours) return fields;
  }
  return out;
}

net::awaitable<void> watch(RedisConnection& c, const Options& o) {
  CommandBatch batch;
  batch.add({"XINFO", "GROUPS", o.stream});
  std::vector<RedisReply> replies;
  net::steady_timer timer(co_await net::this_coro::executor);
  Clock::time_point t0{};
  for (;;) {
    check(co_await c.exec(batch, replies, std::chrono::seconds(5)), "XINFO");
    auto info = herald::reply_is_error(replies[0].get()) ? std::map<std::string, long long>{}
                                                 : group_info(replies[0].get(), o.group);
    long long read = info.count("entries-read") ? info["entries-read"] : 0;
    long long pending = info.count("pending") ? info["pending"] : 0;
    if (read > 0 && t0 == Clock::time_point{}) t0 = Clock::now();
    if (read >= static_cast<long long>(o.expect) && pending == 0 && t0 != Clock::time_point{}) break;
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(net::use_awaitable);
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("entries=%zu seconds=%.3f\nentries_per_s=%.0f\n", o.expect, s, o.expect / s);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  net::io_context ioc;
  RedisEndpoint ep;
  ep.host = o.host;
  ep.port = o.port;
  RedisConnection conn(ioc.get_executor(), ep);
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        std::string detail;
        if (auto ec = co_await conn.connect(detail)) {
          std::cerr << "connect: " << detail << "\n";
          std::exit(1);
        }
        if (o.mode == "fill") co_await fill(conn, o);
        else if (o.mode == "raw") co_await raw(conn, o);
        else if (o.mode == "watch") co_await watch(conn, o);
        else usage();
        conn.close();
      },
      [](std::exception_ptr ep) {
        if (ep) std::rethrow_exception(ep);
      });
  ioc.run();
  return 0;
}
