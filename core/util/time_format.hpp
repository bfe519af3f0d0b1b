#pragma once
#include <chrono>
#include <string>

namespace herald {

// "2026-11-20T08:14:03.123Z" (UTC, millisecond precision).
std::string format_rfc3339_utc(std::chrono::system_clock::time_point t);
// "Fri, 20 Nov 2026 08:14:03 +0000" for e-mail Date headers (RFC 5322 §3.3).
std::string format_rfc5322_date(std::chrono::system_clock::time_point t);

}  // namespace herald
