#pragma once
// Typed daemon settings, parsed from heraldd.toml by load_settings().
// Defaults live here, in the structs; config/heraldd.toml documents each key.
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/storage/log_io.hpp"
#include "core/util/log.hpp"

namespace herald {

using std::chrono::milliseconds;

// Access scopes (SPEC §6): what a bearer token may do.
enum Scope : uint32_t {
  kScopeEventsWrite = 1,
  kScopeHistoryRead = 2,
  kScopeHistoryWrite = 4,
  kScopeHistoryDelete = 8,
  kScopeAdmin = 16,
  kScopeMetrics = 32,
};

struct AccessToken {
  std::string name;                   // for logs; never the secret
  std::array<unsigned char, 32> sha256{};  // of the secret: compared in constant time
  uint32_t scopes = 0;
  std::string tenant;                 // empty: every tenant
};

struct HttpSettings {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0 = ephemeral (the bound port is logged)
  size_t max_body_bytes = 10 * 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;
  milliseconds header_timeout{10'000};  // slowloris bound
  milliseconds body_timeout{30'000};
  milliseconds idle_timeout{60'000};    // keep-alive
  size_t max_connections = 4096;
  // Event bodies this large are decoded and accepted on every io thread in
  // turn, the delivery thread too (ApiRoutes::spread_bulk_decoding); 0 = on
  // the thread that read them.
  size_t bulk_spread_bytes = 64 * 1024;
  // [[http.tokens]]: none configured leaves /v1/events open (trusted network)
  // and the admin API closed.
  std::vector<AccessToken> tokens;
};

// [storage]: the journal (dir/journal) and the history (dir/history).
struct StorageSettings {
  std::filesystem::path dir;  // journal/, history/, outbox/ (default) live below it
  LogIoMode io = LogIoMode::automatic;
  uint64_t segment_bytes = 64ull << 20;
  size_t group_commit_max_bytes = 4u << 20;
  std::chrono::microseconds group_commit_delay{0};
  // Least time between the starts of two group commits of the journal (and
  // of the history, which waits longer anyway; see
  // SegmentLogOptions::min_commit_interval): fewer fdatasyncs under load.
  // It starts at group_commit_interval and follows the machine's steal
  // time up to group_commit_interval_max (CommitPacer): 1 ms on a VM that
  // shows no steal, ~2 ms on one whose host throttles the guest for its
  // syncs (README, Storage). Equal values: a fixed interval.
  std::chrono::microseconds group_commit_interval{1'000};
  std::chrono::microseconds group_commit_interval_max{4'000};
  std::chrono::seconds idempotency_window{7 * 24 * 3600};
  uint64_t checkpoint_bytes = 256ull << 20;
  // Journal segments a checkpoint removes that are kept for reuse
  // (SegmentLogOptions::spare_segments): a checkpoint removes about
  // checkpoint_bytes / segment_bytes of them.
  size_t spare_segments = 4;
  // Both logs write their next segment file ahead, in the background, at
  // up to prepare_bytes_per_second, whenever they would otherwise fill
  // zeros ahead on the commit path (SegmentLogOptions::prepare_segments).
  bool prepare_segments = true;
  uint64_t prepare_bytes_per_second = 8ull << 20;
  // Finished events held in memory before they move to a run on disk
  // (journal/finished/): bounds the journal's memory however many events
  // the idempotency window holds.
  size_t finished_events_in_memory = 16'384;
};

// [history]: retention of the communication history.
struct HistoryRetention {
  uint64_t segment_bytes = 64ull << 20;
  std::chrono::seconds max_age{0};  // 0 = forever
  uint64_t max_bytes = 0;           // 0 = unbounded
  // Nobody waits for history records (they are written after the 202), so
  // its group commit may wait to gather more: fewer fdatasyncs competing
  // with the journal's. A killed process loses at most this much history.
  std::chrono::microseconds group_commit_delay{5'000};
  // Its group commits are written at once but fdatasynced at most this
  // often (SegmentLogOptions::sync_interval): a power cut loses at most this
  // much history (never a journal record). 0 = sync every group commit.
  std::chrono::milliseconds sync_interval{100};
};

struct OutboxSettings {
  std::filesystem::path dir;
  bool fsync = true;  // fsync file and directory before a message counts as delivered
};

// Timeouts per SMTP phase; defaults from RFC 5321 §4.5.3.2.
struct SmtpTimeouts {
  milliseconds connect{30'000};
  milliseconds greeting{300'000};
  milliseconds ehlo{300'000};
  milliseconds mail{300'000};
  milliseconds rcpt{300'000};
  milliseconds data_init{120'000};
  milliseconds data_block{180'000};
  milliseconds data_term{600'000};
};

// STARTTLS policy, or TLS from the first byte (port 465).
enum class SmtpTlsMode {
  none,           // never STARTTLS, even when offered
  opportunistic,  // STARTTLS when offered (certificate still verified unless tls_verify = false)
  required,       // STARTTLS or no delivery; never falls back to plain text
  implicit,       // TLS handshake before the greeting (SMTPS)
};

struct SmtpSettings {
  std::string host;
  uint16_t port = 25;
  std::string helo_name = "localhost";
  size_t max_connections = 4;  // pooled connections to this relay
  size_t max_messages_per_connection = 1000;
  milliseconds idle_timeout{30'000};  // QUIT an unused connection after this
  bool pipelining = true;             // RFC 2920, when the server offers it
  SmtpTlsMode tls = SmtpTlsMode::opportunistic;
  std::filesystem::path tls_ca_file;  // empty: the system CA store
  std::string tls_server_name;        // name the certificate must carry; empty = host
  bool tls_verify = true;
  std::string username;  // AUTH PLAIN/LOGIN when set
  std::string password;
  bool auth_allow_plaintext = false;  // AUTH only over TLS unless this is set
  SmtpTimeouts timeouts;
};

// [redis]: Redis Streams ingest (a consumer group over `stream`).
struct RedisSettings {
  bool enabled = false;
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string unix_socket;  // used instead of host/port when set
  std::string username;     // ACL user (AUTH username password); empty = default user
  std::string password;
  int db = 0;
  bool tls = false;
  std::filesystem::path tls_ca_file;  // empty: the system CA store
  std::string tls_server_name;        // host name to verify; empty = host
  bool tls_verify = true;
  std::string stream = "herald:events";
  std::string group = "herald";
  std::string group_start_id = "0";  // where a newly created group starts: "0" = whole stream, "$" = new only
  std::string consumer;              // empty: <host name>-<pid>
  std::string dead_stream = "herald:events:dead";
  size_t dead_maxlen = 1'000'000;    // approximate trim of the dead-letter stream
  size_t count = 1000;               // entries per XREADGROUP
  milliseconds block{1'000};         // XREADGROUP BLOCK when idle
  size_t max_in_flight = 4;          // batches being committed while the next is read
  size_t max_entry_bytes = 10 * 1024 * 1024;
  milliseconds claim_interval{30'000};  // XAUTOCLAIM pass period
  milliseconds claim_min_idle{60'000};  // entries idle longer than this are taken over
  milliseconds lag_interval{5'000};     // XINFO GROUPS poll for the lag gauges
  milliseconds connect_timeout{5'000};
  milliseconds io_timeout{10'000};      // per round trip, on top of BLOCK
  milliseconds reconnect_initial{100};
  milliseconds reconnect_max{5'000};
};

enum class TransportKind { outbox, smtp };

// Per-transport protection of the relay (and of us): a token bucket on
// messages/s and a circuit breaker on consecutive relay faults.
struct RelayGuardSettings {
  double max_messages_per_second = 0;  // 0 = unlimited
  int breaker_failures = 5;            // consecutive relay faults that open the breaker
  milliseconds breaker_open{30'000};   // how long it stays open before one probe
};

struct TransportSettings {
  std::string name;
  TransportKind kind = TransportKind::outbox;
  RelayGuardSettings guard;
  OutboxSettings outbox;
  SmtpSettings smtp;
};

struct RetrySettings {
  int max_attempts = 5;
  milliseconds initial{1'000};
  milliseconds max{60'000};
  std::chrono::seconds ttl{2 * 86'400};  // a message older than this expires instead of retrying
};

struct DeliverySettings {
  std::string email_transport = "outbox";  // name of a [transports.*] entry
  std::string sms_transport = "outbox";    // an outbox for now (the SMS gateway transport comes later)
  std::string locale = "en-US";            // messages whose contact and partner name none
  bool sms_transliterate = false;          // spell SMS text in GSM-7 where it can (č → c)
  std::string from_address = "herald@localhost";
  std::string from_name = "herald";
  size_t queue_capacity = 10'000;  // per transport; a full queue slows ingest down
  size_t batch_size = 64;
  RetrySettings retry;
};

struct Settings {
  std::filesystem::path config_file;
  int threads = 2;
  // Added to the nice value of the threads whose work nobody waits on
  // (make_this_thread_background, core/util/threads.hpp), so that merges
  // and file preparation yield busy cores to accepts and deliveries.
  // 0 = one priority for every thread.
  int background_nice = 10;
  LogLevel log_level = LogLevel::info;
  HttpSettings http;
  StorageSettings storage;
  HistoryRetention history;
  std::filesystem::path resources_dir;
  std::filesystem::path resources_api_dir;  // admin API's resource files (default <storage>/resources)
  DeliverySettings delivery;
  RedisSettings redis;
  std::vector<TransportSettings> transports;

  const TransportSettings* transport(const std::string& name) const {
    for (const auto& t : transports)
      if (t.name == name) return &t;
    return nullptr;
  }
};

// Loads and validates the file; relative paths are resolved against the
// directory of the config file. Throws ConfigError with file:line:col.
Settings load_settings(const std::filesystem::path& file);

}  // namespace herald
