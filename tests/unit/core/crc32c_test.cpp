#include "core/storage/crc32c.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace herald {
namespace {

TEST(Crc32cTest, MatchesKnownVectors) {
  // RFC 3720 appendix B.4 and the common "123456789" check value.
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32cTest, HardwareAndPortablePathsAgreeAndExtendIncrementally) {
  std::mt19937 rng(7);
  // Around the three-stream groups of 3 × 64 bytes, and well past them.
  for (size_t len : {1u, 7u, 8u, 9u, 63u, 64u, 191u, 192u, 193u, 200u, 383u, 384u, 385u, 490u, 1000u, 4097u}) {
    std::string data(len, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    const uint32_t whole = crc32c(data);
    EXPECT_EQ(whole, crc32c_extend_portable(0, data.data(), data.size())) << len;
    const size_t cut = len / 3;
    EXPECT_EQ(whole, crc32c_extend(crc32c_extend(0, data.data(), cut), data.data() + cut, len - cut)) << len;
  }
}

}  // namespace
}  // namespace herald
