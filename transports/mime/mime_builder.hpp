#pragma once
// MimeBuilder: RenderedMessage → RFC 5322 message bytes (CRLF line endings).
//
// Output guarantees, whatever the message holds: every header is one logical
// line of printable ASCII (values sanitized and RFC 2047-encoded), every body
// line ends in CRLF and is at most 76 characters (quoted-printable text,
// base64), no bare CR or LF anywhere. Text and HTML go out as UTF-8
// quoted-printable (base64 when mostly non-ASCII); both together make a
// multipart/alternative, inside a multipart/mixed when there are attachments.
// Pure function of its input (plus the message's created_at for Date).
#include <string>

#include "core/model/message.hpp"

namespace herald {

class MimeBuilder final {
 public:
  // Builds the message into `out` (cleared first; capacity is reused).
  static void build(const RenderedMessage& msg, std::string& out);
  // Appends the message to `out`. Its lines end in CRLF only, and those of
  // its bodies are quoted-printable or base64, so it is nearly always SMTP
  // data as it stands (encode_smtp_data_in_place).
  static void append(const RenderedMessage& msg, std::string& out);
  static std::string build(const RenderedMessage& msg) {
    std::string s;
    build(msg, s);
    return s;
  }
};

}  // namespace herald
