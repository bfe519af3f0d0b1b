#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

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

// A reread of a directory whose partners did not change keeps the partner
// directory it had (the same object) and parses only the changed files.
TEST(ResourceLoaderTest, ARereadKeepsThePartnersWhenNoPartnerFileChanged) {
  TempDir dir;
  dir.write("a-templates.toml", kTemplates);
  dir.write("b-partners.toml", kPartner);
  dir.write("c-rules.toml", "");
  const ResourceDir first = read_resource_dir(dir.path());
  EXPECT_EQ(first.parsed, 3u);

  const ResourceDir same = read_resource_dir(dir.path(), &first);
  EXPECT_EQ(same.partners, first.partners);
  EXPECT_EQ(same.parsed, 0u);
  dir.write("b-partners.toml", kPartner);  // rewritten with the same bytes
  EXPECT_EQ(read_resource_dir(dir.path(), &first).partners, first.partners);

  // A template edited, a file of rules added: both parsed, the partners kept.
  std::string edited = kTemplates;
  edited.replace(edited.find("Faktúra"), std::string_view("Faktúra").size(), "Invoice");
  dir.write("a-templates.toml", edited);
  dir.write("d-more.toml", "[[group]]\nid = \"g\"\n[[group.members]]\nkind = \"email\"\nvalue = \"g@x.example\"\n");
  const ResourceDir second = read_resource_dir(dir.path(), &same);
  EXPECT_EQ(second.partners, first.partners);
  EXPECT_EQ(second.parsed, 2u);
  ResourceSet set = build_resources(second, {}, nullptr);
  std::string subject;
  mustache::render(*set.find_template("invoice-email")->base.get(Part::subject),
                   boost::json::parse(R"({"document":{"number":"7"}})"), {}, subject);
  EXPECT_EQ(subject, "Invoice 7");
  EXPECT_TRUE(set.find_group("g"));
  ASSERT_TRUE(set.find_partner("default", "P-1001"));
  // The kept files are what they were: their partners are not read twice.
  EXPECT_EQ(set.partner_count(), 1u);

  // A file removed that held no partners: still kept.
  std::filesystem::remove(dir.path() / "d-more.toml");
  const ResourceDir third = read_resource_dir(dir.path(), &second);
  EXPECT_EQ(third.partners, first.partners);
  EXPECT_FALSE(build_resources(third, {}, nullptr).find_group("g"));
}

// Small files' partners share one shard, built again from all of them when
// one with partners changes, comes or goes.
TEST(ResourceLoaderTest, ARereadRebuildsTheSmallFilesShardWhenOneOfThemChanged) {
  std::string other = kPartner;
  other.replace(other.find("P-1001"), std::string_view("P-1001").size(), "P-2002");
  auto reread = [&](size_t parsed, auto&& change) {
    TempDir dir;
    dir.write("a-templates.toml", kTemplates);
    dir.write("b-partners.toml", kPartner);
    dir.write("c-empty.toml", "# nothing yet\n");
    const ResourceDir first = read_resource_dir(dir.path());
    change(dir);
    ResourceDir again = read_resource_dir(dir.path(), &first);
    EXPECT_NE(again.partners, first.partners);
    EXPECT_EQ(again.shards_built, 1u);
    EXPECT_EQ(again.parsed, parsed);
    return build_resources(again, {}, nullptr);
  };
  // Edited: the partner's new name is what serves.
  auto set = reread(1, [](TempDir& d) {
    std::string renamed = kPartner;
    renamed.replace(renamed.find("Stavebniny"), std::string_view("Stavebniny").size(), "Stavby");
    d.write("b-partners.toml", renamed);
  });
  EXPECT_EQ(set.find_partner("default", "P-1001").name(), "Stavby Kováč s.r.o.");
  // Removed.
  set = reread(0, [](TempDir& d) { std::filesystem::remove(d.path() / "b-partners.toml"); });
  EXPECT_EQ(set.partner_count(), 0u);
  // A new file with partners: it and the unchanged partner file parsed.
  set = reread(2, [&](TempDir& d) { d.write("d-partners.toml", other); });
  EXPECT_EQ(set.partner_count(), 2u);
  // A file that had none now has some.
  set = reread(2, [&](TempDir& d) { d.write("c-empty.toml", other); });
  EXPECT_TRUE(set.find_partner("default", "P-2002"));
  EXPECT_TRUE(set.find_partner("default", "P-1001"));
}

// The ConfigError of reading `dir` again after `previous`, or "" when it reads.
std::string reread_error(const TempDir& dir, const ResourceDir& previous) {
  try {
    read_resource_dir(dir.path(), &previous);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// `count` partners "<prefix><i>", each with one contact and action: about
// 190 bytes each, so 400 make a file of its own shard.
std::string partners_toml(const std::string& prefix, int count, const std::string& name = "Partner") {
  std::string s;
  for (int i = 0; i < count; ++i)
    s += "[[partner]]\nid = \"" + prefix + std::to_string(i) + "\"\nname = \"" + name + "\"\n"
         "[[partner.contacts]]\nid = \"c\"\nkind = \"email\"\nvalue = \"c@" + prefix + std::to_string(i) +
         ".example\"\n[[partner.contacts.actions]]\non = \"invoice.posted\"\ntemplate = \"invoice-email\"\n";
  return s;
}

// A large file's partners are a shard of their own: a change to it builds
// that shard only, and the others are the same objects as before.
TEST(ResourceLoaderTest, ALargeFileIsAShardOfItsOwnAndOnlyItIsBuiltAgain) {
  TempDir dir;
  dir.write("a-templates.toml", kTemplates);
  for (std::string f : {"b", "c", "d"}) dir.write(f + ".toml", partners_toml(f, 400));
  ASSERT_GE(std::filesystem::file_size(dir.path() / "b.toml"), kOwnShardBytes);
  dir.write("e-small.toml", kPartner);
  const ResourceDir first = read_resource_dir(dir.path());
  EXPECT_EQ(first.partners->shards().size(), 4u);  // b, c, d and the small files'
  EXPECT_EQ(first.shards_built, 4u);
  EXPECT_EQ(first.partners->size(), 1201u);

  dir.write("c.toml", partners_toml("c", 400, "Renamed"));
  const ResourceDir second = read_resource_dir(dir.path(), &first);
  EXPECT_EQ(second.parsed, 1u);
  EXPECT_EQ(second.shards_built, 1u);
  ASSERT_EQ(second.partners->shards().size(), 4u);
  const auto& before = first.partners->shards();
  const auto& after = second.partners->shards();
  EXPECT_EQ(after[0], before[0]);  // b
  EXPECT_NE(after[1], before[1]);  // c
  EXPECT_EQ(after[2], before[2]);  // d
  EXPECT_EQ(after[3], before[3]);  // the small files'
  ResourceSet set = build_resources(second, {}, nullptr);
  EXPECT_EQ(set.find_partner("default", "c399").name(), "Renamed");
  EXPECT_EQ(set.find_partner("default", "b0").name(), "Partner");
  EXPECT_TRUE(set.find_partner("default", "P-1001"));
  EXPECT_EQ(set.partner_count(), 1201u);

  // Gone: its shard with it, nothing built.
  std::filesystem::remove(dir.path() / "d.toml");
  const ResourceDir third = read_resource_dir(dir.path(), &second);
  EXPECT_EQ(third.parsed, 0u);
  EXPECT_EQ(third.shards_built, 0u);
  EXPECT_EQ(third.partners->shards().size(), 3u);
  set = build_resources(third, {}, nullptr);
  EXPECT_FALSE(set.find_partner("default", "d0"));
  EXPECT_EQ(set.partner_count(), 801u);

  // A partner of a kept shard defined again in a changed file.
  dir.write("a-templates.toml", std::string(kTemplates) + partners_toml("b", 1));
  const std::string error = reread_error(dir, third);
  EXPECT_NE(error.find("duplicate partner id \"b0\""), std::string::npos) << error;
}

TEST(ResourceLoaderTest, ARereadOfABrokenFileFailsAsAFullReadWould) {
  TempDir dir;
  dir.write("a-templates.toml", kTemplates);
  dir.write("b-partners.toml", kPartner);
  const ResourceDir first = read_resource_dir(dir.path());
  dir.write("a-templates.toml", "[[template]\nid = 1\n");
  const std::string error = reread_error(dir, first);
  EXPECT_NE(error.find("a-templates.toml:1:"), std::string::npos) << error;
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
