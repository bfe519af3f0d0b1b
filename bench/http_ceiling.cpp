// herald-http-ceiling: the HTTP ceiling for bench/http.sh — a Beast server
// shaped like heraldd's (same io_context threads, keep-alive, the same
// request parser and body limit) that answers every request 202 with a small
// JSON body and does no work. herald's HTTP ingest rate is reported as a
// ratio of this server's rate under the same wrk load.
//
// With --durable DIR it is the accept-latency ceiling of bench/e2e.sh: the
// least a server that answers 202 only once the request is on disk must do.
// Each body is appended to DIR/ceiling.log, and a flusher thread writes what
// gathered and fdatasyncs it (group commit, as heraldd's journal) before the
// waiting requests are answered. The file is zero-filled first, so no sync
// changes its size (herald fills 1 MB ahead for the same reason), and a
// commit starts no sooner than --commit-interval-us after the previous one
// (heraldd's [storage] group_commit_interval_us; give both the same). No
// parsing, no checksums, no history, no deliveries: herald's p99 beside this
// one is what herald adds to the machine's own fsync tail.
//
//   herald-http-ceiling [--port P] [--threads N] [--durable DIR [--commit-interval-us U]]
//   (prints "port=<bound port>")
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// Group commit into one pre-filled file: whatever arrived while the previous
// write + fdatasync ran goes out together, then its requests are answered.
class DurableLog {
 public:
  static constexpr off_t kBytes = 64 << 20;  // heraldd's segment size; wraps around

  DurableLog(const std::string& dir, std::chrono::microseconds interval) : interval_(interval) {
    const std::string path = dir + "/ceiling.log";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) fail("open " + path);
    const std::vector<char> zeros(1 << 20, 0);
    for (off_t at = 0; at < kBytes; at += off_t(zeros.size()))
      if (::pwrite(fd_, zeros.data(), zeros.size(), at) != ssize_t(zeros.size())) fail("fill " + path);
    if (::fsync(fd_) != 0) fail("fsync " + path);
    flusher_ = std::thread([this] { run(); });
  }
  ~DurableLog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    flusher_.join();
    ::close(fd_);
  }

  // Completes (on the caller's executor) once `record` is durable. The record
  // is copied before this returns.
  template <class Token>
  auto async_append(std::string_view record, Token&& token) {
    return net::async_initiate<Token, void()>(
        [this, record](auto handler) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          std::lock_guard lock(mutex_);
          pending_.append(record);
          waiters_.emplace_back([h] {
            auto ex = net::get_associated_executor(*h);
            net::post(ex, std::move(*h));
          });
          wake_.notify_one();
        },
        token);
  }

 private:
  [[noreturn]] static void fail(const std::string& what) {
    std::perror(what.c_str());
    std::exit(1);
  }
  void run() {
    std::string batch;
    std::vector<std::function<void()>> done;
    off_t at = 0;
    std::chrono::steady_clock::time_point last{};
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || !pending_.empty(); });
        if (pending_.empty()) return;
        wake_.wait_until(lock, last + interval_, [&] { return stop_; });
        last = std::chrono::steady_clock::now();
        batch.swap(pending_);
        done.swap(waiters_);
      }
      if (at + off_t(batch.size()) > kBytes) at = 0;
      if (::pwrite(fd_, batch.data(), batch.size(), at) != ssize_t(batch.size()) || ::fdatasync(fd_) != 0)
        fail("write + fdatasync");
      at += off_t(batch.size());
      for (auto& d : done) d();
      batch.clear();
      done.clear();
    }
  }

  const std::chrono::microseconds interval_;
  int fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::vector<std::function<void()>> waiters_;
  bool stop_ = false;
  std::thread flusher_;
};

net::awaitable<void> session(tcp::socket socket, DurableLog* log) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(10 * 1024 * 1024);
    boost::system::error_code ec;
    co_await http::async_read(socket, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    auto& req = parser.get();
    if (log) co_await log->async_append(req.body(), net::use_awaitable);
    http::response<http::string_body> res{http::status::accepted, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = R"({"accepted":1})";
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    co_await http::async_write(socket, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !req.keep_alive()) co_return;
  }
}

net::awaitable<void> listener(tcp::acceptor& acceptor, DurableLog* log) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(net::use_awaitable);
    socket.set_option(tcp::no_delay(true));
    net::co_spawn(acceptor.get_executor(), session(std::move(socket), log), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  int threads = 2;
  std::string durable_dir;
  long interval_us = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port")) port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--durable")) durable_dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--commit-interval-us")) interval_us = std::atol(argv[i + 1]);
  }
  std::unique_ptr<DurableLog> log;
  if (!durable_dir.empty()) log = std::make_unique<DurableLog>(durable_dir, std::chrono::microseconds(interval_us));
  net::io_context ioc(threads);
  tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), port});
  std::printf("port=%u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { ioc.stop(); });
  net::co_spawn(ioc, listener(acceptor, log.get()), net::detached);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  log.reset();  // its last waiters post to ioc, which must still exist
}
