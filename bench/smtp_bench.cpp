// herald-smtp-bench: sends N generated messages through herald's real
// delivery path (Dispatcher lanes -> SmtpPool -> pipelined SmtpSessions) to
// any SMTP server, on one thread, and prints msgs_per_s=<number> last.
//
//   herald-smtp-bench --host H --port P --messages N --size BYTES --connections C
//                     [--batch B] [--tls none|opportunistic|required|implicit]
//                     [--ca FILE] [--user U --password P] [--no-pipelining]
//
// Every message must end delivered; any other outcome makes it exit 1 so a
// figure never comes from a run that lost messages.
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/delivery/dispatcher.hpp"
#include "transports/smtp/smtp_pool.hpp"

namespace {

using namespace herald;
namespace net = boost::asio;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 25;
  size_t messages = 100'000;
  size_t size = 2048;
  size_t connections = 20;
  size_t batch = 64;
  SmtpTlsMode tls = SmtpTlsMode::none;
  std::string ca_file, user, password;
  bool pipelining = true;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "herald-smtp-bench: %s\nusage: herald-smtp-bench --host H --port P --messages N --size BYTES "
               "--connections C [--batch B] [--tls MODE] [--ca FILE] [--user U --password P] [--no-pipelining]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    auto number = [&]() -> size_t {
      std::string v = value();
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end || n == 0) usage(("bad number for " + a).c_str());
      return size_t(n);
    };
    if (a == "--host") o.host = value();
    else if (a == "--port") o.port = uint16_t(number());
    else if (a == "--messages") o.messages = number();
    else if (a == "--size") o.size = number();
    else if (a == "--connections") o.connections = number();
    else if (a == "--batch") o.batch = number();
    else if (a == "--ca") o.ca_file = value();
    else if (a == "--user") o.user = value();
    else if (a == "--password") o.password = value();
    else if (a == "--no-pipelining") o.pipelining = false;
    else if (a == "--tls") {
      std::string m = value();
      if (m == "none") o.tls = SmtpTlsMode::none;
      else if (m == "opportunistic") o.tls = SmtpTlsMode::opportunistic;
      else if (m == "required") o.tls = SmtpTlsMode::required;
      else if (m == "implicit") o.tls = SmtpTlsMode::implicit;
      else usage("bad --tls");
    } else usage(("unknown option " + a).c_str());
  }
  return o;
}

// Counts final outcomes; the bench's only consumer of the ledger.
class CountingLedger final : public DeliveryLedger {
 public:
  void record_attempt(const RenderedMessage&, MessageState state, std::string_view detail,
                      std::chrono::system_clock::time_point) override {
    if (state == MessageState::delivered) ++delivered;
    else if (is_final(state)) {
      ++failed;
      if (first_error.empty()) first_error = detail;
    }
  }
  size_t delivered = 0, failed = 0;
  std::string first_error;
};

class NullHistory final : public HistoryLog {
 public:
  void append(const HistoryRecord&) override {}
  void append_fields(const HistoryFields&) override {}  // not even the conversion to a record
  void flush() override {}
};

std::string body_text(size_t size) {
  // Printable 72-column lines; MIME headers take ~450 bytes of the budget.
  size_t text = size > 600 ? size - 450 : 150;
  std::string s;
  while (s.size() < text) {
    for (int i = 0; i < 71 && s.size() < text; ++i) s += char('a' + (s.size() * 7 + i) % 26);
    s += '\n';
  }
  return s;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  net::io_context ioc(1);
  MetricsRegistry metrics;
  Logger log(stderr, LogLevel::warn);

  SmtpSettings smtp;
  smtp.host = o.host;
  smtp.port = o.port;
  smtp.helo_name = "herald-bench.localdomain";
  smtp.max_connections = o.connections;
  smtp.max_messages_per_connection = 1'000'000;
  smtp.pipelining = o.pipelining;
  smtp.tls = o.tls;
  smtp.tls_ca_file = o.ca_file;
  smtp.username = o.user;
  smtp.password = o.password;
  smtp.auth_allow_plaintext = !o.user.empty() && o.tls == SmtpTlsMode::none;
  DeliverySettings delivery;
  delivery.batch_size = o.batch;
  delivery.queue_capacity = std::max<size_t>(o.connections * o.batch * 2, 1024);
  delivery.retry.max_attempts = 1;  // a bench counts first attempts only
  RelayGuardSettings guard;

  CountingLedger ledger;
  NullHistory history;
  Dispatcher dispatcher(ioc.get_executor(), std::make_unique<SmtpPool>(ioc.get_executor(), "bench", smtp, log, metrics),
                        delivery, guard, history, ledger, metrics, log, [] { return 0.5; });
  dispatcher.start();

  const std::string text = body_text(o.size);
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  std::chrono::steady_clock::time_point wall_end;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        for (size_t i = 0; i < o.messages; ++i) {
          auto m = std::make_shared<RenderedMessage>();
          char id[33];
          std::snprintf(id, sizeof id, "%032zx", i);
          m->message_id = id;
          m->channel = "email";
          m->from = {"bench@herald.example", "Herald Bench"};
          m->to.push_back({"sink" + std::to_string(i % 1000) + "@example.com", ""});
          m->subject = "Benchmark message " + std::to_string(i);
          m->text = text;
          m->created_at = std::chrono::system_clock::now();
          co_await dispatcher.submit(std::move(m));
        }
        co_await dispatcher.drain();
        wall_end = std::chrono::steady_clock::now();
      },
      net::detached);
  ioc.run();

  const double secs = std::chrono::duration<double>(wall_end - wall_start).count();
  const double cpu = cpu_seconds() - cpu_start;
  std::printf("messages=%zu delivered=%zu failed=%zu size=%zu connections=%zu\n", o.messages, ledger.delivered,
              ledger.failed, o.size, o.connections);
  std::printf("seconds=%.3f cpu_seconds=%.3f cores=%.2f\n", secs, cpu, secs > 0 ? cpu / secs : 0.0);
  if (ledger.delivered != o.messages) {
    std::fprintf(stderr, "herald-smtp-bench: %zu of %zu messages not delivered; first error: %s\n",
                 o.messages - ledger.delivered, o.messages, ledger.first_error.c_str());
    return 1;
  }
  std::printf("msgs_per_s=%.0f\n", double(o.messages) / secs);
  return 0;
}
