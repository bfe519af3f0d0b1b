#include "transports/smtp/smtp_transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "core/ingest/event_decoder.hpp"
#include "transports/mime/mime_builder.hpp"
#include "transports/smtp/smtp_data.hpp"
#include "transports/smtp/smtp_reply.hpp"

namespace herald {

namespace net = boost::asio;
namespace beast = boost::beast;
using net::ip::tcp;
using std::chrono::milliseconds;

namespace {

constexpr size_t kMaxReplyBuffer = 64 * 1024;

DeliveryOutcome transient(std::string detail) { return {DeliveryStatus::transient_failure, std::move(detail)}; }
DeliveryOutcome permanent(std::string detail) { return {DeliveryStatus::permanent_failure, std::move(detail)}; }

DeliveryOutcome classify(const SmtpReply& r, const std::string& what) {
  std::string detail = what + ": " + r.to_string();
  return r.permanent() ? permanent(std::move(detail)) : transient(std::move(detail));
}

}  // namespace

struct SmtpTransport::Connection {
  explicit Connection(net::any_io_executor ex) : stream(ex) {}
  beast::tcp_stream stream;
  std::string in;  // bytes read but not yet parsed
  size_t messages = 0;
  std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
  bool esmtp = false;
  uint64_t max_size = 0;  // SIZE limit advertised by the server (0 = none)

  // Reads one reply; returns "" or an error description (connection unusable).
  net::awaitable<std::string> read_reply(SmtpReply& reply, milliseconds timeout) {
    for (;;) {
      size_t consumed = 0;
      std::string error;
      switch (parse_smtp_reply(in, reply, consumed, error)) {
        case ReplyParse::complete:
          in.erase(0, consumed);
          co_return std::string{};
        case ReplyParse::malformed:
          co_return "malformed reply: " + error;
        case ReplyParse::incomplete:
          break;
      }
      if (in.size() > kMaxReplyBuffer) co_return std::string("reply too large");
      char buf[4096];
      stream.expires_after(timeout);
      auto [ec, n] = co_await stream.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
      if (ec) co_return ec == beast::error::timeout ? std::string("timeout waiting for reply") : "read: " + ec.message();
      in.append(buf, n);
    }
  }

  net::awaitable<std::string> write(std::string_view data, milliseconds timeout) {
    stream.expires_after(timeout);
    auto [ec, n] = co_await net::async_write(stream, net::buffer(data), net::as_tuple(net::use_awaitable));
    (void)n;
    if (ec) co_return ec == beast::error::timeout ? std::string("timeout while sending") : "write: " + ec.message();
    co_return std::string{};
  }

  // Sends a command and reads its reply; "" or a connection error.
  net::awaitable<std::string> command(std::string_view line, SmtpReply& reply, milliseconds timeout) {
    if (auto err = co_await write(line, timeout); !err.empty()) co_return err;
    co_return co_await read_reply(reply, timeout);
  }
};

SmtpTransport::SmtpTransport(net::any_io_executor ex, std::string name, SmtpSettings settings, Logger& log,
                             MetricsRegistry& metrics)
    : executor_(ex),
      name_(std::move(name)),
      settings_(std::move(settings)),
      log_(log),
      open_connections_(metrics.gauge("herald_smtp_connections", "Open SMTP connections", {{"transport", name_}})) {}

SmtpTransport::~SmtpTransport() = default;

void SmtpTransport::drop_connection() {
  if (!conn_) return;
  beast::error_code ec;
  conn_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  conn_->stream.close();
  conn_.reset();
  open_connections_.add(-1);
}

net::awaitable<std::string> SmtpTransport::connect() {
  const auto& t = settings_.timeouts;
  std::string where = settings_.host + ":" + std::to_string(settings_.port);
  tcp::resolver resolver(executor_);
  auto [rec, endpoints] = co_await resolver.async_resolve(settings_.host, std::to_string(settings_.port),
                                                          net::as_tuple(net::use_awaitable));
  if (rec) co_return "resolve " + where + ": " + rec.message();
  auto conn = std::make_unique<Connection>(executor_);
  conn->stream.expires_after(t.connect);
  auto [cec, ep] = co_await conn->stream.async_connect(endpoints, net::as_tuple(net::use_awaitable));
  (void)ep;
  if (cec) co_return "connect " + where + ": " + (cec == beast::error::timeout ? "timeout" : cec.message());
  open_connections_.add(1);
  conn_ = std::move(conn);

  SmtpReply reply;
  if (auto err = co_await conn_->read_reply(reply, t.greeting); !err.empty()) {
    drop_connection();
    co_return "greeting from " + where + ": " + err;
  }
  if (reply.code != 220) {
    drop_connection();
    co_return "greeting from " + where + ": " + reply.to_string();
  }
  std::string ehlo = "EHLO " + settings_.helo_name + "\r\n";
  if (auto err = co_await conn_->command(ehlo, reply, t.ehlo); !err.empty()) {
    drop_connection();
    co_return "EHLO: " + err;
  }
  if (reply.code == 250) {
    conn_->esmtp = true;
    size_t pos = 0;
    std::string_view text = reply.text;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      if (line.size() > 5 && (line.starts_with("SIZE ") || line.starts_with("size "))) {
        conn_->max_size = std::strtoull(std::string(line.substr(5)).c_str(), nullptr, 10);
      }
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
  } else {
    // Servers without ESMTP answer EHLO with 500/502: fall back to HELO.
    std::string helo = "HELO " + settings_.helo_name + "\r\n";
    if (auto err = co_await conn_->command(helo, reply, t.ehlo); !err.empty() || reply.code != 250) {
      std::string why = err.empty() ? reply.to_string() : err;
      drop_connection();
      co_return "HELO: " + why;
    }
  }
  co_return std::string{};
}

net::awaitable<DeliveryOutcome> SmtpTransport::send_one(const RenderedMessage& msg) {
  const auto& t = settings_.timeouts;
  // Envelope addresses go into commands: re-check them here so no path can
  // smuggle "\r\nRCPT TO:" into the dialogue (bpo-43124 family).
  if (!is_valid_email_address(msg.from.address)) co_return permanent("invalid sender address");
  for (const auto& to : msg.to)
    if (!is_valid_email_address(to.address)) co_return permanent("invalid recipient address: " + to.address);
  if (msg.to.empty()) co_return permanent("message has no recipients");

  MimeBuilder::build(msg, mime_buf_);
  data_buf_.clear();
  encode_smtp_data(mime_buf_, data_buf_);

  if (conn_ && (conn_->messages >= settings_.max_messages_per_connection ||
                std::chrono::steady_clock::now() - conn_->last_used > settings_.idle_timeout)) {
    SmtpReply ignored;
    co_await conn_->command("QUIT\r\n", ignored, milliseconds(5000));
    drop_connection();
  }

  // A reused connection may have been closed by the server while idle; that
  // shows up as an error on MAIL, before anything of this message was
  // accepted, so one reconnect-and-retry cannot duplicate it.
  for (int round = 0; round < 2; ++round) {
    bool reused = conn_ != nullptr;
    if (!conn_) {
      if (auto err = co_await connect(); !err.empty()) co_return transient(err);
    }
    SmtpReply reply;
    std::string mail = "MAIL FROM:<" + msg.from.address + ">";
    if (conn_->esmtp && conn_->max_size) {
      if (data_buf_.size() > conn_->max_size)
        co_return permanent("message size " + std::to_string(data_buf_.size()) + " exceeds server SIZE limit " +
                            std::to_string(conn_->max_size));
      mail += " SIZE=" + std::to_string(data_buf_.size());
    }
    mail += "\r\n";
    if (auto err = co_await conn_->command(mail, reply, t.mail); !err.empty()) {
      drop_connection();
      if (reused && round == 0) continue;
      co_return transient("MAIL FROM: " + err);
    }
    if (reply.code == 421) {
      drop_connection();
      if (reused && round == 0) continue;
      co_return classify(reply, "MAIL FROM");
    }
    auto reset = [&]() -> net::awaitable<void> {
      SmtpReply r;
      if (auto err = co_await conn_->command("RSET\r\n", r, t.mail); !err.empty() || r.code != 250) drop_connection();
    };
    if (reply.code != 250) {
      co_await reset();
      co_return classify(reply, "MAIL FROM");
    }
    size_t accepted = 0;
    DeliveryOutcome rcpt_failure;
    for (const auto& to : msg.to) {
      if (auto err = co_await conn_->command("RCPT TO:<" + to.address + ">\r\n", reply, t.rcpt); !err.empty()) {
        drop_connection();
        co_return transient("RCPT TO: " + err);
      }
      if (reply.code == 421) {
        drop_connection();
        co_return classify(reply, "RCPT TO");
      }
      if (reply.code == 250 || reply.code == 251) ++accepted;
      else rcpt_failure = classify(reply, "RCPT TO <" + to.address + ">");
    }
    if (accepted == 0) {
      co_await reset();
      co_return rcpt_failure;
    }
    if (auto err = co_await conn_->command("DATA\r\n", reply, t.data_init); !err.empty()) {
      drop_connection();
      co_return transient("DATA: " + err);
    }
    if (reply.code != 354) {
      if (reply.code == 421) drop_connection();
      else co_await reset();
      co_return classify(reply, "DATA");
    }
    if (auto err = co_await conn_->write(data_buf_, t.data_block); !err.empty()) {
      drop_connection();
      co_return transient("message body: " + err);
    }
    if (auto err = co_await conn_->read_reply(reply, t.data_term); !err.empty()) {
      // The server may have queued the message without us hearing back
      // (RFC 1047): at-least-once means we retry and may duplicate.
      drop_connection();
      co_return transient("end of data: " + err);
    }
    ++conn_->messages;
    conn_->last_used = std::chrono::steady_clock::now();
    if (reply.code == 421) drop_connection();
    if (reply.code == 250) co_return DeliveryOutcome{DeliveryStatus::delivered, reply.to_string()};
    co_return classify(reply, "end of data");
  }
  co_return transient("connection lost repeatedly");
}

net::awaitable<void> SmtpTransport::send_batch(std::span<const RenderedMessage* const> batch,
                                               std::span<DeliveryOutcome> outcomes) {
  for (size_t i = 0; i < batch.size(); ++i) outcomes[i] = co_await send_one(*batch[i]);
}

net::awaitable<void> SmtpTransport::shutdown() {
  if (!conn_) co_return;
  SmtpReply reply;
  co_await conn_->command("QUIT\r\n", reply, milliseconds(5000));
  drop_connection();
}

}  // namespace herald
