#pragma once
// Stable identifiers derived from content (message ids, file names).
#include <string>
#include <string_view>
#include <initializer_list>

namespace herald {

// Lower-case hex SHA-256 of the parts, each prefixed by its length so that
// ("ab","c") and ("a","bc") differ.
std::string sha256_hex(std::initializer_list<std::string_view> parts);

}  // namespace herald
