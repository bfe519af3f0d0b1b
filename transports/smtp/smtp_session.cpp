#include "transports/smtp/smtp_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cctype>

#include "core/ingest/event_decoder.hpp"
#include "core/util/base64.hpp"
#include "transports/tls/tls_client.hpp"

namespace herald {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using net::ip::tcp;
using std::chrono::milliseconds;

namespace {

constexpr size_t kMaxReplyBuffer = 64 * 1024;
constexpr milliseconds kQuitTimeout{5'000};

DeliveryOutcome transient(std::string detail, RelaySignal relay = RelaySignal::none) {
  return {DeliveryStatus::transient_failure, std::move(detail), relay};
}
DeliveryOutcome permanent(std::string detail) { return {DeliveryStatus::permanent_failure, std::move(detail)}; }

// A reply to a command: 421 closes the session and backs off the relay,
// other 4xx are transient, 5xx permanent.
DeliveryOutcome classify(const SmtpReply& r, std::string_view what) {
  std::string detail = std::string(what) + ": " + r.to_string();
  if (r.code == 421) return transient(std::move(detail), RelaySignal::throttle);
  return r.permanent() ? permanent(std::move(detail)) : transient(std::move(detail));
}

// A failure to set the session up says nothing about the messages.
DeliveryOutcome relay_fault(std::string detail) { return transient(std::move(detail), RelaySignal::fault); }
DeliveryOutcome relay_reply(const SmtpReply& r, std::string_view what) {
  return transient(std::string(what) + ": " + r.to_string(),
                   r.code == 421 ? RelaySignal::throttle : RelaySignal::fault);
}

bool iequals_prefix(std::string_view line, std::string_view keyword) {
  if (line.size() < keyword.size()) return false;
  for (size_t i = 0; i < keyword.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(line[i])) != keyword[i]) return false;
  return line.size() == keyword.size() || line[keyword.size()] == ' ' || line[keyword.size()] == '=';
}

std::string io_error(std::string_view what, const boost::system::error_code& ec) {
  return std::string(what) + ": " + (ec == beast::error::timeout ? std::string("timeout") : ec.message());
}

}  // namespace

SmtpCapabilities SmtpCapabilities::from_ehlo(const SmtpReply& ehlo) {
  SmtpCapabilities c;
  c.esmtp = true;
  std::string_view text = ehlo.text;
  bool first = true;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (first) {  // the greeting line names the server, it is no keyword
      first = false;
      continue;
    }
    if (iequals_prefix(line, "PIPELINING")) c.pipelining = true;
    else if (iequals_prefix(line, "8BITMIME")) c.eight_bit_mime = true;
    else if (iequals_prefix(line, "SMTPUTF8")) c.smtputf8 = true;
    else if (iequals_prefix(line, "STARTTLS")) c.starttls = true;
    else if (iequals_prefix(line, "SIZE")) {
      c.size = true;
      if (line.size() > 5) c.max_size = std::strtoull(std::string(line.substr(5)).c_str(), nullptr, 10);
    } else if (iequals_prefix(line, "AUTH")) {
      // "AUTH PLAIN LOGIN" (and the pre-RFC "AUTH=LOGIN" form)
      std::string mechs(line.substr(5));
      for (auto& ch : mechs) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      for (size_t pos = 0; pos < mechs.size();) {
        size_t end = mechs.find(' ', pos);
        std::string_view m = std::string_view(mechs).substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (m == "PLAIN") c.auth_plain = true;
        if (m == "LOGIN") c.auth_login = true;
        if (end == std::string::npos) break;
        pos = end + 1;
      }
    }
  }
  return c;
}

SmtpSession::SmtpSession(net::any_io_executor ex, const SmtpSettings& settings, ssl::context& tls,
                         Gauge& open_connections)
    : settings_(settings), open_connections_(open_connections), stream_(ex, tls) {}

SmtpSession::~SmtpSession() { close(); }

void SmtpSession::close() {
  if (!open_) return;
  open_ = false;
  beast::error_code ec;
  stream_.next_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.next_layer().close();
  open_connections_.add(-1);
}

ReplyParse SmtpSession::take_reply(SmtpReply& reply, std::string& error) {
  size_t consumed = 0;
  const ReplyParse parsed = parse_smtp_reply(in_, reply, consumed, error);
  if (parsed == ReplyParse::complete) in_.erase(0, consumed);
  return parsed;
}

net::awaitable<std::string> SmtpSession::read_reply(SmtpReply& reply, milliseconds timeout) {
  for (;;) {
    std::string error;
    switch (take_reply(reply, error)) {
      case ReplyParse::complete: co_return std::string{};
      case ReplyParse::malformed: co_return "malformed reply: " + error;
      case ReplyParse::incomplete: break;
    }
    if (in_.size() > kMaxReplyBuffer) co_return std::string("reply too large");
    stream_.next_layer().expires_after(timeout);
    auto [ec, n] = tls_active_
                       ? co_await stream_.async_read_some(net::buffer(read_buf_), net::as_tuple(net::use_awaitable))
                       : co_await stream_.next_layer().async_read_some(net::buffer(read_buf_),
                                                                       net::as_tuple(net::use_awaitable));
    if (ec) co_return io_error("waiting for reply", ec);
    in_.append(read_buf_.data(), n);
  }
}

net::awaitable<std::string> SmtpSession::write(std::string_view a, std::string_view b, milliseconds timeout) {
  std::array<net::const_buffer, 2> bufs{net::buffer(a), net::buffer(b)};
  stream_.next_layer().expires_after(timeout);
  auto [ec, n] = tls_active_ ? co_await net::async_write(stream_, bufs, net::as_tuple(net::use_awaitable))
                             : co_await net::async_write(stream_.next_layer(), bufs, net::as_tuple(net::use_awaitable));
  (void)n;
  if (ec) co_return io_error("sending", ec);
  co_return std::string{};
}

net::awaitable<std::string> SmtpSession::command(std::string_view line, SmtpReply& reply, milliseconds timeout) {
  if (auto err = co_await write(line, {}, timeout); !err.empty()) co_return err;
  co_return co_await read_reply(reply, timeout);
}

net::awaitable<std::string> SmtpSession::next_reply(SmtpReply& reply, milliseconds timeout) {
  if (out_pos_ < out_.size()) {
    size_t end = out_.size();
    if (!pipelined()) end = out_.find("\r\n", out_pos_) + 2;  // out_ holds whole lines only
    auto err = co_await write(std::string_view(out_).substr(out_pos_, end - out_pos_), {}, timeout);
    out_pos_ = end;
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
    }
    if (!err.empty()) co_return err;
  }
  co_return co_await read_reply(reply, timeout);
}

bool SmtpSession::take_buffered_reply(SmtpReply& reply) {
  std::string error;  // a malformed reply is reported by next_reply()
  return out_pos_ == out_.size() && take_reply(reply, error) == ReplyParse::complete;
}

net::awaitable<std::optional<DeliveryOutcome>> SmtpSession::open() {
  const auto& t = settings_.timeouts;
  const std::string where = settings_.host + ":" + std::to_string(settings_.port);
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(settings_.host, std::to_string(settings_.port), net::as_tuple(net::use_awaitable));
  if (rec) co_return relay_fault("resolve " + where + ": " + rec.message());
  stream_.next_layer().expires_after(t.connect);
  auto [cec, ep] = co_await stream_.next_layer().async_connect(endpoints, net::as_tuple(net::use_awaitable));
  (void)ep;
  if (cec) co_return relay_fault(io_error("connect " + where, cec));
  open_ = true;
  open_connections_.add(1);
  stream_.next_layer().socket().set_option(tcp::no_delay(true));

  if (settings_.tls == SmtpTlsMode::implicit) {
    if (auto fail = co_await start_tls(false)) {
      close();
      co_return fail;
    }
  }
  SmtpReply reply;
  if (auto err = co_await read_reply(reply, t.greeting); !err.empty()) {
    close();
    co_return relay_fault("greeting from " + where + ": " + err);
  }
  if (reply.code != 220) {
    close();
    co_return relay_reply(reply, "greeting from " + where);
  }
  if (auto fail = co_await ehlo()) {
    close();
    co_return fail;
  }
  const bool want_tls = settings_.tls == SmtpTlsMode::required || settings_.tls == SmtpTlsMode::opportunistic;
  if (want_tls && !tls_active_) {
    if (caps_.starttls) {
      if (auto err = co_await command("STARTTLS\r\n", reply, t.ehlo); !err.empty()) {
        close();
        co_return relay_fault("STARTTLS: " + err);
      }
      if (reply.code == 220) {
        if (auto fail = co_await start_tls(true)) {
          close();
          co_return fail;
        }
        // RFC 3207 §4.2: forget everything learned before TLS, ask again.
        if (auto fail = co_await ehlo()) {
          close();
          co_return fail;
        }
      } else if (settings_.tls == SmtpTlsMode::required || reply.code == 421) {
        close();
        co_return relay_reply(reply, "STARTTLS refused");
      }
    } else if (settings_.tls == SmtpTlsMode::required) {
      close();
      co_return relay_fault("server " + where + " does not offer STARTTLS and tls = \"required\"");
    }
  }
  if (!settings_.username.empty()) {
    if (auto fail = co_await authenticate()) {
      close();
      co_return fail;
    }
  }
  last_used_ = std::chrono::steady_clock::now();
  co_return std::nullopt;
}

net::awaitable<std::optional<DeliveryOutcome>> SmtpSession::ehlo() {
  SmtpReply reply;
  const auto timeout = settings_.timeouts.ehlo;
  if (auto err = co_await command("EHLO " + settings_.helo_name + "\r\n", reply, timeout); !err.empty())
    co_return relay_fault("EHLO: " + err);
  if (reply.code == 250) {
    caps_ = SmtpCapabilities::from_ehlo(reply);
    co_return std::nullopt;
  }
  if (reply.code == 421) co_return relay_reply(reply, "EHLO");
  // Servers without ESMTP answer EHLO with 500/502: fall back to HELO.
  if (auto err = co_await command("HELO " + settings_.helo_name + "\r\n", reply, timeout); !err.empty())
    co_return relay_fault("HELO: " + err);
  if (reply.code != 250) co_return relay_reply(reply, "HELO");
  caps_ = SmtpCapabilities{};
  co_return std::nullopt;
}

net::awaitable<std::optional<DeliveryOutcome>> SmtpSession::start_tls(bool after_starttls) {
  if (after_starttls && !in_.empty()) {
    // Bytes that arrived after the 220 were sent in plain text and could
    // have been injected by anyone on the path: they must never be read as
    // answers inside the TLS session.
    discarded_pre_tls_ += in_.size();
    in_.clear();
  }
  const std::string& name = settings_.tls_server_name.empty() ? settings_.host : settings_.tls_server_name;
  prepare_tls_client(stream_, name, settings_.tls_verify);
  stream_.next_layer().expires_after(settings_.timeouts.connect);
  auto [ec] = co_await stream_.async_handshake(ssl::stream_base::client, net::as_tuple(net::use_awaitable));
  if (ec) co_return relay_fault(io_error("TLS handshake with " + name, ec));
  tls_active_ = true;
  co_return std::nullopt;
}

net::awaitable<std::optional<DeliveryOutcome>> SmtpSession::authenticate() {
  if (!tls_active_ && !settings_.auth_allow_plaintext)
    co_return relay_fault("refusing to send AUTH credentials without TLS (set auth_allow_plaintext to allow)");
  const auto timeout = settings_.timeouts.ehlo;
  SmtpReply reply;
  if (caps_.auth_plain) {
    std::string token;
    token.reserve(settings_.username.size() + settings_.password.size() + 2);
    token += '\0';
    token += settings_.username;
    token += '\0';
    token += settings_.password;
    if (auto err = co_await command("AUTH PLAIN " + base64_encode(token) + "\r\n", reply, timeout); !err.empty())
      co_return relay_fault("AUTH PLAIN: " + err);
  } else if (caps_.auth_login) {
    if (auto err = co_await command("AUTH LOGIN\r\n", reply, timeout); !err.empty())
      co_return relay_fault("AUTH LOGIN: " + err);
    for (const std::string* secret : {&settings_.username, &settings_.password}) {
      if (reply.code != 334) break;
      if (auto err = co_await command(base64_encode(*secret) + "\r\n", reply, timeout); !err.empty())
        co_return relay_fault("AUTH LOGIN: " + err);
    }
  } else {
    co_return relay_fault("server offers neither AUTH PLAIN nor AUTH LOGIN");
  }
  if (reply.code != 235) co_return relay_reply(reply, "authentication failed");
  co_return std::nullopt;
}

void SmtpSession::append_envelope(const SmtpJob& job) {
  out_ += "MAIL FROM:<";
  out_ += job.msg->from.address;
  out_ += '>';
  if (caps_.size) {
    out_ += " SIZE=";
    out_ += std::to_string(job.data.size());
  }
  if (job.eight_bit) out_ += " BODY=8BITMIME";
  out_ += "\r\n";
  for (const auto& to : job.msg->to) {
    out_ += "RCPT TO:<";
    out_ += to.address;
    out_ += ">\r\n";
  }
  out_ += "DATA\r\n";
}

net::awaitable<bool> SmtpSession::send(std::span<SmtpJob> jobs) {
  const auto& t = settings_.timeouts;
  const bool reused = used_;
  used_ = true;
  bool answered = false;  // has the server replied to anything of this batch?

  // Local checks first: a job that fails them never reaches the wire.
  std::vector<SmtpJob*> ready;
  ready.reserve(jobs.size());
  for (auto& job : jobs) {
    const RenderedMessage& msg = *job.msg;
    DeliveryOutcome& out = *job.outcome;
    // Envelope addresses go into commands: re-check them here so no path can
    // smuggle "\r\nRCPT TO:" into the dialogue (bpo-43124 family).
    bool bad_rcpt = msg.to.empty();
    for (const auto& to : msg.to) bad_rcpt = bad_rcpt || !is_valid_email_address(to.address);
    if (!is_valid_email_address(msg.from.address)) out = permanent("invalid sender address");
    else if (bad_rcpt) out = permanent(msg.to.empty() ? "message has no recipients" : "invalid recipient address");
    else if (caps_.size && caps_.max_size && job.data.size() > caps_.max_size)
      out = permanent("message size " + std::to_string(job.data.size()) + " exceeds the server's SIZE limit " +
                      std::to_string(caps_.max_size));
    else if (job.eight_bit && !caps_.eight_bit_mime)
      out = permanent("message has 8-bit content and the server does not offer 8BITMIME");
    else ready.push_back(&job);
  }

  out_.clear();
  out_pos_ = 0;
  // The connection is gone: jobs after k were never sent.
  auto abandon_after = [&](size_t k, const std::string& why) {
    close();
    for (size_t i = k + 1; i < ready.size(); ++i) *ready[i]->outcome = transient("not sent, connection lost: " + why);
  };
  auto lost = [&](size_t k, std::string why, RelaySignal relay) {
    abandon_after(k, why);
    *ready[k]->outcome = transient(std::move(why), relay);
  };
  // What the reply to one command of job k (or `err`, the failure to read
  // it) means. `stale`: a reused connection was dead before the server
  // answered anything of this batch.
  enum class Step { ok, lost, stale };
  SmtpReply reply;
  auto judge = [&](size_t k, std::string_view what, const std::string& err) {
    if (!err.empty() && reused && !answered) {
      close();
      return Step::stale;
    }
    if (!err.empty()) {
      lost(k, std::string(what) + ": " + err, RelaySignal::fault);
      return Step::lost;
    }
    answered = true;
    if (reply.code == 421) {
      lost(k, std::string(what) + ": " + reply.to_string(), RelaySignal::throttle);
      return Step::lost;
    }
    return Step::ok;
  };
  // Not a coroutine of its own (nor a co_await inside ?:, which GCC 12
  // miscompiles): a frame per command was the cost take_buffered_reply saves.
  std::string err;
  auto buffered = [&] {
    err.clear();
    return take_buffered_reply(reply);
  };
  bool in_flight = false;  // ready[k]'s envelope went out with the previous body
  for (size_t k = 0; k < ready.size(); ++k) {
    SmtpJob& job = *ready[k];
    const RenderedMessage& msg = *job.msg;
    if (!in_flight) append_envelope(job);
    in_flight = false;

    if (!buffered()) err = co_await next_reply(reply, t.mail);
    if (auto st = judge(k, "MAIL FROM", err); st != Step::ok) co_return st != Step::stale;
    const SmtpReply mail = reply;
    std::vector<RecipientOutcome> rcpts;
    rcpts.reserve(msg.to.size());
    size_t accepted = 0, deferred = 0;
    for (const auto& to : msg.to) {
      if (!buffered()) err = co_await next_reply(reply, t.rcpt);
      if (judge(k, "RCPT TO", err) != Step::ok) co_return true;
      DeliveryStatus status = reply.positive()    ? DeliveryStatus::delivered
                              : reply.transient() ? DeliveryStatus::transient_failure
                                                  : DeliveryStatus::permanent_failure;
      accepted += status == DeliveryStatus::delivered;
      deferred += status == DeliveryStatus::transient_failure;
      rcpts.push_back({to.address, status, reply.to_string()});
    }
    if (!buffered()) err = co_await next_reply(reply, t.data_init);
    if (judge(k, "DATA", err) != Step::ok) co_return true;
    const bool go = reply.code == 354;
    auto rcpt_detail = [&] {
      std::string d;
      for (const auto& r : rcpts)
        if (r.status != DeliveryStatus::delivered) d += "; <" + r.address + "> " + r.reply;
      return d;
    };
    if (mail.code != 250 || accepted == 0 || !go) {
      // The transaction failed before the body: report why, then end it.
      DeliveryOutcome& out = *job.outcome;
      if (mail.code != 250) out = classify(mail, "MAIL FROM");
      else if (accepted == 0) {
        out = {deferred ? DeliveryStatus::transient_failure : DeliveryStatus::permanent_failure,
               "RCPT TO: every recipient refused" + rcpt_detail()};
        if (deferred && deferred < rcpts.size()) out.recipients = std::move(rcpts);  // retry only those
      } else out = classify(reply, "DATA");
      // A server that said 354 anyway gets an empty message it must refuse
      // (RFC 2920 §3.1); everyone else a RSET.
      out_ += go ? ".\r\n" : "RSET\r\n";
      if (go) out_ += "RSET\r\n";
      for (int replies = go ? 2 : 1; replies > 0; --replies) {
        if (auto err = co_await next_reply(reply, go ? t.data_term : t.mail); !err.empty()) {
          abandon_after(k, err);
          co_return true;
        }
      }
      continue;
    }
    // Body, end of data, and (pipelining) the next envelope in one write.
    if (pipelined() && k + 1 < ready.size()) {
      append_envelope(*ready[k + 1]);
      in_flight = true;
    }
    auto err = co_await write(job.data, std::string_view(out_).substr(out_pos_), t.data_block);
    out_.clear();
    out_pos_ = 0;
    if (!err.empty()) {
      lost(k, "message body: " + err, RelaySignal::fault);
      co_return true;
    }
    if (auto rerr = co_await read_reply(reply, t.data_term); !rerr.empty()) {
      // The server may have queued the message without us hearing back
      // (RFC 1047): at-least-once means it is retried and may arrive twice.
      lost(k, "end of data: " + rerr, RelaySignal::fault);
      co_return true;
    }
    ++messages_;
    last_used_ = std::chrono::steady_clock::now();
    if (reply.code == 421) {
      lost(k, "end of data: " + reply.to_string(), RelaySignal::throttle);
      co_return true;
    }
    DeliveryOutcome& out = *job.outcome;
    if (reply.code != 250) {
      out = classify(reply, "end of data");
    } else if (deferred) {
      // Delivered to some; the others are retried on their own.
      out = transient(reply.to_string() + rcpt_detail());
      out.recipients = std::move(rcpts);
    } else {
      out = {DeliveryStatus::delivered, accepted < rcpts.size() ? reply.to_string() + rcpt_detail() : reply.to_string(),
             RelaySignal::none};
      if (accepted < rcpts.size()) out.recipients = std::move(rcpts);
    }
  }
  co_return true;
}

net::awaitable<void> SmtpSession::quit() {
  if (!open_) co_return;
  SmtpReply reply;
  out_.clear();
  out_pos_ = 0;
  co_await command("QUIT\r\n", reply, kQuitTimeout);
  close();
}

}  // namespace herald
