#include "core/resources/partner_directory.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "core/resources/resource_set.hpp"
#include "tests/unit/core/load_error.hpp"
#include "tests/unit/core/make_partner.hpp"

namespace herald {
namespace {

TEST(PartnerDirectoryTest, FindsEveryPartnerOfManyAndNothingElse) {
  PartnerDirectory::Builder b;
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(b.add(make_partner(i % 3 ? "default" : "acme", "P-" + std::to_string(i), 3), "f.toml", nowhere));
  auto dir = b.build();
  ASSERT_EQ(dir->size(), 20000u);
  EXPECT_EQ(dir->action_count(), 60000u);
  for (int i = 0; i < 20000; ++i) {
    const std::string id = "P-" + std::to_string(i);
    PartnerView p = dir->find(i % 3 ? "default" : "acme", id);
    ASSERT_TRUE(p) << id;
    EXPECT_EQ(p.id(), id);
    EXPECT_EQ(p.name(), "Partner " + id);
    ASSERT_EQ(p.contact_count(), 3u);
    EXPECT_EQ(p.contact(2).value(), "c2@" + id + ".example");
    // The other tenant does not see it.
    EXPECT_FALSE(dir->find(i % 3 ? "acme" : "default", id));
  }
  EXPECT_FALSE(dir->find("default", "P-20000"));
  EXPECT_FALSE(dir->find("default", ""));
}

TEST(PartnerDirectoryTest, TheBuildersChunksJoinSeamlessly) {
  // Several MiB of strings, contacts and actions (the builder gathers them
  // in 1 MiB chunks), one name longer than a chunk among them, and ids
  // stored many chunks ago still found as duplicates.
  constexpr int kPartners = 40000;
  const std::string huge(3 << 20, 'h');  // over 32 KiB: the length's third byte holds bits 15-22
  PartnerDirectory::Builder b;
  for (int i = 0; i < kPartners; ++i) {
    Partner p = make_partner("default", "P-" + std::to_string(i), 4);
    if (i == kPartners / 2) p.name = huge;
    ASSERT_TRUE(b.add(p, "f.toml", nowhere));
  }
  for (int i = 0; i < kPartners; i += 997)
    EXPECT_FALSE(b.add(make_partner("default", "P-" + std::to_string(i), 1), "g.toml", nowhere)) << i;
  auto dir = b.build();
  ASSERT_EQ(dir->size(), size_t{kPartners});
  EXPECT_EQ(dir->action_count(), size_t{kPartners} * 4);
  for (int i = 0; i < kPartners; ++i) {
    const std::string id = "P-" + std::to_string(i);
    PartnerView p = dir->find("default", id);
    ASSERT_TRUE(p) << id;
    EXPECT_EQ(p.file(), "f.toml");
    if (i == kPartners / 2) EXPECT_TRUE(p.name() == huge) << p.name().size();  // not 3 MiB of gtest output
    else EXPECT_EQ(p.name(), "Partner " + id);
    ASSERT_EQ(p.contact_count(), 4u);
    EXPECT_EQ(p.contact(3).value(), "+421 900 000 003");
    EXPECT_EQ(p.contact(2).action(0).contact().value(), "c2@" + id + ".example");
    EXPECT_EQ(p.contact(1).action(0).template_id(), "order-sms");
  }
  // Every string, contact and action counted once, the huge name too.
  EXPECT_GT(dir->memory_bytes(), huge.size() + size_t{kPartners} * 4 * (28 + 20));
  EXPECT_LT(dir->memory_bytes(), huge.size() + size_t{kPartners} * 600);
}

TEST(PartnerDirectoryTest, RefusesADuplicateKeyButNotTheSameIdInAnotherTenant) {
  PartnerDirectory::Builder b;
  EXPECT_TRUE(b.add(make_partner("default", "P", 1), "a.toml", nowhere));
  EXPECT_FALSE(b.add(make_partner("default", "P", 2), "b.toml", nowhere));
  EXPECT_TRUE(b.add(make_partner("acme", "P", 2), "b.toml", nowhere));
  auto dir = b.build();
  EXPECT_EQ(dir->size(), 2u);
  EXPECT_EQ(dir->find("default", "P").contact_count(), 1u);
  EXPECT_EQ(dir->find("default", "P").file(), "a.toml");
  EXPECT_EQ(dir->find("acme", "P").file(), "b.toml");
}

TEST(PartnerDirectoryTest, ActionsByTypeInContactOrderWithTheirContact) {
  PartnerDirectory::Builder b;
  b.add(make_partner("default", "P", 5), "f.toml", nowhere);
  auto dir = b.build();
  std::vector<std::string> got;
  dir->find("default", "P").for_each_action("invoice.posted", [&](ActionView a) {
    EXPECT_EQ(a.template_id(), "invoice-email");
    EXPECT_EQ(a.when(), nullptr);
    got.emplace_back(a.contact().id());
  });
  EXPECT_EQ(got, (std::vector<std::string>{"c0", "c2", "c4"}));
  size_t none = 0;
  dir->find("default", "P").for_each_action("invoice.posted.x", [&](ActionView) { ++none; });
  EXPECT_EQ(none, 0u);
}

TEST(PartnerDirectoryTest, LongAndUnicodeStringsSurvivePacking) {
  Partner p = make_partner("default", "P", 1);
  p.name = std::string(300, 'x') + " Kováč " + std::string(40000, 'y');  // 3-byte length prefix, over 32 KiB
  p.contacts[0].name = std::string(127, 'a');                                // the 1-byte limit
  p.contacts[0].label = std::string(128, 'b');                               // the first 3-byte length
  PartnerDirectory::Builder b;
  b.add(p, "f.toml", nowhere);
  auto dir = b.build();
  PartnerView v = dir->find("default", "P");
  EXPECT_EQ(v.name(), p.name);
  EXPECT_EQ(v.contact(0).name(), p.contacts[0].name);
  EXPECT_EQ(v.contact(0).label(), p.contacts[0].label);
  EXPECT_EQ(v.contact(0).locale(), "");
}

TEST(PartnerDirectoryTest, SortedListingAndLowerBound) {
  PartnerDirectory::Builder b;
  for (const char* id : {"m", "b", "z", "a"}) b.add(make_partner("default", id, 0), "f.toml", nowhere);
  b.add(make_partner("acme", "q", 0), "f.toml", nowhere);
  auto dir = b.build();
  std::vector<std::string> order;
  for (size_t k = 0; k < dir->sorted_count(); ++k)
    order.push_back(std::string(dir->sorted(k).tenant()) + "/" + std::string(dir->sorted(k).id()));
  EXPECT_EQ(order, (std::vector<std::string>{"acme/q", "default/a", "default/b", "default/m", "default/z"}));
  EXPECT_EQ(dir->lower_bound("default", ""), 1u);
  EXPECT_EQ(dir->lower_bound("default", "c"), 3u);
  EXPECT_EQ(dir->lower_bound("default", "zz"), 5u);
}

TEST(PartnerDirectoryTest, JsonIsWhatAPutTakes) {
  Partner p = make_partner("default", "P-1", 1);
  p.locale = "cs-CZ";
  p.account_manager_name = "Eva";
  p.account_managers.push_back({ContactKind::email, "eva@herald.example", "Eva"});
  p.contacts[0].label = "sales";
  ExpressionError err;
  ASSERT_TRUE(Expression::compile("document.total > 100", p.contacts[0].actions[0].when, err));
  p.contacts[0].actions[0].attach = true;
  PartnerDirectory::Builder b;
  b.add(p, "f.toml", nowhere);
  auto dir = b.build();
  EXPECT_EQ(boost::json::serialize(dir->find("default", "P-1").to_json()),
            R"({"id":"P-1","tenant":"default","name":"Partner P-1","locale":"cs-CZ",)"
            R"("account_manager":{"name":"Eva","email":"eva@herald.example"},)"
            R"("contacts":[{"id":"c0","kind":"email","value":"c0@P-1.example","label":"sales","name":"Contact 0",)"
            R"("actions":[{"on":"invoice.posted","template":"invoice-email","when":"document.total > 100",)"
            R"("attach":true}]}]})");
}

TEST(PartnerDirectoryTest, RecordsTheFirstUseOfEachTemplatePerContactKind) {
  PartnerDirectory::Builder b;
  int calls = 0;
  auto where = [&](size_t c, size_t a) {
    ++calls;
    return "contact " + std::to_string(c) + " action " + std::to_string(a);
  };
  b.add(make_partner("default", "P", 4), "f.toml", where);
  b.add(make_partner("default", "Q", 4), "f.toml", where);
  auto dir = b.build();
  ASSERT_EQ(dir->template_uses().size(), 2u);
  EXPECT_EQ(calls, 2);  // one per (template, kind), not one per action
  const auto& email = dir->template_uses()[0];
  EXPECT_EQ(email.template_id, "invoice-email");
  EXPECT_EQ(email.kinds, 1u << static_cast<unsigned>(ContactKind::email));
  EXPECT_EQ(email.where[static_cast<size_t>(ContactKind::email)], "contact 0 action 0");
}

// Through the loader: template checks happen after every file is read, and
// name the action's file, line and path.
TEST(PartnerDirectoryTest, TemplateErrorsNameTheActionAfterAllFilesAreRead) {
  const std::string partner =
      "[[partner]]\nid = \"P\"\n[[partner.contacts]]\nid = \"c\"\nkind = \"mobile\"\nvalue = \"+421900123456\"\n"
      "[[partner.contacts.actions]]\non = \"x.y\"\ntemplate = \"later\"\n";
  // The template is defined in a file read after the partner's: fine.
  EXPECT_EQ(resource_load_error({{"a.toml", partner}, {"b.toml", "[[template]]\nid = \"later\"\nchannel = \"sms\"\nsms = \"x\"\n"}}), "");
  std::string err = resource_load_error({{"a.toml", partner}});
  EXPECT_NE(err.find("a.toml:9:12: partner[0].contacts[0].actions[0].template: no template with id \"later\""),
            std::string::npos)
      << err;
  err = resource_load_error({{"a.toml", partner}, {"b.toml", "[[template]]\nid = \"later\"\nsubject = \"s\"\ntext = \"x\"\n"}});
  EXPECT_NE(err.find("partner[0].contacts[0].actions[0].template: a mobile contact cannot receive email messages"),
            std::string::npos)
      << err;
  err = resource_load_error({{"a.toml", partner}, {"b.toml", "[[template]]\nid = \"later\"\npartial = true\nsms = \"x\"\n"}});
  EXPECT_NE(err.find("is a partial and cannot be sent on its own"), std::string::npos) << err;
}

}  // namespace
}  // namespace herald
