#pragma once
// Stable identifiers derived from content (message ids, file names).
#include <cstddef>
#include <string>
#include <string_view>
#include <initializer_list>

namespace herald {

// Lower-case hex SHA-256 of the parts, each prefixed by its length (u64
// little-endian) so that ("ab","c") and ("a","bc") differ; the first
// `hex_chars` digits of it (all 64 by default).
std::string sha256_hex(std::initializer_list<std::string_view> parts, size_t hex_chars = 64);

}  // namespace herald
