#pragma once
// StreamConsumer: Redis Streams ingest through a consumer group (SPEC §3).
//
// One loop per daemon, on its own thread, one connection. Each round trip
// pipelines the XACK of batches that became durable, an XAUTOCLAIM step
// when one is due, an XINFO GROUPS poll when due, and the next XREADGROUP.
// The strand only does I/O: each batch of entries is handed, reply and
// all, to a task on the io_context that validates the entries with the same
// EventDecoder as HTTP and passes the valid ones to EventPipeline::accept()
// (matched, rendered, journaled with group commit), while the strand reads
// the next batch, up to `max_in_flight` batches. An entry is
// XACKed only after accept() reported its batch durable; invalid entries are
// copied to the dead-letter stream with the reason and acked, so one bad
// entry never blocks the stream.
//
// At-least-once: after a start, a reconnect or a failed commit the loop
// first re-reads this consumer's pending entries (XREADGROUP ... 0); the
// journal's idempotency index turns any redelivery (lost XACK, Redis AOF
// `everysec` rollback, the same event over HTTP) into a duplicate that is
// acked without sending anything again. Entries of dead consumers are taken
// over by XAUTOCLAIM once idle longer than `claim_min_idle`.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/config/settings.hpp"
#include "core/ingest/event_decoder.hpp"
#include "core/pipeline/event_pipeline.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "transports/redis_ingest/redis_connection.hpp"

namespace herald {

class StreamConsumer final {
 public:
  // Batches are validated and accepted on the `work` executors in turn
  // (heraldd passes every io thread's context), so batches in flight use
  // all cores; the read loop itself runs on the consumer's own I/O thread.
  StreamConsumer(std::vector<boost::asio::any_io_executor> work, RedisSettings settings, EventPipeline& pipeline,
                 MetricsRegistry& metrics, Logger& log);
  ~StreamConsumer();

  void start();
  // Stops reading, waits for batches in flight, XACKs them and leaves.
  boost::asio::awaitable<void> stop();

  const std::string& consumer_name() const { return settings_.consumer; }
  static std::string default_consumer_name();

 private:
  struct DeadEntry {
    std::string id;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  struct BatchOutcome {
    std::vector<std::string> acks;  // journaled, or deleted from the stream
    std::vector<DeadEntry> dead;    // to copy to the dead-letter stream, then ack
    boost::system::error_code error;
  };

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<boost::system::error_code> session();
  boost::asio::awaitable<boost::system::error_code> ensure_group();
  boost::asio::awaitable<boost::system::error_code> round_trip(bool& got_entries);
  void submit(RedisReply reply, const redisReply* entries);
  boost::asio::awaitable<BatchOutcome> process(RedisReply reply, const redisReply* entries, EventDecoder& decoder);
  boost::asio::awaitable<boost::system::error_code> dead_letter();
  boost::asio::awaitable<boost::system::error_code> finish_session();
  boost::asio::awaitable<void> wait_wake(std::chrono::steady_clock::duration max);
  void wake();
  void read_lag(const redisReply* groups);
  void add_xack(CommandBatch& cmds, const std::vector<std::string>& ids) const;

  std::vector<boost::asio::any_io_executor> work_;
  size_t next_work_ = 0;  // the strand's
  // The connection's own thread: with the read loop on the shared pool, each
  // round trip waited behind batches being validated and committed (8 ms per
  // 1000 entries instead of 3) and Redis sat idle.
  boost::asio::io_context io_{1};
  std::thread io_thread_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  RedisSettings settings_;
  EventPipeline& pipeline_;
  Logger& log_;
  RedisConnection conn_;
  std::string redis_name_;  // for logs: host:port, unix:/path or tls://host:port
  std::vector<std::unique_ptr<EventDecoder>> decoders_;  // free ones; one per batch in flight
  boost::asio::steady_timer wake_timer_;
  boost::asio::steady_timer done_timer_;  // cancelled when run() ends
  std::mt19937_64 rng_;

  // Loop state; only touched on strand_.
  bool stopping_ = false;
  bool running_ = false;
  bool finished_ = false;      // finish_session() ran
  bool blocking_ = false;      // an XREADGROUP BLOCK is outstanding
  bool read_pending_ = true;   // re-reading our PEL from `pending_cursor_`
  bool commit_failed_ = false;
  std::string pending_cursor_ = "0";
  std::string claim_cursor_ = "0-0";
  bool claim_running_ = false;
  std::chrono::steady_clock::time_point next_claim_;
  std::chrono::steady_clock::time_point next_lag_;
  size_t in_flight_ = 0;
  std::vector<std::string> acks_;  // durable or dead-lettered, not yet XACKed
  std::vector<DeadEntry> dead_;    // invalid entries waiting for their XADD

  Counter& read_;
  Counter& acked_;
  Counter& dead_lettered_;
  Counter& claimed_;
  Counter& reconnects_;
  Counter& commit_failures_;
  Gauge& lag_;
  Gauge& group_pending_;
  Gauge& connected_;
};

}  // namespace herald
