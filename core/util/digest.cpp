#include "core/util/digest.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <stdexcept>

namespace herald {

std::string sha256_hex(std::initializer_list<std::string_view> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("sha256 init failed");
  for (auto p : parts) {
    uint64_t n = p.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    EVP_DigestUpdate(ctx.get(), len, sizeof len);
    EVP_DigestUpdate(ctx.get(), p.data(), p.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &md_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(md_len * 2);
  for (unsigned i = 0; i < md_len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace herald
