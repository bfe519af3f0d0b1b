#pragma once
// SmtpSession: one client connection to a relay, from the greeting to QUIT.
//
// open() connects, reads the greeting, says EHLO (HELO for servers without
// ESMTP), negotiates TLS (STARTTLS or implicit) and AUTH (PLAIN or LOGIN).
// send() runs mail transactions for a batch of prepared jobs. With
// PIPELINING (RFC 2920) one message costs one round trip: after the server's
// 354, the body, its ".", and the next message's MAIL/RCPT/DATA go out in one
// write, and replies are matched in order. Without it, commands go one by
// one. A session is one connection: after close() make a new one (an SSL
// object cannot be reconnected).
//
// Executor affinity: used by one coroutine at a time (its pool lane) on the
// dispatcher's executor; no locks.
//
// Security: any bytes the server pipelined after its STARTTLS 220 are
// discarded before the handshake (CVE-2011-0411 pattern); envelope addresses
// are re-validated here; bodies arrive already CRLF-normalized and
// dot-stuffed (encode_smtp_data), so no bare CR/LF or premature "." is sent.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/config/settings.hpp"
#include "core/delivery/transport.hpp"
#include "core/util/metrics.hpp"
#include "transports/smtp/smtp_reply.hpp"

namespace herald {

// What the server's EHLO reply offers (RFC 5321 §4.1.1.1 keywords).
struct SmtpCapabilities {
  bool esmtp = false;
  bool pipelining = false;
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool starttls = false;
  bool size = false;
  uint64_t max_size = 0;  // 0 with size = no limit stated
  bool auth_plain = false;
  bool auth_login = false;

  static SmtpCapabilities from_ehlo(const SmtpReply& ehlo);
};

// One message ready for the wire.
struct SmtpJob {
  const RenderedMessage* msg = nullptr;
  std::string_view data;  // DATA payload: CRLF lines, dot-stuffed, ending "\r\n.\r\n"
  bool eight_bit = false;
  DeliveryOutcome* outcome = nullptr;
};

class SmtpSession final {
 public:
  SmtpSession(boost::asio::any_io_executor ex, const SmtpSettings& settings, boost::asio::ssl::context& tls,
              Gauge& open_connections);
  ~SmtpSession();
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // Connects and negotiates. On failure returns the outcome every message of
  // the batch gets (a transient relay fault, or a throttle on 421).
  boost::asio::awaitable<std::optional<DeliveryOutcome>> open();

  // Runs one transaction per job and fills each job's outcome. Returns false
  // only when a reused connection proved dead before the server answered
  // anything (nothing was accepted): the caller may reconnect and resend.
  boost::asio::awaitable<bool> send(std::span<SmtpJob> jobs);

  // QUIT (best effort, short timeout) and close.
  boost::asio::awaitable<void> quit();
  void close();

  bool is_open() const { return open_; }
  bool tls_active() const { return tls_active_; }
  size_t messages() const { return messages_; }
  std::chrono::steady_clock::time_point last_used() const { return last_used_; }
  const SmtpCapabilities& capabilities() const { return caps_; }
  // Bytes the server sent before TLS was up that were thrown away (tests).
  size_t discarded_pre_tls_bytes() const { return discarded_pre_tls_; }

 private:
  using Stream = boost::asio::ssl::stream<boost::beast::tcp_stream>;

  // Parses a reply from the front of in_, and drops it from there once complete.
  ReplyParse take_reply(SmtpReply& reply, std::string& error);
  boost::asio::awaitable<std::string> read_reply(SmtpReply& reply, std::chrono::milliseconds timeout);
  boost::asio::awaitable<std::string> write(std::string_view a, std::string_view b,
                                            std::chrono::milliseconds timeout);
  boost::asio::awaitable<std::string> command(std::string_view line, SmtpReply& reply,
                                              std::chrono::milliseconds timeout);
  // Writes what is queued in out_ (all of it when pipelining, else the next
  // line) and reads one reply.
  boost::asio::awaitable<std::string> next_reply(SmtpReply& reply, std::chrono::milliseconds timeout);
  // next_reply without suspending, when nothing is queued to write and a
  // whole reply is already buffered; false otherwise (next_reply then waits,
  // or reports a malformed one). Pipelined, the replies to one message's
  // MAIL, RCPT and DATA arrive with the previous one's end of data: taken
  // here, they cost no coroutine frames (three nested calls each, from the
  // heap: frames over 1 KB are not recycled).
  bool take_buffered_reply(SmtpReply& reply);
  boost::asio::awaitable<std::optional<DeliveryOutcome>> ehlo();
  boost::asio::awaitable<std::optional<DeliveryOutcome>> start_tls(bool after_starttls);
  boost::asio::awaitable<std::optional<DeliveryOutcome>> authenticate();
  void append_envelope(const SmtpJob& job);
  bool pipelined() const { return caps_.pipelining && settings_.pipelining; }

  const SmtpSettings& settings_;
  Gauge& open_connections_;
  Stream stream_;
  bool open_ = false;
  bool tls_active_ = false;
  bool used_ = false;  // a batch ran on this connection before
  SmtpCapabilities caps_;
  std::string in_;         // bytes read but not yet parsed
  std::string out_;        // commands queued for the next write
  size_t out_pos_ = 0;     // how much of out_ is already written
  std::array<char, 16 * 1024> read_buf_;
  size_t messages_ = 0;
  size_t discarded_pre_tls_ = 0;
  std::chrono::steady_clock::time_point last_used_ = std::chrono::steady_clock::now();
};

}  // namespace herald
