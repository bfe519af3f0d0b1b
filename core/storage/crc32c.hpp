#pragma once
// CRC32C (Castagnoli), the checksum of every log record (SPEC §6).
//
// Hand-written because it runs over every byte the journal and history write
// and read back: Boost.CRC is a byte-at-a-time table (~0.5 GB/s), while the
// SSE4.2 crc32 instruction takes 8 bytes at a time (three
// interleaved streams, crc32c.cpp). A portable slicing table
// is the fallback on CPUs without SSE4.2; both give identical results.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald {

// Continues `crc` (0 to start) over `data`.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size) noexcept;

inline uint32_t crc32c(std::string_view data) noexcept { return crc32c_extend(0, data.data(), data.size()); }

// The portable implementation alone, for tests that compare both paths.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size) noexcept;

}  // namespace herald
