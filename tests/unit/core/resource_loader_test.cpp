#include <gtest/gtest.h>

#include "core/config/toml_reader.hpp"
#include "core/match/rule_index.hpp"
#include "core/resources/resource_set.hpp"
#include "tests/unit/core/load_error.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

const char* kTemplates = R"(
[[template]]
id = "invoice-email"
subject = "Faktúra {{document.number}}"
text = "Dobrý deň {{contact.name}}"

[[template]]
id = "order-sms"
channel = "sms"
text = "Objednávka {{document.number}} je pripravená"
)";

const char* kPartner = R"(
[[partner]]
id = "P-1001"
name = "Stavebniny Kováč s.r.o."
locale = "sk-SK"
  [[partner.contacts]]
  id = "sales"
  kind = "email"
  value = "predaj@kovac.example"
  label = "sales"
    [[partner.contacts.actions]]
    on = "invoice.posted"
    template = "invoice-email"
    attach = true
  [[partner.contacts]]
  id = "mobile"
  kind = "mobile"
  value = "+421 900 123 456"
    [[partner.contacts.actions]]
    on = "customer_order.realized"
    template = "order-sms"
)";

std::string error_of(const std::string& templates, const std::string& partners) {
  return resource_load_error({{"a-templates.toml", templates}, {"b-partners.toml", partners}});
}

TEST(ResourceLoaderTest, LoadsPartnersContactsActionsAndTemplates) {
  TempDir dir;
  dir.write("templates.toml", kTemplates);
  dir.write("partners.toml", kPartner);
  dir.write("ignored.txt", "not toml");
  auto set = load_resources(dir.path());
  ASSERT_EQ(set.templates.size(), 2u);
  ASSERT_EQ(set.partner_count(), 1u);
  PartnerView p = set.find_partner("default", "P-1001");
  ASSERT_TRUE(p);
  EXPECT_FALSE(set.find_partner("other", "P-1001"));
  EXPECT_EQ(p.name(), "Stavebniny Kováč s.r.o.");
  EXPECT_TRUE(p.file().ends_with("partners.toml"));
  ASSERT_EQ(p.contact_count(), 2u);
  EXPECT_EQ(p.contact(0).label(), "sales");
  EXPECT_EQ(p.contact(0).action(0).template_id(), "invoice-email");
  EXPECT_TRUE(p.contact(0).action(0).attach());
  EXPECT_EQ(p.contact(1).kind(), ContactKind::mobile);
  EXPECT_EQ(p.contact(1).action(0).contact().value(), "+421 900 123 456");
}

TEST(ResourceLoaderTest, ChannelMustFitContactKind) {
  std::string landline = std::string(kPartner) + R"(
  [[partner.contacts]]
  id = "office"
  kind = "landline"
  value = "+421 2 1234 5678"
    [[partner.contacts.actions]]
    on = "invoice.posted"
    template = "invoice-email"
)";
  auto err = error_of(kTemplates, landline);
  EXPECT_NE(err.find("a landline contact cannot receive email messages"), std::string::npos) << err;
  std::string email_sms = R"(
[[partner]]
id = "P"
  [[partner.contacts]]
  id = "c"
  kind = "email"
  value = "a@b.example"
    [[partner.contacts.actions]]
    on = "x.y"
    template = "order-sms"
)";
  err = error_of(kTemplates, email_sms);
  EXPECT_NE(err.find("email contact cannot receive sms"), std::string::npos) << err;
}

TEST(ResourceLoaderTest, UnknownTemplateIsNamed) {
  auto err = error_of(kTemplates, R"(
[[partner]]
id = "P"
  [[partner.contacts]]
  id = "c"
  kind = "email"
  value = "a@b.example"
    [[partner.contacts.actions]]
    on = "x.y"
    template = "nope"
)");
  EXPECT_NE(err.find("partner[0].contacts[0].actions[0].template: no template with id \"nope\""), std::string::npos)
      << err;
}

TEST(ResourceLoaderTest, TemplateErrorsCarryLineAndColumn) {
  auto err = error_of(R"(
[[template]]
id = "t"
subject = "ok"
text = """
line one
line {{two
"""
)",
                      "");
  EXPECT_NE(err.find("template error at line 2, column 6: unclosed"), std::string::npos) << err;
}

TEST(ResourceLoaderTest, RejectsBadContactsAndDuplicates) {
  EXPECT_NE(error_of(kTemplates, R"(
[[partner]]
id = "P"
  [[partner.contacts]]
  id = "c"
  kind = "email"
  value = "not an address"
)").find("not a valid e-mail address"),
            std::string::npos);
  EXPECT_NE(error_of(kTemplates, std::string(kPartner) + kPartner).find("duplicate partner id"), std::string::npos);
  EXPECT_NE(error_of(kTemplates + std::string(kTemplates), "").find("duplicate template id"), std::string::npos);
  EXPECT_NE(error_of(kTemplates, "[[partner]]\nid = \"P\"\ncolour = 1\n").find("partner[0].colour: unknown key"),
            std::string::npos);
}

TEST(ResourceLoaderTest, MissingDirectoryIsAnError) {
  EXPECT_THROW(load_resources("/nonexistent/resources"), ConfigError);
}

TEST(SnapshotHolderTest, PublishSwapsWithoutDisturbingReaders) {
  TempDir dir;
  dir.write("templates.toml", kTemplates);
  SnapshotHolder holder(std::make_shared<const ResourceSnapshot>(load_resources(dir.path()), 1));
  auto reader = holder.get();
  dir.write("partners.toml", kPartner);
  holder.publish(std::make_shared<const ResourceSnapshot>(load_resources(dir.path()), 2));
  EXPECT_EQ(reader->generation, 1u);
  EXPECT_EQ(reader->resources.partner_count(), 0u);
  EXPECT_EQ(holder.get()->generation, 2u);
  EXPECT_EQ(holder.get()->resources.partner_count(), 1u);
}

}  // namespace
}  // namespace herald
