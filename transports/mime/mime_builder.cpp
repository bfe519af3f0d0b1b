#include "transports/mime/mime_builder.hpp"

#include "core/util/base64.hpp"
#include "core/util/time_format.hpp"
#include "transports/mime/header_encoding.hpp"
#include "transports/mime/quoted_printable.hpp"

namespace herald {
namespace {

std::string sender_domain(const RenderedMessage& msg) {
  auto at = msg.from.address.rfind('@');
  return at == std::string::npos ? std::string("herald.invalid") : msg.from.address.substr(at + 1);
}

void append_text_part_headers(std::string& out) {
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
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

void MimeBuilder::build(const RenderedMessage& msg, std::string& out) {
  out.clear();
  out.reserve(1024 + msg.text.size() * 3 / 2);
  out += "Date: " + format_rfc5322_date(msg.created_at) + "\r\n";
  append_address_header(out, "From", msg.from);
  for (const auto& to : msg.to) append_address_header(out, "To", to);
  append_unstructured_header(out, "Subject", msg.subject);
  out += "Message-ID: " + message_id_header(msg) + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  if (msg.event) append_unstructured_header(out, "X-Herald-Event", msg.event->id);

  const std::vector<Attachment>* attachments = nullptr;
  if (msg.attach && msg.event && msg.event->document && !msg.event->document->attachments.empty())
    attachments = &msg.event->document->attachments;

  if (!attachments) {
    append_text_part_headers(out);
    out += "\r\n";
    quoted_printable_encode(out, msg.text);
    if (!out.ends_with("\r\n")) out += "\r\n";
    return;
  }
  // The boundary derives from the message id: unique per message, and it can
  // never occur in QP or base64 output because it contains "=_".
  std::string boundary = "=_herald_" + msg.message_id;
  out += "Content-Type: multipart/mixed;\r\n boundary=\"" + boundary + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format.\r\n";
  out += "--" + boundary + "\r\n";
  append_text_part_headers(out);
  out += "\r\n";
  quoted_printable_encode(out, msg.text);
  out += "\r\n";
  for (const auto& a : *attachments) {
    out += "--" + boundary + "\r\n";
    append_attachment(out, a);
  }
  out += "--" + boundary + "--\r\n";
}

}  // namespace herald
