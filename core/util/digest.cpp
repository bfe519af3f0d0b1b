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
  // Not the one-shot SHA256(): in OpenSSL 3 it goes through EVP_Q_digest.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  auto put_length = [](unsigned char* out, uint64_t n) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(n >> (8 * i));
  };
  size_t total = 0;
  for (auto p : parts) total += 8 + p.size();
  // Small inputs (message ids) are framed into one stack buffer and hashed
  // in one update, not two per part. Large ones (resource files, hashed
  // whole at every reload) are hashed part by part: copied first, 91 MB of
  // partner files cost a second 91 MB buffer. The same bytes either way, so
  // the same digest.
  constexpr size_t kGathered = 512;
  if (total <= kGathered) {
    unsigned char framed[kGathered];
    size_t at = 0;
    for (auto p : parts) {
      put_length(framed + at, p.size());
      std::copy(p.begin(), p.end(), framed + at + 8);
      at += 8 + p.size();
    }
    SHA256_Update(&ctx, framed, at);
  } else {
    for (auto p : parts) {
      unsigned char length[8];
      put_length(length, p.size());
      SHA256_Update(&ctx, length, sizeof length);
      SHA256_Update(&ctx, p.data(), p.size());
    }
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(std::min<size_t>(hex_chars, 2 * SHA256_DIGEST_LENGTH), '0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = kHex[i % 2 ? md[i / 2] & 15 : md[i / 2] >> 4];
  return out;
}

}  // namespace herald
