#pragma once
#include <string>
#include <string_view>

namespace herald {

// RFC 2045 §6.7 quoted-printable for text bodies. Any line break in the input
// (CRLF, lone CR, lone LF) becomes a CRLF hard break, so no bare CR or LF can
// leave herald; lines are soft-broken below 76 characters; a '.' starting a
// line is encoded (=2E) so the body never depends on SMTP dot-stuffing.
void quoted_printable_encode(std::string& out, std::string_view text);

}  // namespace herald
