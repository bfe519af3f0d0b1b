#include "core/resources/partner_catalog.hpp"

#include <gtest/gtest.h>

#include "core/config/toml_reader.hpp"
#include "tests/unit/core/make_partner.hpp"

namespace herald {
namespace {

// A shard of partners "<prefix><i>" for i in [from, to), defined in `file`.
std::shared_ptr<const PartnerDirectory> shard(const std::string& file, const std::string& prefix, int from, int to,
                                              const std::string& tenant = "default") {
  PartnerDirectory::Builder b;
  for (int i = from; i < to; ++i) EXPECT_TRUE(b.add(make_partner(tenant, prefix + std::to_string(i), 2), file, nowhere));
  return b.build();
}

TEST(PartnerCatalogTest, FindsEveryPartnerInItsShardAndNothingElse) {
  auto a = shard("a.toml", "P-", 0, 3000), b = shard("b.toml", "P-", 3000, 5000), c = shard("c.toml", "Q-", 0, 10);
  PartnerCatalog catalog({a, b, c});
  EXPECT_EQ(catalog.size(), 5010u);
  EXPECT_EQ(catalog.action_count(), 2 * 5010u);
  for (int i = 0; i < 5000; ++i) {
    PartnerView p = catalog.find("default", "P-" + std::to_string(i));
    ASSERT_TRUE(p) << i;
    EXPECT_EQ(p.id(), "P-" + std::to_string(i));
    EXPECT_EQ(p.file(), i < 3000 ? "a.toml" : "b.toml");
    EXPECT_EQ(p.contact(1).value(), "+421 900 000 001");
  }
  EXPECT_EQ(catalog.find("default", "Q-9").file(), "c.toml");
  EXPECT_FALSE(catalog.find("default", "P-5000"));
  EXPECT_FALSE(catalog.find("acme", "P-1"));
  EXPECT_FALSE(catalog.find("default", ""));
  EXPECT_GT(catalog.memory_bytes(), a->memory_bytes() + b->memory_bytes() + c->memory_bytes());
}

TEST(PartnerCatalogTest, ListsAllShardsInKeyOrder) {
  PartnerCatalog catalog({shard("a.toml", "m", 0, 3), shard("b.toml", "b", 0, 2), shard("c.toml", "x", 0, 2, "acme")});
  std::vector<std::string> listed;
  for (size_t k = 0; k < catalog.sorted_count(); ++k) {
    PartnerView p = catalog.sorted(k);
    listed.push_back(std::string(p.tenant()) + "/" + std::string(p.id()));
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"acme/x0", "acme/x1", "default/b0", "default/b1", "default/m0",
                                              "default/m1", "default/m2"}));
  EXPECT_EQ(catalog.lower_bound("default", ""), 2u);
  EXPECT_EQ(catalog.lower_bound("default", "c"), 4u);
  EXPECT_EQ(catalog.lower_bound("default", "m1"), 5u);
  EXPECT_EQ(catalog.lower_bound("zzz", ""), 7u);
}

TEST(PartnerCatalogTest, OneShardIsAskedDirectlyAndEmptyShardsAreDropped) {
  auto only = shard("a.toml", "P-", 0, 5);
  PartnerDirectory::Builder nothing;
  PartnerCatalog catalog({nullptr, only, nothing.build()});
  ASSERT_EQ(catalog.shards().size(), 1u);
  EXPECT_EQ(catalog.shards()[0], only);
  EXPECT_EQ(catalog.memory_bytes(), only->memory_bytes());  // no table of its own
  EXPECT_EQ(catalog.find("default", "P-4").file(), "a.toml");
  EXPECT_EQ(catalog.sorted(0).id(), "P-0");
  EXPECT_EQ(catalog.lower_bound("default", "P-3"), 3u);

  PartnerCatalog empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_FALSE(empty.find("default", "P-0"));
  EXPECT_EQ(empty.lower_bound("default", ""), 0u);
}

TEST(PartnerCatalogTest, APartnerInTwoShardsIsAnErrorNamingBothFiles) {
  try {
    PartnerCatalog({shard("a.toml", "P-", 0, 100), shard("b.toml", "P-", 99, 120)});
    FAIL() << "a duplicate was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "b.toml: duplicate partner id \"P-99\" (tenant \"default\"), already in a.toml");
  }
  // The same id in another tenant is another partner.
  PartnerCatalog both({shard("a.toml", "P-", 0, 2), shard("b.toml", "P-", 0, 2, "acme")});
  EXPECT_EQ(both.size(), 4u);
  EXPECT_EQ(both.find("acme", "P-1").file(), "b.toml");
}

}  // namespace
}  // namespace herald
