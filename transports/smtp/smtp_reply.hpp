#pragma once
// SMTP reply parsing (RFC 5321 §4.2), pure and incremental.
//
// Robust to garbage: a line without a 3-digit code, mixed codes within one
// multi-line reply, an over-long line or too many lines is `malformed`, and
// the caller drops the connection (the message is retried, never counted as
// sent). Lines may end in CRLF or a bare LF (seen from real servers).
#include <cstddef>
#include <string>
#include <string_view>

namespace herald {

struct SmtpReply {
  int code = 0;
  std::string text;  // lines after the code, joined with '\n'

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  std::string to_string() const { return std::to_string(code) + " " + text; }
};

enum class ReplyParse { incomplete, complete, malformed };

struct ReplyLimits {
  size_t max_line = 2048;  // RFC 5321 says 512; real servers exceed it
  size_t max_lines = 100;
};

// Parses one reply from the front of `buf`. On `complete`, `consumed` is the
// number of bytes it used; on `malformed`, `error` says why.
ReplyParse parse_smtp_reply(std::string_view buf, SmtpReply& out, size_t& consumed, std::string& error,
                            const ReplyLimits& limits = {});

}  // namespace herald
