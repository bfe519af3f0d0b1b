// SmtpPool and SmtpSession against a scripted SMTP server on loopback:
// pipelining (grouping and reply order), lockstep without PIPELINING, HELO
// fallback, per-recipient results, 421 throttling, malformed replies,
// servers closing idle connections, SIZE, AUTH policy, dot-stuffing,
// connection reuse limits. Fault injection only; real peers are in the
// integration tests.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <functional>
#include <memory>

#include "transports/smtp/smtp_pool.hpp"

namespace herald {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// A line-oriented SMTP server. `on_command(line)` returns the reply bytes for
// one command (empty: say nothing); after "DATA" is answered with 354 the
// message is collected up to "\r\n.\r\n" and `on_message(data)` answers it.
// Each read() chunk is kept, so tests can see what arrived together.
struct FakeSmtpServer {
  explicit FakeSmtpServer(net::io_context& ioc) : acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    net::co_spawn(ioc, accept_loop(), net::detached);
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  void stop() {
    stopped = true;
    boost::system::error_code ec;
    acceptor.close(ec);
    for (auto& s : sockets)
      if (auto p = s.lock()) p->close(ec);
  }

  std::string greeting = "220 fake ESMTP\r\n";
  std::string ehlo = "250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000\r\n";
  std::function<std::string(const std::string&)> on_command = [](const std::string& line) -> std::string {
    if (line.starts_with("MAIL") || line.starts_with("RCPT") || line.starts_with("RSET")) return "250 ok\r\n";
    if (line == "DATA") return "354 go\r\n";
    if (line == "QUIT") return "221 bye\r\n";
    return "502 what\r\n";
  };
  std::function<std::string(const std::string&)> on_message = [](const std::string&) { return "250 queued\r\n"; };

  std::vector<std::string> commands;  // every command line, all connections
  std::vector<std::string> messages;  // every DATA payload (still dot-stuffed)
  std::vector<std::string> chunks;    // raw reads, to see pipelining
  int connections = 0;
  bool close_after_first_message = false;
  bool stopped = false;

 private:
  net::awaitable<void> accept_loop() {
    while (!stopped) {
      auto [ec, sock] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      ++connections;
      auto p = std::make_shared<tcp::socket>(std::move(sock));
      sockets.push_back(p);
      net::co_spawn(acceptor.get_executor(), session(p), net::detached);
    }
  }

  net::awaitable<void> say(tcp::socket& s, const std::string& text) {
    if (!text.empty()) co_await net::async_write(s, net::buffer(text), net::as_tuple(net::use_awaitable));
  }

  net::awaitable<void> session(std::shared_ptr<tcp::socket> s) {
    co_await say(*s, greeting);
    std::string buf;
    bool in_data = false;
    char tmp[65536];
    for (;;) {
      auto [ec, n] = co_await s->async_read_some(net::buffer(tmp), net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      chunks.emplace_back(tmp, n);
      buf.append(tmp, n);
      for (;;) {
        if (in_data) {
          size_t cut = 0, skip = 0;
          if (buf.starts_with(".\r\n")) {
            skip = 3;  // an empty message
          } else {
            size_t end = buf.find("\r\n.\r\n");
            if (end == std::string::npos) break;
            cut = end + 2;
            skip = end + 5;
          }
          messages.push_back(buf.substr(0, cut));
          buf.erase(0, skip);
          in_data = false;
          co_await say(*s, on_message(messages.back()));
          if (close_after_first_message) {
            close_after_first_message = false;
            s->close();
            co_return;
          }
          continue;
        }
        size_t nl = buf.find("\r\n");
        if (nl == std::string::npos) break;
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 2);
        commands.push_back(line);
        std::string reply = line.starts_with("EHLO") ? ehlo : on_command(line);
        in_data = line == "DATA" && reply.starts_with("354");
        co_await say(*s, reply);
        if (line == "QUIT" || reply.starts_with("421")) {
          s->close();
          co_return;
        }
      }
    }
  }

  tcp::acceptor acceptor;
  std::vector<std::weak_ptr<tcp::socket>> sockets;
};

std::shared_ptr<RenderedMessage> message(int i, std::vector<std::string> to = {"a@example.com"}) {
  auto m = std::make_shared<RenderedMessage>();
  m->message_id = "m" + std::to_string(i);
  m->channel = "email";
  m->from = {"sender@herald.example", "Herald"};
  for (auto& t : to) m->to.push_back({t, ""});
  m->subject = "Subject " + std::to_string(i);
  m->text = "Hello " + std::to_string(i) + "\n.dot line\n";
  m->created_at = std::chrono::system_clock::now();
  return m;
}

struct PoolFixture : ::testing::Test {
  PoolFixture() {
    settings.host = "127.0.0.1";
    settings.port = server.port();
    settings.helo_name = "test.local";
    settings.tls = SmtpTlsMode::none;
    settings.max_connections = 2;
    settings.timeouts.mail = settings.timeouts.rcpt = settings.timeouts.data_init = 2s;
    settings.timeouts.data_term = settings.timeouts.greeting = settings.timeouts.ehlo = 2s;
  }
  ~PoolFixture() override { std::fclose(devnull); }

  // Sends the messages as one batch on lane 0 (then `more` batches), and shuts the pool down.
  std::vector<DeliveryOutcome> send(std::vector<std::shared_ptr<RenderedMessage>> msgs, int batches = 1,
                                    std::chrono::milliseconds pause = 0ms) {
    pool = std::make_unique<SmtpPool>(ioc.get_executor(), "relay", settings, log, metrics);
    std::vector<DeliveryOutcome> all;
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          for (int b = 0; b < batches; ++b) {
            std::vector<const RenderedMessage*> views;
            for (auto& m : msgs) views.push_back(m.get());
            std::vector<DeliveryOutcome> outcomes(views.size());
            co_await pool->send_batch(0, views, outcomes);
            all.insert(all.end(), outcomes.begin(), outcomes.end());
            if (pause.count()) {
              net::steady_timer t(ioc, pause);
              co_await t.async_wait(net::use_awaitable);
            }
          }
          co_await pool->shutdown();
          server.stop();
        },
        net::detached);
    ioc.run();
    return all;
  }

  size_t count(const std::string& prefix) const {
    size_t n = 0;
    for (auto& c : server.commands) n += c.starts_with(prefix);
    return n;
  }

  net::io_context ioc;
  FakeSmtpServer server{ioc};
  SmtpSettings settings;
  MetricsRegistry metrics;
  std::FILE* devnull = std::fopen("/dev/null", "w");
  Logger log{devnull};
  std::unique_ptr<SmtpPool> pool;
};

TEST_F(PoolFixture, PipelinesOneRoundTripPerMessageAndReusesTheConnection) {
  std::vector<std::shared_ptr<RenderedMessage>> msgs;
  for (int i = 0; i < 5; ++i) msgs.push_back(message(i));
  auto out = send(msgs, 2);
  ASSERT_EQ(out.size(), 10u);
  for (auto& o : out) EXPECT_EQ(o.status, DeliveryStatus::delivered) << o.detail;
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(server.messages.size(), 10u);
  EXPECT_EQ(count("MAIL FROM:<sender@herald.example> SIZE="), 10u);
  EXPECT_EQ(count("QUIT"), 1u);
  // The body, its ".", and the next MAIL/RCPT/DATA travel together.
  size_t grouped = 0;
  for (auto& c : server.chunks)
    if (c.find("\r\n.\r\nMAIL FROM:") != std::string::npos && c.ends_with("DATA\r\n")) ++grouped;
  EXPECT_GE(grouped, 4u);
  // Every line ends in CRLF on the wire.
  const std::string& m = server.messages[0];
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), std::count(m.begin(), m.end(), '\r'));
  EXPECT_NE(m.find("Subject: Subject 0\r\n"), std::string::npos);
}

TEST_F(PoolFixture, WithoutPipeliningCommandsGoOneByOne) {
  server.ehlo = "250-fake\r\n250 8BITMIME\r\n";
  auto out = send({message(1), message(2)});
  for (auto& o : out) EXPECT_EQ(o.status, DeliveryStatus::delivered) << o.detail;
  for (auto& c : server.chunks) {
    if (c.starts_with("MAIL") || c.starts_with("RCPT")) {
      EXPECT_EQ(c.find("\r\n"), c.size() - 2) << c;
    }
  }
  EXPECT_EQ(count("MAIL FROM:<sender@herald.example>"), 2u);
}

TEST_F(PoolFixture, FallsBackToHeloWithoutEsmtp) {
  server.ehlo = "502 no EHLO here\r\n";
  server.on_command = [](const std::string& line) -> std::string {
    if (line.starts_with("HELO")) return "250 hi\r\n";
    if (line == "DATA") return "354 go\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1)});
  EXPECT_EQ(out[0].status, DeliveryStatus::delivered) << out[0].detail;
  EXPECT_EQ(count("HELO test.local"), 1u);
  EXPECT_EQ(count("MAIL FROM:<sender@herald.example>"), 1u);  // no SIZE without ESMTP
  EXPECT_EQ(count("MAIL FROM:<sender@herald.example> SIZE"), 0u);
}

TEST_F(PoolFixture, PerRecipientResults) {
  server.on_command = [](const std::string& line) -> std::string {
    if (line == "RCPT TO:<gone@example.com>") return "550 5.1.1 no such user\r\n";
    if (line == "RCPT TO:<busy@example.com>") return "450 4.2.1 mailbox busy\r\n";
    if (line == "DATA") return "354 go\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1, {"a@example.com", "gone@example.com"}), message(2, {"a@example.com", "busy@example.com"}),
                   message(3, {"gone@example.com"})});
  EXPECT_EQ(out[0].status, DeliveryStatus::delivered);
  ASSERT_EQ(out[0].recipients.size(), 2u);
  EXPECT_EQ(out[0].recipients[1].status, DeliveryStatus::permanent_failure);
  EXPECT_NE(out[0].detail.find("<gone@example.com> 550"), std::string::npos) << out[0].detail;
  // Delivered to one, deferred for the other: transient, with per-recipient detail to retry only busy@.
  EXPECT_EQ(out[1].status, DeliveryStatus::transient_failure);
  ASSERT_EQ(out[1].recipients.size(), 2u);
  EXPECT_EQ(out[1].recipients[0].status, DeliveryStatus::delivered);
  EXPECT_EQ(out[1].recipients[1].status, DeliveryStatus::transient_failure);
  // Nobody accepted: permanent. This server answered the pipelined DATA
  // with 354 anyway, so it got an empty message (RFC 2920 §3.1) and a RSET.
  EXPECT_EQ(out[2].status, DeliveryStatus::permanent_failure);
  EXPECT_NE(out[2].detail.find("RCPT TO"), std::string::npos);
  ASSERT_EQ(server.messages.size(), 3u);
  EXPECT_EQ(server.messages[2], "");
  EXPECT_EQ(count("RSET"), 1u);
}

TEST_F(PoolFixture, RejectedMailIsClassifiedAndTheSessionGoesOn) {
  int n = 0;
  server.on_command = [&](const std::string& line) -> std::string {
    if (line.starts_with("MAIL")) return ++n == 1 ? "451 4.3.0 try later\r\n" : n == 2 ? "553 5.1.8 bad sender\r\n" : "250 ok\r\n";
    if (line.starts_with("RCPT")) return n <= 2 ? "503 5.5.1 need MAIL\r\n" : "250 ok\r\n";
    if (line == "DATA") return n <= 2 ? "503 5.5.1 no valid recipients\r\n" : "354 go\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1), message(2), message(3)});
  EXPECT_EQ(out[0].status, DeliveryStatus::transient_failure);
  EXPECT_NE(out[0].detail.find("MAIL FROM: 451"), std::string::npos) << out[0].detail;
  EXPECT_EQ(out[0].relay, RelaySignal::none);
  EXPECT_EQ(out[1].status, DeliveryStatus::permanent_failure);
  EXPECT_EQ(out[2].status, DeliveryStatus::delivered) << out[2].detail;
  EXPECT_EQ(server.messages.size(), 1u);
}

TEST_F(PoolFixture, Reply421ThrottlesTheRelayAndAbandonsTheRest) {
  int n = 0;
  server.on_command = [&](const std::string& line) -> std::string {
    if (line.starts_with("MAIL")) return ++n == 2 ? "421 4.7.0 slow down\r\n" : "250 ok\r\n";
    if (line == "DATA") return "354 go\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1), message(2), message(3)});
  EXPECT_EQ(out[0].status, DeliveryStatus::delivered);
  EXPECT_EQ(out[1].status, DeliveryStatus::transient_failure);
  EXPECT_EQ(out[1].relay, RelaySignal::throttle);
  EXPECT_EQ(out[2].status, DeliveryStatus::transient_failure);
  EXPECT_NE(out[2].detail.find("not sent"), std::string::npos);
  EXPECT_EQ(server.messages.size(), 1u);
}

// The parser's garbage cases are in smtp_test.cpp; this is what the session does with one.
TEST_F(PoolFixture, MalformedReplyDropsTheConnectionAndNothingCountsAsSent) {
  server.on_command = [](const std::string& line) -> std::string {
    if (line.starts_with("RCPT")) return "25O ok\r\n";
    if (line == "DATA") return "354 go\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1), message(2)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].status, DeliveryStatus::transient_failure);
  EXPECT_EQ(out[0].relay, RelaySignal::fault);
  EXPECT_NE(out[0].detail.find("malformed"), std::string::npos) << out[0].detail;
  EXPECT_EQ(out[1].status, DeliveryStatus::transient_failure);
  EXPECT_TRUE(server.messages.empty());
}

TEST_F(PoolFixture, IdleConnectionClosedByTheServerIsReopenedWithoutLoss) {
  server.close_after_first_message = true;  // the first connection dies after one message
  auto out = send({message(1)}, 3, 50ms);
  ASSERT_EQ(out.size(), 3u);
  for (auto& o : out) EXPECT_EQ(o.status, DeliveryStatus::delivered) << o.detail;
  EXPECT_EQ(server.messages.size(), 3u);
  EXPECT_EQ(server.connections, 2);
}

TEST_F(PoolFixture, ConnectionIsReplacedAfterMaxMessages) {
  settings.max_messages_per_connection = 2;
  std::vector<std::shared_ptr<RenderedMessage>> msgs;
  for (int i = 0; i < 5; ++i) msgs.push_back(message(i));
  auto out = send(msgs);
  for (auto& o : out) EXPECT_EQ(o.status, DeliveryStatus::delivered) << o.detail;
  EXPECT_EQ(server.connections, 3);
  EXPECT_EQ(count("QUIT"), 3u);
}

TEST_F(PoolFixture, OversizedMessageFailsWithoutTouchingTheWire) {
  server.ehlo = "250-fake\r\n250-PIPELINING\r\n250 SIZE 100\r\n";
  auto out = send({message(1)});
  EXPECT_EQ(out[0].status, DeliveryStatus::permanent_failure);
  EXPECT_NE(out[0].detail.find("SIZE limit 100"), std::string::npos) << out[0].detail;
  EXPECT_EQ(count("MAIL"), 0u);
}

TEST_F(PoolFixture, AuthIsRefusedWithoutTls) {
  server.ehlo = "250-fake\r\n250 AUTH PLAIN LOGIN\r\n";
  settings.username = "u";
  settings.password = "p";
  auto out = send({message(1)});
  EXPECT_EQ(out[0].status, DeliveryStatus::transient_failure);
  EXPECT_EQ(out[0].relay, RelaySignal::fault);
  EXPECT_NE(out[0].detail.find("without TLS"), std::string::npos) << out[0].detail;
  EXPECT_EQ(count("AUTH"), 0u);
}

TEST_F(PoolFixture, AuthPlainAndLoginWhenAllowed) {
  settings.username = "user";
  settings.password = "secret";
  settings.auth_allow_plaintext = true;
  server.ehlo = "250-fake\r\n250 AUTH LOGIN\r\n";
  server.on_command = [](const std::string& line) -> std::string {
    if (line == "AUTH LOGIN") return "334 VXNlcm5hbWU6\r\n";
    if (line == "dXNlcg==") return "334 UGFzc3dvcmQ6\r\n";
    if (line == "c2VjcmV0") return "235 2.7.0 ok\r\n";
    if (line == "DATA") return "354 go\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1)});
  EXPECT_EQ(out[0].status, DeliveryStatus::delivered) << out[0].detail;
  EXPECT_EQ(count("AUTH LOGIN"), 1u);
}

TEST_F(PoolFixture, FailedAuthIsARelayFault) {
  settings.username = "user";
  settings.password = "wrong";
  settings.auth_allow_plaintext = true;
  server.ehlo = "250-fake\r\n250 AUTH PLAIN\r\n";
  server.on_command = [](const std::string& line) -> std::string {
    if (line.starts_with("AUTH PLAIN ")) return "535 5.7.8 bad credentials\r\n";
    return "250 ok\r\n";
  };
  auto out = send({message(1)});
  EXPECT_EQ(out[0].status, DeliveryStatus::transient_failure);
  EXPECT_EQ(out[0].relay, RelaySignal::fault);
  EXPECT_NE(out[0].detail.find("535"), std::string::npos);
  EXPECT_EQ(count("AUTH PLAIN AHVzZXIAd3Jvbmc="), 1u);
}

TEST_F(PoolFixture, RequiredTlsNeverFallsBackToPlainText) {
  settings.tls = SmtpTlsMode::required;
  auto out = send({message(1)});
  EXPECT_EQ(out[0].status, DeliveryStatus::transient_failure);
  EXPECT_NE(out[0].detail.find("does not offer STARTTLS"), std::string::npos) << out[0].detail;
  EXPECT_EQ(count("MAIL"), 0u);
}

TEST_F(PoolFixture, GreetingRefusalIsARelayFault) {
  server.greeting = "554 5.3.2 go away\r\n";
  auto out = send({message(1), message(2)});
  for (auto& o : out) {
    EXPECT_EQ(o.status, DeliveryStatus::transient_failure);
    EXPECT_EQ(o.relay, RelaySignal::fault);
    EXPECT_NE(o.detail.find("554"), std::string::npos);
  }
}

TEST(SmtpCapabilitiesTest, ParsesEhloKeywords) {
  SmtpReply r;
  r.code = 250;
  r.text = "mx.example greets you\nPIPELINING\nsize 1000\n8BITMIME\nAUTH=LOGIN\nAUTH CRAM-MD5 PLAIN\nSTARTTLS\nSMTPUTF8";
  auto c = SmtpCapabilities::from_ehlo(r);
  EXPECT_TRUE(c.esmtp && c.pipelining && c.eight_bit_mime && c.starttls && c.smtputf8 && c.size);
  EXPECT_EQ(c.max_size, 1000u);
  EXPECT_TRUE(c.auth_plain);
  EXPECT_TRUE(c.auth_login);
  r.text = "PIPELINING\nPIPELININGX\nSTARTTLSX";  // the first line is the server's name
  c = SmtpCapabilities::from_ehlo(r);
  EXPECT_FALSE(c.pipelining || c.starttls);
}

}  // namespace
}  // namespace herald
