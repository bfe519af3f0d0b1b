#include "core/resources/resource_store.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

namespace json = boost::json;

std::string partner_toml(const std::string& id, const std::string& tenant, int contacts) {
  std::string s = "[[partner]]\nid = \"" + id + "\"\ntenant = \"" + tenant + "\"\n";
  for (int c = 0; c < contacts; ++c)
    s += "[[partner.contacts]]\nid = \"c" + std::to_string(c) + "\"\nkind = \"email\"\nvalue = \"c" +
         std::to_string(c) + "@" + id + ".example\"\n[[partner.contacts.actions]]\non = \"invoice.posted\"\n"
         "template = \"t\"\n";
  return s;
}

class ResourceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files.write("a-templates.toml", "[[template]]\nid = \"t\"\nsubject = \"s\"\ntext = \"x\"\n");
    files.write("b-partners.toml", partner_toml("A", "default", 1) + partner_toml("C", "default", 1) +
                                       partner_toml("E", "default", 1) + partner_toml("A", "acme", 1));
  }

  // "id:origin" of each listed partner, and the page's "next".
  static std::pair<std::vector<std::string>, std::string> page(const ResourceStore::Answer& a) {
    std::vector<std::string> out;
    for (const auto& i : a.body.at("items").as_array())
      out.push_back(std::string(i.at("id").as_string()) + ":" + std::string(i.at("origin").as_string()));
    const auto* next = a.body.as_object().if_contains("next");
    return {out, next ? std::string(next->as_string()) : ""};
  }

  TempDir files, api;
};

TEST_F(ResourceStoreTest, PartnerListMergesFileAndApiPartnersInIdOrderAcrossPages) {
  ResourceStore store(files.path(), api.path());
  // B is new; C replaces the file's C (three contacts instead of one).
  ASSERT_EQ(store.put(ResourceKind::partner, "default", "B", json::parse(R"({"contacts":[]})")).status, 201);
  auto c = json::parse(R"({"contacts":[)"
                       R"({"id":"x","kind":"email","value":"x@c.example","actions":[{"on":"invoice.posted","template":"t"}]},)"
                       R"({"id":"y","kind":"email","value":"y@c.example","actions":[{"on":"invoice.posted","template":"t"}]},)"
                       R"({"id":"z","kind":"email","value":"z@c.example","actions":[{"on":"invoice.posted","template":"t"}]}]})");
  ASSERT_EQ(store.put(ResourceKind::partner, "default", "C", c).status, 201);

  auto [first, next] = page(store.list(ResourceKind::partner, "default", 2, ""));
  EXPECT_EQ(first, (std::vector<std::string>{"A:file", "B:api"}));
  EXPECT_EQ(next, "B");
  auto [second, next2] = page(store.list(ResourceKind::partner, "default", 2, next));
  EXPECT_EQ(second, (std::vector<std::string>{"C:api", "E:file"}));  // one C: the API's hides the file's
  EXPECT_EQ(next2, "");
  EXPECT_EQ(page(store.list(ResourceKind::partner, "acme", 10, "")).first, (std::vector<std::string>{"A:file"}));

  const auto& set = store.snapshots().get()->resources;
  EXPECT_EQ(set.partner_count(), 5u);  // A, B, C, E and acme's A
  // Actions in effect: A, E and acme's A (one each) plus the API's C (three).
  EXPECT_EQ(store.snapshots().get()->index.size(), 6u);
  EXPECT_EQ(store.get(ResourceKind::partner, "default", "C").body.at("contacts").as_array().size(), 3u);

  EXPECT_EQ(store.remove(ResourceKind::partner, "default", "A").status, 409);  // defined in a file
  EXPECT_EQ(store.remove(ResourceKind::partner, "default", "Z").status, 404);
  EXPECT_EQ(store.remove(ResourceKind::partner, "default", "C").status, 204);  // the file's C shows again
  EXPECT_EQ(page(store.list(ResourceKind::partner, "default", 10, "")).first,
            (std::vector<std::string>{"A:file", "B:api", "C:file", "E:file"}));
  EXPECT_EQ(store.get(ResourceKind::partner, "default", "C").body.at("contacts").as_array().size(), 1u);
}

}  // namespace
}  // namespace herald
