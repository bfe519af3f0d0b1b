#pragma once
// The DATA payload encoder: the last guard before bytes reach an SMTP server.
//
// Whatever the message bytes hold (the MIME layer should already emit clean
// CRLF, but mimetic-style libraries and attachments may not), the output has
// every line ending in CRLF (lone CR and lone LF become CRLF), every line that
// starts with '.' dot-stuffed (RFC 5321 §4.5.2), and ends with exactly one
// "\r\n.\r\n". This closes the SMTP smuggling family (CVE-2023-51764): no
// "<LF>.<LF>", "<CR>.<CR>" or similar can end the data early.
#include <cstddef>
#include <string>
#include <string_view>

namespace herald {

// Appends the payload to `out`; returns whether it holds 8-bit bytes (the
// envelope then needs BODY=8BITMIME).
bool encode_smtp_data(std::string_view message, std::string& out);

// The same for the message at buf[start..], encoded where it is: one that
// already ends its lines in CRLF only and starts none with '.' (nearly every
// message MimeBuilder writes) only gets its ending, without being copied;
// any other is encoded by encode_smtp_data through a copy. The result is
// byte for byte encode_smtp_data's.
bool encode_smtp_data_in_place(std::string& buf, size_t start);

}  // namespace herald
