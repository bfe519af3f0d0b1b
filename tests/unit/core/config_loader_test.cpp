#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/config/settings.hpp"
#include "core/config/toml_reader.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

Settings load(TempDir& dir, const std::string& text) { return load_settings(dir.write("heraldd.toml", text)); }

std::string error_of(TempDir& dir, const std::string& text) {
  try {
    load(dir, text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigLoaderTest, LoadsAFullConfig) {
  TempDir dir;
  auto s = load(dir, R"(
[daemon]
threads = 4
log_level = "debug"
[http]
listen = "0.0.0.0:9090"
max_body_bytes = 2048
[storage]
dir = "state"
[resources]
dir = "/etc/herald/resources"
[delivery]
email_transport = "relay"
from = "noreply@acme.example"
from_name = "ACME"
max_attempts = 3
[transports.relay]
type = "smtp"
host = "mail.acme.example"
port = 2525
[transports.relay.timeouts]
connect_ms = 1000
)");
  EXPECT_EQ(s.threads, 4);
  EXPECT_EQ(s.log_level, LogLevel::debug);
  EXPECT_EQ(s.http.address, "0.0.0.0");
  EXPECT_EQ(s.http.port, 9090);
  EXPECT_EQ(s.http.max_body_bytes, 2048u);
  EXPECT_EQ(s.storage.dir, dir.path() / "state");
  EXPECT_EQ(s.resources_dir, "/etc/herald/resources");
  EXPECT_EQ(s.delivery.retry.max_attempts, 3);
  const auto* relay = s.transport("relay");
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->kind, TransportKind::smtp);
  EXPECT_EQ(relay->smtp.host, "mail.acme.example");
  EXPECT_EQ(relay->smtp.port, 2525);
  EXPECT_EQ(relay->smtp.timeouts.connect.count(), 1000);
}

TEST(ConfigLoaderTest, EmptyFileGivesWorkingDefaults) {
  TempDir dir;
  auto s = load(dir, "");
  EXPECT_EQ(s.delivery.email_transport, "outbox");
  const auto* outbox = s.transport("outbox");
  ASSERT_NE(outbox, nullptr);
  EXPECT_EQ(outbox->outbox.dir, dir.path() / "var" / "outbox");
}

TEST(ConfigLoaderTest, MissingFileIsAClearError) {
  try {
    load_settings("/nonexistent/heraldd.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no such config file"), std::string::npos);
  }
}

TEST(ConfigLoaderTest, BrokenTomlReportsLineAndColumn) {
  TempDir dir;
  auto err = error_of(dir, "[http]\nlisten = \"127.0.0.1:80\n");
  EXPECT_NE(err.find("heraldd.toml:2:"), std::string::npos) << err;
}

TEST(ConfigLoaderTest, UnknownKeysAreErrors) {
  TempDir dir;
  auto err = error_of(dir, "[http]\nmax_body_byte = 10\n");
  EXPECT_NE(err.find("http.max_body_byte: unknown key"), std::string::npos) << err;
  err = error_of(dir, "[htp]\n");
  EXPECT_NE(err.find("htp: unknown key"), std::string::npos) << err;
}

TEST(ConfigLoaderTest, BadValuesAreNamed) {
  TempDir dir;
  EXPECT_NE(error_of(dir, "[http]\nlisten = \"localhost\"\n").find("http.listen"), std::string::npos);
  EXPECT_NE(error_of(dir, "[http]\nlisten = \"a:99999\"\n").find("http.listen"), std::string::npos);
  EXPECT_NE(error_of(dir, "[daemon]\nthreads = 0\n").find("daemon.threads: must be between"), std::string::npos);
  EXPECT_NE(error_of(dir, "[daemon]\nthreads = \"2\"\n").find("must be an integer"), std::string::npos);
  EXPECT_NE(error_of(dir, "[delivery]\nfrom = \"a@b\\r\\nBcc: x@y\"\n").find("delivery.from"), std::string::npos);
  EXPECT_NE(error_of(dir, "[delivery]\nemail_transport = \"nope\"\n").find("no transport named"), std::string::npos);
  EXPECT_NE(error_of(dir, "[transports.x]\ntype = \"fax\"\n").find("transports.x.type"), std::string::npos);
  EXPECT_NE(error_of(dir, "[transports.x]\ntype = \"smtp\"\n").find("transports.x.host: required"), std::string::npos);
}

}  // namespace
}  // namespace herald
