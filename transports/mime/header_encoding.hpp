#pragma once
// Header-safe encoding for values that come from event data or resources.
//
// Hand-written rather than left to a MIME library because mimetic 0.9.8 copies
// CR/LF inside header values verbatim (header injection; see RELIABILITY.md
// §2.3). These functions are the single choke point: whatever the input, the
// output is one logical header line of printable ASCII (folded with CRLF SP),
// with non-ASCII text as RFC 2047 encoded words.
#include <string>
#include <string_view>

#include "core/model/message.hpp"

namespace herald {

// Replaces control characters, CR, LF, U+2028/2029 and invalid UTF-8 with a
// space and trims: what a single-line header value may contain.
std::string sanitize_header_text(std::string_view value);

// Appends "Name: value\r\n" with `value` sanitized, RFC 2047-encoded when it is
// not plain ASCII (or looks like an encoded word), and folded below 78 columns.
void append_unstructured_header(std::string& out, std::string_view name, std::string_view value);

// Appends "Name: display <addr>\r\n" (display name quoted or encoded as needed).
void append_address_header(std::string& out, std::string_view name, const Mailbox& mailbox);

// The display name alone in header form (atom, quoted-string or encoded
// words), appended to `out` (nothing for an empty or blank name).
void append_display_name(std::string& out, std::string_view name);
std::string encode_display_name(std::string_view name);

// RFC 2231 extended parameter value: utf-8''percent-encoded.
std::string rfc2231_encode(std::string_view value);

}  // namespace herald
