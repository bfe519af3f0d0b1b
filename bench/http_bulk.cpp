// herald-http-bulk: a closed-loop NDJSON load generator for bench/http.sh.
// Each connection posts batches of N invoice.posted events back to back, each
// as soon as the previous one was answered, for S seconds.
//
// Why not wrk: its Lua script builds every batch with N string.format calls
// and a concat, which took about a core at 500 events per request; on a
// 2-core machine that capped even the do-nothing ceiling server at ~360k
// events/s, so the figure measured the generator. Here a connection builds
// its request once and per batch only rewrites each event's id in place (a
// fixed-width counter), then writes the bytes: the server under test gets
// the CPU.
//
//   herald-http-bulk --port P --seconds S [--batch N] [--connections C] [--threads T] [--partner ID] [--warmup W]
// prints one line: requests= events= non2xx= errors= seconds=
// Requests answered during the first W seconds (default 0) are not counted.
// Exit status 1 if any answer was not 2xx or any connection failed.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_event.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kCounterDigits = 12;

struct Options {
  unsigned short port = 0;
  double seconds = 10;
  double warmup = 0;
  int batch = 500;
  int connections = 16;
  int threads = 1;
  std::string partner = "P-BENCH";
};

struct Totals {
  std::atomic<uint64_t> requests{0}, non2xx{0}, errors{0};
};

// One connection's request: the bytes to send and where each event's
// counter digits are.
struct BatchRequest {
  std::string bytes;
  std::vector<size_t> counters;
  uint64_t next = 0;

  BatchRequest(const Options& o, const std::string& prefix) {
    const std::string head = herald::bench::event_head() + prefix;
    const std::string tail = herald::bench::event_tail(o.partner);
    std::string body;
    for (int i = 0; i < o.batch; ++i) {
      if (i) body += '\n';
      body += head;
      counters.push_back(body.size());
      body.append(kCounterDigits, '0');
      body += tail;
    }
    bytes = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n";
    for (auto& c : counters) c += bytes.size();
    bytes += body;
  }

  // A fresh id for every event: the counter, zero-padded.
  void renumber() {
    for (size_t at : counters) {
      uint64_t v = next++;
      for (size_t d = kCounterDigits; d-- > 0; v /= 10) bytes[at + d] = static_cast<char>('0' + v % 10);
    }
  }
};

net::awaitable<void> connection(const Options& o, std::string prefix, Clock::time_point count_from,
                                Clock::time_point end, Totals& totals) {
  auto ex = co_await net::this_coro::executor;
  tcp::socket socket(ex);
  boost::system::error_code ec;
  co_await socket.async_connect({net::ip::make_address("127.0.0.1"), o.port},
                                net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    ++totals.errors;
    co_return;
  }
  socket.set_option(tcp::no_delay(true));
  BatchRequest req(o, prefix);
  boost::beast::flat_buffer buffer;
  while (Clock::now() < end) {
    req.renumber();
    co_await net::async_write(socket, net::buffer(req.bytes), net::redirect_error(net::use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(socket, buffer, res, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      ++totals.errors;
      co_return;
    }
    if (Clock::now() < count_from) continue;
    ++totals.requests;
    if (res.result_int() / 100 != 2) ++totals.non2xx;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") o.port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (a == "--seconds") o.seconds = std::atof(argv[i + 1]);
    else if (a == "--warmup") o.warmup = std::atof(argv[i + 1]);
    else if (a == "--batch") o.batch = std::atoi(argv[i + 1]);
    else if (a == "--connections") o.connections = std::atoi(argv[i + 1]);
    else if (a == "--threads") o.threads = std::atoi(argv[i + 1]);
    else if (a == "--partner") o.partner = argv[i + 1];
  }
  if (!o.port || o.seconds <= 0 || o.warmup < 0 || o.batch <= 0 || o.connections <= 0 || o.threads <= 0) {
    std::fprintf(stderr,
                 "usage: herald-http-bulk --port P --seconds S [--batch N] [--connections C] [--threads T] "
                 "[--partner ID] [--warmup W]\n");
    return 2;
  }
  const std::string run = "bulk-" + std::to_string(std::random_device{}()) + "-";
  const auto start = Clock::now();
  const auto count_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  const auto end = count_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  Totals totals;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int t = 0; t < o.threads; ++t) contexts.push_back(std::make_unique<net::io_context>(1));
  for (int c = 0; c < o.connections; ++c)
    net::co_spawn(*contexts[static_cast<size_t>(c % o.threads)],
                  connection(o, run + std::to_string(c) + "-", count_from, end, totals), net::detached);
  std::vector<std::thread> threads;
  for (auto& ctx : contexts) threads.emplace_back([&ctx] { ctx->run(); });
  for (auto& t : threads) t.join();
  // The last answers arrive after `end`; the rate counts them over the time they took.
  const double elapsed = std::chrono::duration<double>(Clock::now() - count_from).count();
  const uint64_t requests = totals.requests;
  std::printf("requests=%llu events=%llu non2xx=%llu errors=%llu seconds=%.3f\n",
              static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(requests * static_cast<uint64_t>(o.batch)),
              static_cast<unsigned long long>(totals.non2xx.load()),
              static_cast<unsigned long long>(totals.errors.load()), elapsed);
  return totals.errors || totals.non2xx ? 1 : 0;
}
