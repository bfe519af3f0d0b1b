#include "core/util/digest.hpp"

// OpenSSL 3 deprecates the SHA256_* functions in favour of EVP, but EVP costs
// ~10 000 instructions of provider dispatch and context allocation per
// digest (callgrind: 20 % of rendering an e-mail went to its message id,
// ~100 bytes hashed). The low-level functions run the same assembly
// (SHA-NI/AVX2) with none of that, and Debian's libcrypto keeps them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>

namespace herald {

std::string sha256_hex(std::initializer_list<std::string_view> parts, size_t hex_chars) {
  // The framed parts are gathered first and hashed in one call: the same
  // bytes, so the same digest (message ids stay stable across versions), at
  // one update instead of two per part.
  std::string framed;
  size_t total = 0;
  for (auto p : parts) total += 8 + p.size();
  framed.reserve(total);
  for (auto p : parts) {
    uint64_t n = p.size();
    for (int i = 0; i < 8; ++i) framed += static_cast<char>(static_cast<unsigned char>(n >> (8 * i)));
    framed.append(p);
  }
  // Not the one-shot SHA256(): in OpenSSL 3 it goes through EVP_Q_digest.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, framed.data(), framed.size());
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(std::min<size_t>(hex_chars, 2 * SHA256_DIGEST_LENGTH), '0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = kHex[i % 2 ? md[i / 2] & 15 : md[i / 2] >> 4];
  return out;
}

}  // namespace herald
