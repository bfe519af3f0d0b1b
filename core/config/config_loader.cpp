#include "core/config/settings.hpp"
#include "core/config/toml_reader.hpp"
#include "core/ingest/event_decoder.hpp"
#include <openssl/sha.h>

#include "core/util/digest.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;

fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return path.is_absolute() ? path.lexically_normal() : (base / path).lexically_normal();
}

void parse_listen(TomlReader& r, HttpSettings& http) {
  auto listen = r.string("listen");
  if (!listen) return;
  auto colon = listen->rfind(':');
  if (colon == std::string::npos || colon == 0) r.fail("listen", "must be HOST:PORT, e.g. 127.0.0.1:8080");
  std::string host = listen->substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port = listen->substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    r.fail("listen", "port must be 0-65535");
  http.address = host;
  http.port = static_cast<uint16_t>(std::stoi(port));
}

void parse_http(const toml::table& t, const std::string& file, HttpSettings& http) {
  TomlReader r(t, file, "http");
  parse_listen(r, http);
  if (auto v = r.integer("max_body_bytes", 1024, int64_t(1) << 30)) http.max_body_bytes = size_t(*v);
  if (auto v = r.integer("max_header_bytes", 1024, 1 << 20)) http.max_header_bytes = size_t(*v);
  if (auto v = r.millis("header_timeout_ms", 100, 3'600'000)) http.header_timeout = *v;
  if (auto v = r.millis("body_timeout_ms", 100, 3'600'000)) http.body_timeout = *v;
  if (auto v = r.millis("idle_timeout_ms", 100, 3'600'000)) http.idle_timeout = *v;
  if (auto v = r.integer("max_connections", 1, 1'000'000)) http.max_connections = size_t(*v);
  if (auto v = r.integer("bulk_spread_bytes", 0, int64_t(1) << 30)) http.bulk_spread_bytes = size_t(*v);
  if (const toml::array* tokens = r.array("tokens")) {
    size_t i = 0;
    for (const auto& node : *tokens) {
      std::string prefix = r.path("tokens") + "[" + std::to_string(i++) + "]";
      if (!node.is_table()) throw ConfigError(file + ": " + prefix + ": must be a table");
      TomlReader tr(*node.as_table(), file, prefix);
      AccessToken tok;
      tok.name = tr.required_string("name");
      auto secret = tr.string("token");
      auto digest = tr.string("token_sha256");
      if (secret.has_value() == digest.has_value()) tr.fail("token", "give exactly one of token and token_sha256");
      if (secret) {
        if (secret->size() < 16) tr.fail("token", "must be at least 16 characters");
        SHA256(reinterpret_cast<const unsigned char*>(secret->data()), secret->size(), tok.sha256.data());
      } else {
        if (digest->size() != 64 || digest->find_first_not_of("0123456789abcdef") != std::string::npos)
          tr.fail("token_sha256", "must be 64 lowercase hex digits (sha256sum of the token)");
        for (size_t k = 0; k < 32; ++k)
          tok.sha256[k] = static_cast<unsigned char>(std::stoi(digest->substr(2 * k, 2), nullptr, 16));
      }
      const toml::array* scopes = tr.array("scopes");
      if (!scopes || scopes->empty()) tr.fail("scopes", "at least one scope is required");
      for (const auto& sc : *scopes) {
        static constexpr std::pair<std::string_view, uint32_t> names[] = {
            {"events:write", kScopeEventsWrite}, {"history:read", kScopeHistoryRead},
            {"history:write", kScopeHistoryWrite}, {"history:delete", kScopeHistoryDelete},
            {"admin", kScopeAdmin}, {"metrics", kScopeMetrics}};
        uint32_t bit = 0;
        for (const auto& [n, b] : names)
          if (sc.is_string() && sc.as_string()->get() == n) bit = b;
        if (!bit)
          tr.fail("scopes", "unknown scope (events:write, history:read, history:write, history:delete, admin, metrics)");
        tok.scopes |= bit;
      }
      tok.tenant = tr.string_or("tenant", "");
      tr.finish();
      http.tokens.push_back(std::move(tok));
    }
  }
  r.finish();
}

void parse_smtp(TomlReader& r, const fs::path& base, SmtpSettings& s) {
  s.host = r.required_string("host");
  if (auto v = r.integer("port", 1, 65535)) s.port = uint16_t(*v);
  if (auto v = r.string("helo")) {
    if (v->empty() || v->find_first_of(" \r\n\t") != std::string::npos) r.fail("helo", "must be a host name");
    s.helo_name = *v;
  }
  if (auto v = r.integer("max_connections", 1, 1000)) s.max_connections = size_t(*v);
  if (auto v = r.integer("max_messages_per_connection", 1, 1'000'000)) s.max_messages_per_connection = size_t(*v);
  if (auto v = r.millis("idle_timeout_ms", 100, 3'600'000)) s.idle_timeout = *v;
  if (auto v = r.boolean("pipelining")) s.pipelining = *v;
  if (auto v = r.string("tls")) {
    if (*v == "none") s.tls = SmtpTlsMode::none;
    else if (*v == "opportunistic") s.tls = SmtpTlsMode::opportunistic;
    else if (*v == "required") s.tls = SmtpTlsMode::required;
    else if (*v == "implicit") s.tls = SmtpTlsMode::implicit;
    else r.fail("tls", "must be \"none\", \"opportunistic\", \"required\" or \"implicit\"");
  }
  if (auto v = r.string("tls_ca_file")) {
    s.tls_ca_file = resolve(base, *v);
    std::error_code ec;
    if (!fs::is_regular_file(s.tls_ca_file, ec)) r.fail("tls_ca_file", "not a readable file: " + s.tls_ca_file.string());
  }
  if (auto v = r.string("tls_server_name")) s.tls_server_name = *v;
  if (auto v = r.boolean("tls_verify")) s.tls_verify = *v;
  if (auto v = r.string("username")) {
    if (v->empty() || v->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      r.fail("username", "must be a non-empty single line");
    s.username = *v;
  }
  if (auto v = r.string("password")) {
    if (v->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) r.fail("password", "must be a single line");
    s.password = *v;
  }
  if (!s.username.empty() && s.password.empty()) r.fail("password", "required when username is set");
  if (s.username.empty() && !s.password.empty()) r.fail("username", "required when password is set");
  if (auto v = r.boolean("auth_allow_plaintext")) s.auth_allow_plaintext = *v;
  if (const auto* t = r.table("timeouts")) {
    TomlReader tr(*t, r.file(), r.path("timeouts"));
    auto ms = [&](const char* key, milliseconds& out) {
      if (auto v = tr.millis(key, 100, 3'600'000)) out = *v;
    };
    ms("connect_ms", s.timeouts.connect);
    ms("greeting_ms", s.timeouts.greeting);
    ms("ehlo_ms", s.timeouts.ehlo);
    ms("mail_ms", s.timeouts.mail);
    ms("rcpt_ms", s.timeouts.rcpt);
    ms("data_init_ms", s.timeouts.data_init);
    ms("data_block_ms", s.timeouts.data_block);
    ms("data_term_ms", s.timeouts.data_term);
    tr.finish();
  }
}

TransportSettings parse_transport(const std::string& name, const toml::table& t, const std::string& file,
                                  const fs::path& base, const fs::path& storage_dir) {
  TomlReader r(t, file, "transports." + name);
  TransportSettings ts;
  ts.name = name;
  auto type = r.required_string("type");
  if (type == "outbox") {
    ts.kind = TransportKind::outbox;
    auto dir = r.string("dir");
    ts.outbox.dir = dir ? resolve(base, *dir) : storage_dir / "outbox";
    if (auto v = r.boolean("fsync")) ts.outbox.fsync = *v;
  } else if (type == "smtp") {
    ts.kind = TransportKind::smtp;
    parse_smtp(r, base, ts.smtp);
  } else {
    r.fail("type", "must be \"outbox\" or \"smtp\"");
  }
  if (auto v = r.number("max_messages_per_second", 0, 1e9)) ts.guard.max_messages_per_second = *v;
  if (auto v = r.integer("breaker_failures", 1, 1'000'000)) ts.guard.breaker_failures = int(*v);
  if (auto v = r.millis("breaker_open_ms", 10, 86'400'000)) ts.guard.breaker_open = *v;
  r.finish();
  return ts;
}

void parse_delivery(const toml::table& t, const std::string& file, DeliverySettings& d) {
  TomlReader r(t, file, "delivery");
  if (auto v = r.string("email_transport")) d.email_transport = *v;
  if (auto v = r.string("sms_transport")) d.sms_transport = *v;
  if (auto v = r.string("locale")) {
    if (!is_valid_locale(*v)) r.fail("locale", "not a valid locale tag (e.g. sk-SK)");
    d.locale = *v;
  }
  if (auto v = r.boolean("sms_transliterate")) d.sms_transliterate = *v;
  if (auto v = r.string("from")) {
    if (!is_valid_email_address(*v)) r.fail("from", "must be a plain e-mail address (user@domain)");
    d.from_address = *v;
  }
  if (auto v = r.string("from_name")) {
    if (v->find_first_of("\r\n") != std::string::npos) r.fail("from_name", "must be a single line");
    d.from_name = *v;
  }
  if (auto v = r.integer("queue_capacity", 1, 10'000'000)) d.queue_capacity = size_t(*v);
  if (auto v = r.integer("batch_size", 1, 10'000)) d.batch_size = size_t(*v);
  if (auto v = r.integer("max_attempts", 1, 1000)) d.retry.max_attempts = int(*v);
  if (auto v = r.millis("retry_initial_ms", 1, 86'400'000)) d.retry.initial = *v;
  if (auto v = r.millis("retry_max_ms", 1, 86'400'000)) d.retry.max = *v;
  if (d.retry.max < d.retry.initial) r.fail("retry_max_ms", "must be >= retry_initial_ms");
  if (auto v = r.integer("retry_ttl_s", 1, 365 * 86'400)) d.retry.ttl = std::chrono::seconds(*v);
  r.finish();
}

void parse_storage(const toml::table& t, const std::string& file, const fs::path& base, StorageSettings& st) {
  TomlReader r(t, file, "storage");
  if (auto v = r.string("dir")) st.dir = resolve(base, *v);
  if (auto v = r.string("io")) {
    if (*v == "auto") st.io = LogIoMode::automatic;
    else if (*v == "io_uring") st.io = LogIoMode::uring;
    else if (*v == "pwrite") st.io = LogIoMode::pwrite;
    else r.fail("io", "must be \"auto\", \"io_uring\" or \"pwrite\"");
  }
  if (auto v = r.integer("segment_bytes", 64 * 1024, int64_t(1) << 34)) st.segment_bytes = uint64_t(*v);
  if (auto v = r.integer("group_commit_max_bytes", 4096, int64_t(1) << 30)) st.group_commit_max_bytes = size_t(*v);
  if (auto v = r.integer("group_commit_delay_us", 0, 1'000'000)) st.group_commit_delay = std::chrono::microseconds(*v);
  if (auto v = r.integer("group_commit_interval_us", 0, 1'000'000))
    st.group_commit_interval = std::chrono::microseconds(*v);
  if (auto v = r.integer("group_commit_interval_max_us", 0, 1'000'000))
    st.group_commit_interval_max = std::chrono::microseconds(*v);
  else if (st.group_commit_interval > st.group_commit_interval_max)
    st.group_commit_interval_max = st.group_commit_interval;  // a floor set alone above the default ceiling
  if (st.group_commit_interval_max < st.group_commit_interval)
    r.fail("group_commit_interval_max_us", "must be at least group_commit_interval_us");
  if (auto v = r.integer("idempotency_window_hours", 1, 24 * 366))
    st.idempotency_window = std::chrono::seconds(*v * 3600);
  if (auto v = r.integer("checkpoint_bytes", 64 * 1024, int64_t(1) << 40)) st.checkpoint_bytes = uint64_t(*v);
  if (auto v = r.integer("spare_segments", 0, 1024)) st.spare_segments = size_t(*v);
  if (auto v = r.boolean("prepare_segments")) st.prepare_segments = *v;
  if (auto v = r.integer("prepare_bytes_per_second", 1 << 20, int64_t(1) << 40))
    st.prepare_bytes_per_second = uint64_t(*v);
  if (auto v = r.integer("finished_events_in_memory", 1024, int64_t(1) << 26))
    st.finished_events_in_memory = size_t(*v);
  r.finish();
}

void parse_history(const toml::table& t, const std::string& file, HistoryRetention& h) {
  TomlReader r(t, file, "history");
  if (auto v = r.integer("segment_bytes", 64 * 1024, int64_t(1) << 34)) h.segment_bytes = uint64_t(*v);
  if (auto v = r.integer("max_age_days", 0, 36'500)) h.max_age = std::chrono::seconds(*v * 86'400);
  if (auto v = r.integer("max_bytes", 0, int64_t(1) << 50)) h.max_bytes = uint64_t(*v);
  if (auto v = r.integer("group_commit_delay_us", 0, 1'000'000)) h.group_commit_delay = std::chrono::microseconds(*v);
  if (auto v = r.integer("sync_interval_ms", 0, 60'000)) h.sync_interval = std::chrono::milliseconds(*v);
  r.finish();
}

void parse_redis(const toml::table& t, const std::string& file, const fs::path& base, RedisSettings& rs) {
  TomlReader r(t, file, "redis");
  rs.enabled = true;  // the section's presence turns the consumer on
  if (auto v = r.boolean("enabled")) rs.enabled = *v;
  if (auto v = r.string("host")) rs.host = *v;
  if (auto v = r.integer("port", 1, 65535)) rs.port = uint16_t(*v);
  if (auto v = r.string("unix_socket")) rs.unix_socket = resolve(base, *v).string();
  if (auto v = r.string("username")) rs.username = *v;
  if (auto v = r.string("password")) rs.password = *v;
  if (auto v = r.integer("db", 0, 1'000'000)) rs.db = int(*v);
  if (auto v = r.boolean("tls")) rs.tls = *v;
  if (auto v = r.string("tls_ca_file")) rs.tls_ca_file = resolve(base, *v);
  if (auto v = r.string("tls_server_name")) rs.tls_server_name = *v;
  if (auto v = r.boolean("tls_verify")) rs.tls_verify = *v;
  if (rs.tls && !rs.unix_socket.empty()) r.fail("tls", "TLS is for TCP; remove unix_socket or tls");
  auto key = [&](const char* name, std::string& out) {
    if (auto v = r.string(name)) {
      if (v->empty()) r.fail(name, "must not be empty");
      out = *v;
    }
  };
  key("stream", rs.stream);
  key("group", rs.group);
  key("consumer", rs.consumer);
  key("dead_stream", rs.dead_stream);
  if (rs.dead_stream == rs.stream) r.fail("dead_stream", "must differ from stream");
  if (auto v = r.string("group_start_id")) {
    if (*v != "0" && *v != "$") r.fail("group_start_id", "must be \"0\" (whole stream) or \"$\" (new entries)");
    rs.group_start_id = *v;
  }
  if (auto v = r.integer("dead_maxlen", 1, int64_t(1) << 40)) rs.dead_maxlen = size_t(*v);
  if (auto v = r.integer("count", 1, 100'000)) rs.count = size_t(*v);
  if (auto v = r.millis("block_ms", 1, 60'000)) rs.block = *v;
  if (auto v = r.integer("max_in_flight", 1, 1024)) rs.max_in_flight = size_t(*v);
  if (auto v = r.integer("max_entry_bytes", 1024, int64_t(1) << 30)) rs.max_entry_bytes = size_t(*v);
  if (auto v = r.millis("claim_interval_ms", 100, 86'400'000)) rs.claim_interval = *v;
  if (auto v = r.millis("claim_min_idle_ms", 100, 86'400'000)) rs.claim_min_idle = *v;
  if (auto v = r.millis("lag_interval_ms", 100, 86'400'000)) rs.lag_interval = *v;
  if (auto v = r.millis("connect_timeout_ms", 100, 600'000)) rs.connect_timeout = *v;
  if (auto v = r.millis("io_timeout_ms", 100, 600'000)) rs.io_timeout = *v;
  if (auto v = r.millis("reconnect_initial_ms", 1, 600'000)) rs.reconnect_initial = *v;
  if (auto v = r.millis("reconnect_max_ms", 1, 600'000)) rs.reconnect_max = *v;
  if (rs.reconnect_max < rs.reconnect_initial) r.fail("reconnect_max_ms", "must be >= reconnect_initial_ms");
  r.finish();
}

}  // namespace

Settings load_settings(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw ConfigError(file.string() + ": no such config file");
  const std::string fname = file.string();
  toml::table root = parse_toml_file(fname);
  Settings s;
  s.config_file = fs::absolute(file).lexically_normal();
  const fs::path base = s.config_file.parent_path();
  s.storage.dir = base / "var";
  s.resources_dir = base / "resources";

  TomlReader r(root, fname, "");
  if (const auto* t = r.table("daemon")) {
    TomlReader d(*t, fname, "daemon");
    if (auto v = d.integer("threads", 1, 256)) s.threads = int(*v);
    if (auto v = d.integer("background_nice", 0, 19)) s.background_nice = int(*v);
    if (auto v = d.string("log_level"); v && !parse_log_level(*v, s.log_level))
      d.fail("log_level", "must be debug, info, warn or error");
    d.finish();
  }
  if (const auto* t = r.table("http")) parse_http(*t, fname, s.http);
  if (const auto* t = r.table("storage")) parse_storage(*t, fname, base, s.storage);
  if (const auto* t = r.table("history")) parse_history(*t, fname, s.history);
  if (const auto* t = r.table("resources")) {
    TomlReader rs(*t, fname, "resources");
    if (auto v = rs.string("dir")) s.resources_dir = resolve(base, *v);
    if (auto v = rs.string("api_dir")) s.resources_api_dir = resolve(base, *v);
    rs.finish();
  }
  if (const auto* t = r.table("delivery")) parse_delivery(*t, fname, s.delivery);
  if (const auto* t = r.table("redis")) parse_redis(*t, fname, base, s.redis);
  if (const auto* t = r.table("transports")) {
    for (const auto& [name, node] : *t) {
      if (!node.is_table())
        throw ConfigError(fname + ": transports." + std::string(name.str()) + ": must be a table");
      s.transports.push_back(parse_transport(std::string(name.str()), *node.as_table(), fname, base, s.storage.dir));
    }
  }
  r.finish();

  if (s.resources_api_dir.empty()) s.resources_api_dir = s.storage.dir / "resources";
  // The embedded default: with no [transports] section herald still works.
  if (!s.transport("outbox") && (s.delivery.email_transport == "outbox" || s.delivery.sms_transport == "outbox")) {
    TransportSettings outbox;
    outbox.name = "outbox";
    outbox.outbox.dir = s.storage.dir / "outbox";
    s.transports.push_back(outbox);
  }
  if (!s.transport(s.delivery.email_transport))
    throw ConfigError(fname + ": delivery.email_transport: no transport named \"" + s.delivery.email_transport +
                      "\" in [transports]");
  const TransportSettings* sms = s.transport(s.delivery.sms_transport);
  if (!sms)
    throw ConfigError(fname + ": delivery.sms_transport: no transport named \"" + s.delivery.sms_transport +
                      "\" in [transports]");
  if (sms->kind != TransportKind::outbox)
    throw ConfigError(fname + ": delivery.sms_transport: \"" + sms->name +
                      "\" is not an outbox transport (SMS goes to an outbox until the gateway transport exists)");
  return s;
}

}  // namespace herald
