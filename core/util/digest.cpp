#include "core/util/digest.hpp"

// OpenSSL 3 deprecates the SHA256_* functions in favour of EVP, but EVP costs
// ~10 000 instructions of provider dispatch and context allocation per
// digest (callgrind: 20 % of rendering an e-mail went to its message id,
// ~100 bytes hashed). The low-level functions run the same assembly
// (SHA-NI/AVX2) with none of that, and Debian's libcrypto keeps them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstdint>

namespace herald {

std::string sha256_hex(std::initializer_list<std::string_view> parts) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (auto p : parts) {
    uint64_t n = p.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    SHA256_Update(&ctx, len, sizeof len);
    SHA256_Update(&ctx, p.data(), p.size());
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA256_DIGEST_LENGTH, '0');
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

}  // namespace herald
