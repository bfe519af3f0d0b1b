#include "transports/mime/mime_builder.hpp"

#include "core/util/base64.hpp"
#include "core/util/time_format.hpp"
#include "core/util/utf8.hpp"
#include "transports/mime/header_encoding.hpp"
#include "transports/mime/quoted_printable.hpp"

namespace herald {
namespace {

std::string sender_domain(const RenderedMessage& msg) {
  auto at = msg.from.address.rfind('@');
  return at == std::string::npos ? std::string("herald.invalid") : msg.from.address.substr(at + 1);
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

std::string MimeBuilder::message_id_header(const RenderedMessage& msg) {
  return "<" + msg.message_id + "@" + sender_domain(msg) + ">";
}

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
  out += "Message-ID: " + message_id_header(msg) + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  if (msg.event) append_unstructured_header(out, "X-Herald-Event", msg.event->id);

  const std::vector<Attachment>* attachments = nullptr;
  if (msg.attach && msg.event && msg.event->document && !msg.event->document->attachments.empty())
    attachments = &msg.event->document->attachments;
  const bool html = !msg.html.empty();
  const bool alternative = html && !msg.text.empty();

  // Boundaries derive from the message id: unique per message, and they can
  // never occur in QP or base64 output because they contain "=_".
  const std::string alt_boundary = "=_herald_alt_" + msg.message_id;
  auto append_content = [&] {
    if (!alternative) {
      append_body_part(out, html ? "html" : "plain", html ? msg.html : msg.text, attachments != nullptr);
      return;
    }
    out += "Content-Type: multipart/alternative;\r\n boundary=\"" + alt_boundary + "\"\r\n\r\n";
    out += "--" + alt_boundary + "\r\n";
    append_body_part(out, "plain", msg.text, true);
    out += "--" + alt_boundary + "\r\n";
    append_body_part(out, "html", msg.html, true);
    out += "--" + alt_boundary + "--\r\n";
  };
  if (!attachments) {
    append_content();
    return;
  }
  const std::string boundary = "=_herald_" + msg.message_id;
  out += "Content-Type: multipart/mixed;\r\n boundary=\"" + boundary + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format.\r\n";
  out += "--" + boundary + "\r\n";
  append_content();
  for (const auto& a : *attachments) {
    out += "--" + boundary + "\r\n";
    append_attachment(out, a);
  }
  out += "--" + boundary + "--\r\n";
}

}  // namespace herald
