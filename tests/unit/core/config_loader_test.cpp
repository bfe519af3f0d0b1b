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

TEST(ConfigLoaderTest, SmtpPoolTlsAuthAndRelayGuard) {
  TempDir dir;
  dir.write("ca.pem", "not parsed at load time");
  auto s = load(dir, R"(
[delivery]
retry_ttl_s = 3600
[transports.relay]
type = "smtp"
host = "mail.acme.example"
max_connections = 8
pipelining = false
tls = "required"
tls_ca_file = "ca.pem"
tls_server_name = "smtp.acme.example"
username = "herald"
password = "pw"
max_messages_per_second = 12.5
breaker_failures = 3
breaker_open_ms = 500
)");
  const auto& relay = *s.transport("relay");
  EXPECT_EQ(relay.smtp.max_connections, 8u);
  EXPECT_FALSE(relay.smtp.pipelining);
  EXPECT_EQ(relay.smtp.tls, SmtpTlsMode::required);
  EXPECT_EQ(relay.smtp.tls_ca_file, dir.path() / "ca.pem");
  EXPECT_EQ(relay.smtp.tls_server_name, "smtp.acme.example");
  EXPECT_TRUE(relay.smtp.tls_verify);
  EXPECT_EQ(relay.smtp.username, "herald");
  EXPECT_FALSE(relay.smtp.auth_allow_plaintext);
  EXPECT_DOUBLE_EQ(relay.guard.max_messages_per_second, 12.5);
  EXPECT_EQ(relay.guard.breaker_failures, 3);
  EXPECT_EQ(relay.guard.breaker_open.count(), 500);
  EXPECT_EQ(s.delivery.retry.ttl.count(), 3600);
  // Defaults: opportunistic STARTTLS, verified.
  auto d = load(dir, "[transports.relay]\ntype = \"smtp\"\nhost = \"h\"\n");
  EXPECT_EQ(d.transport("relay")->smtp.tls, SmtpTlsMode::opportunistic);
  EXPECT_EQ(d.transport("relay")->smtp.max_connections, 4u);

  const std::string head = "[transports.relay]\ntype = \"smtp\"\nhost = \"h\"\n";
  EXPECT_NE(error_of(dir, head + "tls = \"starttls\"\n").find("transports.relay.tls: must be"), std::string::npos);
  EXPECT_NE(error_of(dir, head + "tls_ca_file = \"missing.pem\"\n").find("not a readable file"), std::string::npos);
  EXPECT_NE(error_of(dir, head + "username = \"u\"\n").find("password: required"), std::string::npos);
  EXPECT_NE(error_of(dir, head + "password = \"a\\r\\nRSET\"\nusername = \"u\"\n").find("single line"),
            std::string::npos);
  EXPECT_NE(error_of(dir, head + "max_messages_per_second = -1\n").find("must be between"), std::string::npos);
  EXPECT_NE(error_of(dir, head + "max_messages_per_second = \"fast\"\n").find("must be a number"), std::string::npos);
  EXPECT_NE(error_of(dir, head + "max_connections = 0\n").find("max_connections"), std::string::npos);
}

TEST(ConfigLoaderTest, EmptyFileGivesWorkingDefaults) {
  TempDir dir;
  auto s = load(dir, "");
  EXPECT_EQ(s.delivery.email_transport, "outbox");
  const auto* outbox = s.transport("outbox");
  ASSERT_NE(outbox, nullptr);
  EXPECT_EQ(outbox->outbox.dir, dir.path() / "var" / "outbox");
}

TEST(ConfigLoaderTest, HistoryGroupCommitDelay) {
  TempDir dir;
  EXPECT_EQ(load(dir, "").history.group_commit_delay, std::chrono::microseconds(5000));
  auto s = load(dir, "[history]\ngroup_commit_delay_us = 0\nmax_age_days = 30\n");
  EXPECT_EQ(s.history.group_commit_delay, std::chrono::microseconds(0));
  EXPECT_EQ(s.history.max_age, std::chrono::seconds(30 * 86'400));
  EXPECT_NE(error_of(dir, "[history]\ngroup_commit_delay_us = -1\n").find("history.group_commit_delay_us"),
            std::string::npos);
}

TEST(ConfigLoaderTest, HistorySyncInterval) {
  TempDir dir;
  EXPECT_EQ(load(dir, "").history.sync_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(load(dir, "[history]\nsync_interval_ms = 0\n").history.sync_interval, std::chrono::milliseconds(0));
  EXPECT_NE(error_of(dir, "[history]\nsync_interval_ms = 60001\n").find("history.sync_interval_ms"),
            std::string::npos);
}

TEST(ConfigLoaderTest, GroupCommitInterval) {
  TempDir dir;
  using us = std::chrono::microseconds;
  auto storage = [&](const std::string& toml) { return load(dir, "[storage]\n" + toml).storage; };
  EXPECT_EQ(load(dir, "").storage.group_commit_interval, us(1000));
  EXPECT_EQ(load(dir, "").storage.group_commit_interval_max, us(4000));
  EXPECT_EQ(storage("group_commit_interval_us = 0\n").group_commit_interval, us(0));
  EXPECT_EQ(storage("group_commit_interval_us = 2500\n").group_commit_interval, us(2500));
  EXPECT_EQ(storage("group_commit_interval_us = 2500\n").group_commit_interval_max, us(4000));
  // A floor above the default ceiling, set alone: a fixed interval.
  EXPECT_EQ(storage("group_commit_interval_us = 6000\n").group_commit_interval_max, us(6000));
  // Equal: fixed.
  auto fixed = storage("group_commit_interval_us = 2000\ngroup_commit_interval_max_us = 2000\n");
  EXPECT_EQ(fixed.group_commit_interval, us(2000));
  EXPECT_EQ(fixed.group_commit_interval_max, us(2000));
  EXPECT_NE(error_of(dir, "[storage]\ngroup_commit_interval_us = 2000000\n").find("storage.group_commit_interval_us"),
            std::string::npos);
  EXPECT_NE(error_of(dir, "[storage]\ngroup_commit_interval_us = 3000\ngroup_commit_interval_max_us = 2000\n")
                .find("storage.group_commit_interval_max_us"),
            std::string::npos);
}

TEST(ConfigLoaderTest, FinishedEventsInMemory) {
  TempDir dir;
  EXPECT_EQ(load(dir, "").storage.finished_events_in_memory, 16'384u);
  EXPECT_EQ(load(dir, "[storage]\nfinished_events_in_memory = 4096\n").storage.finished_events_in_memory, 4096u);
  EXPECT_NE(error_of(dir, "[storage]\nfinished_events_in_memory = 10\n").find("storage.finished_events_in_memory"),
            std::string::npos);
}

TEST(ConfigLoaderTest, SpareSegments) {
  TempDir dir;
  EXPECT_EQ(load(dir, "").storage.spare_segments, 4u);
  EXPECT_EQ(load(dir, "[storage]\nspare_segments = 0\n").storage.spare_segments, 0u);
  EXPECT_NE(error_of(dir, "[storage]\nspare_segments = -1\n").find("storage.spare_segments"), std::string::npos);
  EXPECT_NE(error_of(dir, "[storage]\nspare_segments = \"4\"\n").find("storage.spare_segments"), std::string::npos);
}

TEST(ConfigLoaderTest, PrepareSegments) {
  TempDir dir;
  EXPECT_TRUE(load(dir, "").storage.prepare_segments);
  EXPECT_EQ(load(dir, "").storage.prepare_bytes_per_second, 8u << 20);
  EXPECT_FALSE(load(dir, "[storage]\nprepare_segments = false\n").storage.prepare_segments);
  EXPECT_EQ(load(dir, "[storage]\nprepare_bytes_per_second = 67108864\n").storage.prepare_bytes_per_second,
            64u << 20);
  EXPECT_NE(error_of(dir, "[storage]\nprepare_segments = 1\n").find("storage.prepare_segments"), std::string::npos);
  EXPECT_NE(error_of(dir, "[storage]\nprepare_bytes_per_second = 1000\n").find("storage.prepare_bytes_per_second"),
            std::string::npos);
}

TEST(ConfigLoaderTest, BulkSpreadBytes) {
  TempDir dir;
  EXPECT_EQ(load(dir, "").http.bulk_spread_bytes, 65'536u);
  EXPECT_EQ(load(dir, "[http]\nbulk_spread_bytes = 0\n").http.bulk_spread_bytes, 0u);
  EXPECT_EQ(load(dir, "[http]\nbulk_spread_bytes = 1048576\n").http.bulk_spread_bytes, 1u << 20);
  EXPECT_NE(error_of(dir, "[http]\nbulk_spread_bytes = -1\n").find("http.bulk_spread_bytes"), std::string::npos);
  EXPECT_NE(error_of(dir, "[http]\nbulk_spread_bytes = \"64k\"\n").find("http.bulk_spread_bytes"),
            std::string::npos);
}

TEST(ConfigLoaderTest, BackgroundNice) {
  TempDir dir;
  EXPECT_EQ(load(dir, "").background_nice, 10);
  EXPECT_EQ(load(dir, "[daemon]\nbackground_nice = 0\n").background_nice, 0);
  EXPECT_EQ(load(dir, "[daemon]\nbackground_nice = 19\n").background_nice, 19);
  EXPECT_NE(error_of(dir, "[daemon]\nbackground_nice = 20\n").find("daemon.background_nice"), std::string::npos);
  EXPECT_NE(error_of(dir, "[daemon]\nbackground_nice = -1\n").find("daemon.background_nice"), std::string::npos);
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

TEST(ConfigLoaderTest, RedisSectionTurnsTheConsumerOn) {
  TempDir dir;
  EXPECT_FALSE(load(dir, "").redis.enabled);
  auto s = load(dir, R"(
[redis]
host = "redis.internal"
port = 6380
username = "herald"
password = "secret"
tls = true
tls_ca_file = "ca.pem"
stream = "erp:events"
group = "notify"
consumer = "node-a"
group_start_id = "$"
count = 500
block_ms = 2000
claim_min_idle_ms = 30000
)");
  const RedisSettings& r = s.redis;
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.host, "redis.internal");
  EXPECT_EQ(r.port, 6380);
  EXPECT_EQ(r.username, "herald");
  EXPECT_TRUE(r.tls);
  EXPECT_EQ(r.tls_ca_file, dir.path() / "ca.pem");
  EXPECT_EQ(r.stream, "erp:events");
  EXPECT_EQ(r.group, "notify");
  EXPECT_EQ(r.consumer, "node-a");
  EXPECT_EQ(r.group_start_id, "$");
  EXPECT_EQ(r.dead_stream, "herald:events:dead");
  EXPECT_EQ(r.count, 500u);
  EXPECT_EQ(r.block, std::chrono::milliseconds(2000));
  EXPECT_EQ(r.claim_min_idle, std::chrono::milliseconds(30000));
  EXPECT_FALSE(load(dir, "[redis]\nenabled = false\n").redis.enabled);
}

TEST(ConfigLoaderTest, BadRedisValuesAreNamed) {
  TempDir dir;
  EXPECT_NE(error_of(dir, "[redis]\nstream = \"\"\n").find("redis.stream: must not be empty"), std::string::npos);
  EXPECT_NE(error_of(dir, "[redis]\ndead_stream = \"herald:events\"\n").find("redis.dead_stream"),
            std::string::npos);
  EXPECT_NE(error_of(dir, "[redis]\ngroup_start_id = \"1-0\"\n").find("redis.group_start_id"), std::string::npos);
  EXPECT_NE(error_of(dir, "[redis]\ntls = true\nunix_socket = \"/run/redis.sock\"\n").find("redis.tls"),
            std::string::npos);
  EXPECT_NE(error_of(dir, "[redis]\ncount = 0\n").find("redis.count: must be between"), std::string::npos);
  EXPECT_NE(error_of(dir, "[redis]\nreconnect_initial_ms = 900\nreconnect_max_ms = 100\n").find("reconnect_max_ms"),
            std::string::npos);
  EXPECT_NE(error_of(dir, "[redis]\nstreams = \"x\"\n").find("redis.streams: unknown key"), std::string::npos);
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(ConfigLoaderTest, AccessTokensDeliveryLocaleAndResourceDirs) {
  TempDir dir;
  auto s = load(dir, R"(
[storage]
dir = "var"
[http]
  [[http.tokens]]
  name = "erp"
  token = "0123456789abcdef-secret"
  scopes = ["events:write", "history:read"]
  tenant = "acme"
  [[http.tokens]]
  name = "ops"
  # sha256sum of "password-password"
  token_sha256 = "69ed2bfe8ac7d1f2a0d99e5a72ddd2fb29a4219b23b4a8f7d96f1f8dd0d5d1c4"
  scopes = ["admin"]
[delivery]
locale = "cs-CZ"
sms_transliterate = true
)");
  ASSERT_EQ(s.http.tokens.size(), 2u);
  EXPECT_EQ(s.http.tokens[0].scopes, uint32_t(kScopeEventsWrite | kScopeHistoryRead));
  EXPECT_EQ(s.http.tokens[0].tenant, "acme");
  EXPECT_EQ(s.http.tokens[1].sha256[0], 0x69);
  EXPECT_EQ(s.http.tokens[1].sha256[31], 0xc4);
  EXPECT_EQ(s.delivery.locale, "cs-CZ");
  EXPECT_TRUE(s.delivery.sms_transliterate);
  EXPECT_EQ(s.delivery.sms_transport, "outbox");
  EXPECT_EQ(s.resources_api_dir, dir.path() / "var" / "resources");

  auto token = [](const std::string& body) { return "[http]\n[[http.tokens]]\nname = \"t\"\n" + body; };
  EXPECT_NE(error_of(dir, token("token = \"short\"\nscopes = [\"admin\"]\n")).find("at least 16"), std::string::npos);
  EXPECT_NE(error_of(dir, token("scopes = [\"admin\"]\n")).find("exactly one of token and token_sha256"),
            std::string::npos);
  EXPECT_NE(error_of(dir, token("token = \"0123456789abcdef\"\nscopes = [\"root\"]\n")).find("unknown scope"),
            std::string::npos);
  EXPECT_NE(error_of(dir, token("token_sha256 = \"abc\"\nscopes = [\"admin\"]\n")).find("64 lowercase hex"),
            std::string::npos);
  EXPECT_NE(error_of(dir, "[delivery]\nlocale = \"not a locale\"\n").find("delivery.locale"), std::string::npos);
  EXPECT_NE(error_of(dir, "[delivery]\nsms_transport = \"nope\"\n").find("delivery.sms_transport"), std::string::npos);
  EXPECT_NE(error_of(dir, "[delivery]\nsms_transport = \"relay\"\n[transports.relay]\ntype = \"smtp\"\nhost = \"h\"\n")
                .find("not an outbox transport"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
