#pragma once
// RFC 4648 base64. Hand-written: OpenSSL's EVP_DecodeBlock does not report the
// padding-adjusted length and accepts malformed input silently; attachments
// arrive from untrusted upstream systems, so decoding must be strict.
#include <optional>
#include <string>
#include <string_view>

namespace herald {

std::string base64_encode(std::string_view in);
// Appends the encoding of `in` to `out`, breaking lines every `line_len`
// characters with CRLF (0 = no breaks). Used for MIME bodies.
void base64_encode_lines(std::string& out, std::string_view in, size_t line_len);
// Strict decode; ASCII whitespace (space, tab, CR, LF) between groups is
// ignored, anything else malformed returns nullopt.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace herald
