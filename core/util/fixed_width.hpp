#pragma once
// Little-endian fixed-width integers, byte by byte (any host): the framing
// of log segments and records, and the index and footer of finished-event runs.
#include <cstdint>
#include <string>

namespace herald {

inline void store_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put_u32(std::string& out, uint32_t v) {
  char b[4];
  store_u32(b, v);
  out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v));
  put_u32(out, static_cast<uint32_t>(v >> 32));
}
inline uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint64_t get_u64(const char* p) { return uint64_t(get_u32(p)) | (uint64_t(get_u32(p + 4)) << 32); }

}  // namespace herald
