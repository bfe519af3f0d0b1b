#include "transports/mime/mime_builder.hpp"

#include "core/util/base64.hpp"
#include "core/util/time_format.hpp"
#include "core/util/utf8.hpp"
#include "transports/mime/header_encoding.hpp"
#include "transports/mime/quoted_printable.hpp"

namespace herald {
namespace {

std::string_view sender_domain(const RenderedMessage& msg) {
  std::string_view from = msg.from.address;
  auto at = from.rfind('@');
  return at == std::string_view::npos ? std::string_view("herald.invalid") : from.substr(at + 1);
}

// "<id@domain>", the domain being the sender's, appended.
void append_message_id(std::string& out, const RenderedMessage& msg) {
  out += '<';
  out += msg.message_id;
  out += '@';
  out += sender_domain(msg);
  out += '>';
}

// "--" boundary [the closing "--"] CRLF, appended.
void append_delimiter(std::string& out, std::string_view boundary, bool close = false) {
  out += "--";
  out += boundary;
  out += close ? "--\r\n" : "\r\n";
}

// A multipart Content-Type with its boundary parameter and the blank line, appended.
void append_multipart_header(std::string& out, std::string_view subtype, std::string_view boundary) {
  out += "Content-Type: multipart/";
  out += subtype;
  out += ";\r\n boundary=\"";
  out += boundary;
  out += "\"\r\n\r\n";
}

// Quoted-printable keeps Latin text (Slovak, Czech, Polish, German)
// readable and small; a body that is mostly non-ASCII (Cyrillic, Greek, CJK)
// is smaller as base64.
// Inside a multipart the CRLF before the next boundary belongs to the
// boundary, so a body part always gets one more: a body ending in a line
// break keeps it.
void append_body_part(std::string& out, std::string_view subtype, std::string_view body, bool in_multipart) {
  const bool b64 = count_non_ascii(body) * 3 > body.size();
  out += "Content-Type: text/";
  out += subtype;
  out += "; charset=utf-8\r\nContent-Transfer-Encoding: ";
  out += b64 ? "base64\r\n\r\n" : "quoted-printable\r\n\r\n";
  if (b64) {
    // base64 carries the bytes as they are: normalize line ends first, so
    // the decoded text has CRLF like a quoted-printable body would.
    std::string crlf;
    crlf.reserve(body.size() + body.size() / 32);
    for (size_t i = 0; i < body.size(); ++i) {
      char c = body[i];
      if (c == '\r') {
        crlf += "\r\n";
        if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
      } else if (c == '\n') {
        crlf += "\r\n";
      } else {
        crlf += c;
      }
    }
    base64_encode_lines(out, crlf, 76);
  } else {
    quoted_printable_encode(out, body);
  }
  if (in_multipart || !out.ends_with("\r\n")) out += "\r\n";
}

void append_attachment(std::string& out, const Attachment& a) {
  std::string name = sanitize_header_text(a.filename);
  // The plain filename= parameter is ASCII-only; non-ASCII names use RFC 2231.
  bool ascii_name = true;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || c == '"' || c == '\\') ascii_name = false;
  }
  out += "Content-Type: ";
  out += a.content_type;  // validated as type/subtype token chars at ingest
  out += "\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n ";
  if (ascii_name) {
    out += "filename=\"" + name + "\"";
  } else {
    out += "filename*=" + rfc2231_encode(name);
  }
  out += "\r\n\r\n";
  base64_encode_lines(out, a.content, 76);
  out += "\r\n";
}

}  // namespace

// Hand-written rather than built with mimetic: mimetic 0.9.8 passes CR/LF
// inside header values and bare-LF "." lines straight through
// (../shared/RELIABILITY.md), and it builds a node tree per message on the
// SMTP hot path. This writer sanitizes every header, emits only CRLF lines
// of at most 76 characters and appends straight into a reused buffer.
void MimeBuilder::build(const RenderedMessage& msg, std::string& out) {
  out.clear();
  append(msg, out);
}

void MimeBuilder::append(const RenderedMessage& msg, std::string& out) {
  out.reserve(out.size() + 1024 + (msg.text.size() + msg.html.size()) * 3 / 2);
  out += "Date: ";
  out += format_rfc5322_date(msg.created_at);
  out += "\r\n";
  append_address_header(out, "From", msg.from);
  if (msg.reply_to) append_address_header(out, "Reply-To", *msg.reply_to);
  for (const auto& to : msg.to) append_address_header(out, "To", to);
  append_unstructured_header(out, "Subject", msg.subject);
  out += "Message-ID: ";
  append_message_id(out, msg);
  out += "\r\n";
  out += "MIME-Version: 1.0\r\n";
  if (msg.event) append_unstructured_header(out, "X-Herald-Event", msg.event->id);

  const std::vector<Attachment>* attachments = nullptr;
  if (msg.attach && msg.event && msg.event->document && !msg.event->document->attachments.empty())
    attachments = &msg.event->document->attachments;
  const bool html = !msg.html.empty();
  const bool alternative = html && !msg.text.empty();

  // Boundaries derive from the message id: unique per message, and they can
  // never occur in QP or base64 output because they contain "=_".
  // Both boundaries in one small buffer: "=_herald_alt_<id>" then "=_herald_<id>".
  std::string boundaries;
  boundaries.reserve(2 * msg.message_id.size() + 22);
  boundaries.append("=_herald_alt_").append(msg.message_id);
  const size_t alt_size = boundaries.size();
  boundaries.append("=_herald_").append(msg.message_id);
  const std::string_view alt_boundary = std::string_view(boundaries).substr(0, alt_size);
  const std::string_view boundary = std::string_view(boundaries).substr(alt_size);
  auto append_content = [&] {
    if (!alternative) {
      append_body_part(out, html ? "html" : "plain", html ? msg.html : msg.text, attachments != nullptr);
      return;
    }
    append_multipart_header(out, "alternative", alt_boundary);
    append_delimiter(out, alt_boundary);
    append_body_part(out, "plain", msg.text, true);
    append_delimiter(out, alt_boundary);
    append_body_part(out, "html", msg.html, true);
    append_delimiter(out, alt_boundary, true);
  };
  if (!attachments) {
    append_content();
    return;
  }
  append_multipart_header(out, "mixed", boundary);
  out += "This is a multi-part message in MIME format.\r\n";
  append_delimiter(out, boundary);
  append_content();
  for (const auto& a : *attachments) {
    append_delimiter(out, boundary);
    append_attachment(out, a);
  }
  append_delimiter(out, boundary, true);
}

}  // namespace herald
