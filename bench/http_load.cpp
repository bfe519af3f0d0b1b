// herald-http-load: an open-loop (wrk2-style) HTTP load generator for the
// latency figures of bench/e2e.sh. Requests are scheduled at a constant rate
// (request i is due at start + i/rate) whatever the server does, and each
// latency is measured from its due time, not from when a connection was free
// to send it, so a stalled server shows up in the percentiles instead of
// slowing the generator down (no coordinated omission).
//
//   herald-http-load --port P --rate R --seconds S [--warmup W] [--connections C] [--partner ID]
// prints one line: sent= measured= ok= non2xx= errors= p50_ms= p90_ms= p99_ms= p999_ms= max_ms= achieved_rate=
// The first W seconds (default 0) are offered at the same rate but not
// measured: a fresh server's first requests pay for connecting its SMTP
// pool, first-touch memory and its first segment; the figures are the
// steady state, as wrk2's calibration period. Every request counts in ok,
// non2xx and errors.
// Each request posts one invoice.posted event with a unique id.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_event.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Load {
  unsigned short port = 0;
  double rate = 1000;
  double seconds = 10;
  double warmup = 0;
  uint64_t warmup_requests = 0;
  int connections = 64;
  std::string partner = "P-BENCH";
  std::string prefix;
  uint64_t total = 0;
  uint64_t next = 0;  // next request index to take (single-threaded io_context)
  Clock::time_point start;
  std::vector<double> latencies_ms;
  uint64_t ok = 0, non2xx = 0, errors = 0;
};

std::string body_for(const Load& load, uint64_t i) {
  return herald::bench::event_json(load.prefix + std::to_string(i), load.partner);
}

net::awaitable<void> connection(Load& load) {
  auto ex = co_await net::this_coro::executor;
  tcp::socket socket(ex);
  boost::system::error_code ec;
  co_await socket.async_connect({net::ip::make_address("127.0.0.1"), load.port},
                                net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    ++load.errors;
    co_return;
  }
  socket.set_option(tcp::no_delay(true));
  net::steady_timer timer(ex);
  boost::beast::flat_buffer buffer;
  const auto interval = std::chrono::duration<double>(1.0 / load.rate);
  while (load.next < load.total) {
    const uint64_t i = load.next++;
    const auto due = load.start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
    timer.expires_at(due);
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    http::request<http::string_body> req{http::verb::post, "/v1/events", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = body_for(load, i);
    req.prepare_payload();
    co_await http::async_write(socket, req, net::redirect_error(net::use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(socket, buffer, res, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      ++load.errors;
      co_return;
    }
    if (i >= load.warmup_requests)
      load.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
    if (res.result() == http::status::accepted) {
      ++load.ok;
    } else {
      ++load.non2xx;
    }
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  Load load;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") load.port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (a == "--rate") load.rate = std::atof(argv[i + 1]);
    else if (a == "--seconds") load.seconds = std::atof(argv[i + 1]);
    else if (a == "--warmup") load.warmup = std::atof(argv[i + 1]);
    else if (a == "--connections") load.connections = std::atoi(argv[i + 1]);
    else if (a == "--partner") load.partner = argv[i + 1];
  }
  if (!load.port || load.rate <= 0 || load.seconds <= 0 || load.warmup < 0 || load.connections <= 0) {
    std::fprintf(stderr,
                 "usage: herald-http-load --port P --rate R --seconds S [--warmup W] [--connections C] [--partner ID]\n");
    return 2;
  }
  load.prefix = "load-" + std::to_string(std::random_device{}()) + "-";
  load.warmup_requests = static_cast<uint64_t>(load.rate * load.warmup);
  load.total = load.warmup_requests + static_cast<uint64_t>(load.rate * load.seconds);
  load.latencies_ms.reserve(load.total - load.warmup_requests);
  net::io_context ioc(1);
  load.start = Clock::now() + std::chrono::milliseconds(100);  // let the connections open first
  for (int c = 0; c < load.connections; ++c) net::co_spawn(ioc, connection(load), net::detached);
  ioc.run();
  const auto measured_from =
      load.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(load.warmup));
  const double elapsed = std::chrono::duration<double>(Clock::now() - measured_from).count();
  auto& v = load.latencies_ms;
  const double p50 = percentile(v, 0.50), p90 = percentile(v, 0.90), p99 = percentile(v, 0.99),
               p999 = percentile(v, 0.999), max = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  std::printf("sent=%llu measured=%zu ok=%llu non2xx=%llu errors=%llu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
              "max_ms=%.3f achieved_rate=%.1f\n",
              static_cast<unsigned long long>(load.next), v.size(), static_cast<unsigned long long>(load.ok), static_cast<unsigned long long>(load.non2xx),
              static_cast<unsigned long long>(load.errors), p50, p90, p99, p999, max,
              static_cast<double>(v.size()) / elapsed);
  return load.errors || load.non2xx ? 1 : 0;
}
