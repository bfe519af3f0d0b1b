#pragma once
// UTF-8 helpers shared by the event validator, the log writer and the MIME
// encoder. Hand-written because they run per field on the ingest hot path and
// only need validation, not conversion.
#include <cstddef>
#include <string_view>

namespace herald {

// Length of the well-formed UTF-8 sequence at the start of `s` (1..4), or 0 if
// it is malformed (overlong, surrogate, > U+10FFFF, truncated).
size_t utf8_sequence_length(std::string_view s) noexcept;

bool is_valid_utf8(std::string_view s) noexcept;

// Number of code points; `s` must be valid UTF-8.
size_t utf8_length(std::string_view s) noexcept;

// True if `s` contains a C0/C1 control character, DEL, or U+2028/U+2029:
// anything that must never reach a single-line field such as a header value.
bool has_line_breaking_or_control(std::string_view s) noexcept;

bool is_ascii(std::string_view s) noexcept;

// Bytes of `s` at or above 0x80.
size_t count_non_ascii(std::string_view s) noexcept;

}  // namespace herald
