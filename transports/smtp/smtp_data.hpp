#pragma once
// The DATA payload encoder: the last guard before bytes reach an SMTP server.
//
// Whatever the message bytes hold (the MIME layer should already emit clean
// CRLF, but mimetic-style libraries and attachments may not), the output has
// every line ending in CRLF (lone CR and lone LF become CRLF), every line that
// starts with '.' dot-stuffed (RFC 5321 §4.5.2), and ends with exactly one
// "\r\n.\r\n". This closes the SMTP smuggling family (CVE-2023-51764): no
// "<LF>.<LF>", "<CR>.<CR>" or similar can end the data early.
#include <string>
#include <string_view>

namespace herald {

// Appends the payload to `out`; returns whether it holds 8-bit bytes (the
// envelope then needs BODY=8BITMIME).
bool encode_smtp_data(std::string_view message, std::string& out);

}  // namespace herald
