#include "transports/outbox/outbox_transport.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

TEST(OutboxTransportTest, WritesOneEmlPerMessageAtomically) {
  TempDir dir;
  std::FILE* devnull = std::fopen("/dev/null", "w");
  Logger log(devnull);
  OutboxTransport outbox("outbox", OutboxSettings{dir.path() / "outbox", true}, log);
  RenderedMessage a, b;
  a.message_id = "aaaa";
  b.message_id = "bbbb";
  for (auto* m : {&a, &b}) {
    m->from = {"herald@x.example", ""};
    m->to = {{"r@y.example", ""}};
    m->subject = "Hi";
    m->text = "body";
  }
  const RenderedMessage* batch[] = {&a, &b};
  DeliveryOutcome outcomes[2];
  outbox.write_batch(batch, outcomes);
  for (const auto& o : outcomes) EXPECT_EQ(o.status, DeliveryStatus::delivered) << o.detail;
  std::ifstream f(dir.path() / "outbox" / "aaaa.eml", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(ss.str().find("Subject: Hi\r\n"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "outbox" / "bbbb.eml"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "outbox" / ".tmp"));
  std::fclose(devnull);
}

TEST(OutboxTransportTest, UnwritableDirectoryIsATransientFailure) {
  TempDir dir;
  std::FILE* devnull = std::fopen("/dev/null", "w");
  Logger log(devnull);
  OutboxTransport outbox("outbox", OutboxSettings{dir.path() / "outbox", true}, log);
  // A file where the temp directory should be fails even for root (ENOTDIR).
  std::filesystem::remove(dir.path() / "outbox" / ".tmp");
  dir.write("outbox/.tmp", "not a directory");
  RenderedMessage a;
  a.message_id = "aaaa";
  const RenderedMessage* batch[] = {&a};
  DeliveryOutcome outcomes[1];
  outbox.write_batch(batch, outcomes);
  EXPECT_EQ(outcomes[0].status, DeliveryStatus::transient_failure);
  EXPECT_NE(outcomes[0].detail.find("Not a directory"), std::string::npos) << outcomes[0].detail;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "outbox" / "aaaa.eml"));
  std::fclose(devnull);
}

}  // namespace
}  // namespace herald
