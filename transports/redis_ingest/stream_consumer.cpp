#include "transports/redis_ingest/stream_consumer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "core/util/threads.hpp"

namespace herald {

namespace net = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using errc = boost::system::errc::errc_t;

namespace {

RedisEndpoint endpoint_of(const RedisSettings& s) {
  RedisEndpoint e;
  e.host = s.host;
  e.port = s.port;
  e.unix_socket = s.unix_socket;
  e.username = s.username;
  e.password = s.password;
  e.db = s.db;
  e.tls = s.tls;
  e.tls_ca_file = s.tls_ca_file;
  e.tls_server_name = s.tls_server_name;
  e.tls_verify = s.tls_verify;
  e.connect_timeout = s.connect_timeout;
  return e;
}

bool is_array(const redisReply* r) { return r && r->type == REDIS_REPLY_ARRAY; }

std::string describe_errors(const DecodeResult& d) {
  if (d.malformed) return d.malformed_reason;
  std::string out = "invalid event:";
  for (const auto& e : d.errors) {
    out += ' ';
    out += e.field.empty() ? "(event)" : e.field;
    out += ": ";
    out += e.reason;
    out += ';';
  }
  if (!out.empty() && out.back() == ';') out.pop_back();
  return out;
}

}  // namespace

std::string StreamConsumer::default_consumer_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "herald");
  return std::string(host) + "-" + std::to_string(::getpid());
}

StreamConsumer::StreamConsumer(std::vector<net::any_io_executor> work, RedisSettings settings, EventPipeline& pipeline,
                               MetricsRegistry& metrics, Logger& log)
    : work_(work.empty() ? throw std::invalid_argument("StreamConsumer needs a work executor") : std::move(work)),
      strand_(net::make_strand(io_.get_executor())),
      settings_(std::move(settings)),
      pipeline_(pipeline),
      log_(log),
      conn_(strand_, endpoint_of(settings_)),
      redis_name_(endpoint_of(settings_).describe()),
      wake_timer_(strand_),
      done_timer_(strand_),
      rng_(std::random_device{}()),
      read_(metrics.counter("herald_redis_entries_read_total", "Stream entries read (new, pending and claimed)")),
      acked_(metrics.counter("herald_redis_entries_acked_total", "Stream entries acknowledged (XACK)")),
      dead_lettered_(metrics.counter("herald_redis_entries_dead_lettered_total",
                                     "Invalid stream entries copied to the dead-letter stream")),
      claimed_(metrics.counter("herald_redis_entries_claimed_total",
                               "Entries taken over from idle consumers (XAUTOCLAIM)")),
      reconnects_(metrics.counter("herald_redis_reconnects_total", "Redis connections re-established")),
      commit_failures_(metrics.counter("herald_redis_commit_failures_total",
                                       "Batches left unacknowledged because the journal refused them")),
      lag_(metrics.gauge("herald_redis_group_lag", "Entries in the stream not yet delivered to the group")),
      group_pending_(metrics.gauge("herald_redis_group_pending", "Entries delivered to the group but not acked")),
      connected_(metrics.gauge("herald_redis_connected", "1 while the stream consumer is connected")) {
  if (settings_.consumer.empty()) settings_.consumer = default_consumer_name();
}

StreamConsumer::~StreamConsumer() {
  if (io_thread_.joinable()) {
    io_.stop();  // normally already out of work: stop() ended run()
    io_thread_.join();
  }
}

void StreamConsumer::start() {
  running_ = true;
  net::co_spawn(strand_, run(), [this](std::exception_ptr ep) {
    if (!ep) return;
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      log_.error("redis consumer stopped by an unexpected error", {{"error", e.what()}});
    }
    running_ = false;
  });
  io_thread_ = std::thread([this] {
    name_this_thread("redis-io");
    io_.run();
  });
}

net::awaitable<void> StreamConsumer::stop() {
  co_await net::co_spawn(
      strand_,
      [this]() -> net::awaitable<void> {
        stopping_ = true;
        // A BLOCKed read only happens with nothing in flight and nothing to
        // ack, so cutting it short loses nothing.
        if (blocking_) conn_.close();
        wake();
        while (running_) {
          done_timer_.expires_after(std::chrono::milliseconds(100));
          co_await done_timer_.async_wait(net::as_tuple(net::use_awaitable));
        }
      },
      net::use_awaitable);
}

void StreamConsumer::wake() { wake_timer_.cancel(); }

net::awaitable<void> StreamConsumer::wait_wake(Clock::duration max) {
  wake_timer_.expires_after(max);
  co_await wake_timer_.async_wait(net::as_tuple(net::use_awaitable));
}

net::awaitable<void> StreamConsumer::run() {
  auto backoff = settings_.reconnect_initial;
  bool ever_connected = false;
  log_.info("redis consumer starting", {{"redis", redis_name_},
                                        {"stream", settings_.stream},
                                        {"group", settings_.group},
                                        {"consumer", settings_.consumer}});
  while (!stopping_) {
    // Batches of a previous session finish first, so re-reading the
    // pending entries does not race with their commits.
    while (in_flight_ > 0) co_await wait_wake(std::chrono::seconds(1));
    std::string detail;
    error_code ec = co_await conn_.connect(detail);
    if (!ec) ec = co_await ensure_group();
    if (!ec) {
      if (ever_connected) reconnects_.inc();
      ever_connected = true;
      connected_.set(1);
      log_.info("redis connected", {{"redis", redis_name_}, {"consumer", settings_.consumer}});
      backoff = settings_.reconnect_initial;
      ec = co_await session();
      connected_.set(0);
      detail.clear();
    }
    if (stopping_) break;
    conn_.close();
    // Jitter spreads the reconnects of many daemons after a Redis restart.
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    auto wait = std::chrono::milliseconds(static_cast<int64_t>(backoff.count() * jitter(rng_)));
    log_.warn("redis unavailable; retrying", {{"error", ec.message()},
                                              {"detail", detail},
                                              {"retry_in_ms", static_cast<long long>(wait.count())}});
    co_await wait_wake(wait);
    backoff = std::min(backoff * 2, settings_.reconnect_max);
  }
  // Stopping cut a BLOCKed read by closing the connection: reconnect once
  // for the last XACKs and to remove this consumer from the group.
  if (ever_connected && !finished_) {
    std::string detail;
    if (!co_await conn_.connect(detail)) co_await finish_session();
  }
  conn_.close();
  connected_.set(0);
  running_ = false;
  done_timer_.cancel();
  log_.info("redis consumer stopped", {{"consumer", settings_.consumer}});
}

net::awaitable<error_code> StreamConsumer::ensure_group() {
  CommandBatch cmd;
  cmd.add({"XGROUP", "CREATE", settings_.stream, settings_.group, settings_.group_start_id, "MKSTREAM"});
  std::vector<RedisReply> replies;
  if (auto ec = co_await conn_.exec(cmd, replies, settings_.io_timeout)) co_return ec;
  const redisReply* r = replies[0].get();
  if (reply_is_error(r)) {
    if (reply_text(r).starts_with("BUSYGROUP")) co_return error_code{};
    log_.error("redis: cannot create the consumer group", {{"stream", settings_.stream},
                                                            {"group", settings_.group},
                                                            {"reply", std::string(reply_text(r))}});
    co_return make_error_code(errc::invalid_argument);
  }
  log_.info("redis consumer group created",
            {{"stream", settings_.stream}, {"group", settings_.group}, {"start", settings_.group_start_id}});
  co_return error_code{};
}

net::awaitable<error_code> StreamConsumer::session() {
  read_pending_ = true;
  pending_cursor_ = "0";
  claim_cursor_ = "0-0";
  next_claim_ = Clock::now();  // take over dead consumers' entries right away
  next_lag_ = Clock::now();
  for (;;) {
    if (stopping_) co_return co_await finish_session();
    if (commit_failed_) {
      // The journal refused a batch: its entries stay pending. Let the other
      // batches settle, back off, then re-read everything pending.
      while (in_flight_ > 0) co_await wait_wake(std::chrono::seconds(1));
      commit_failed_ = false;
      co_await wait_wake(std::chrono::seconds(1));
      read_pending_ = true;
      pending_cursor_ = "0";
      continue;
    }
    if (in_flight_ >= settings_.max_in_flight) {
      co_await wait_wake(std::chrono::seconds(1));
      continue;
    }
    bool got = false;
    if (auto ec = co_await round_trip(got)) co_return ec;
    // Nothing new but batches in flight: wait for one so its XACK goes out
    // with the next read instead of spinning on empty reads.
    if (!got && in_flight_ > 0 && !stopping_) co_await wait_wake(std::chrono::seconds(1));
  }
}

void StreamConsumer::add_xack(CommandBatch& cmds, const std::vector<std::string>& ids) const {
  std::vector<std::string_view> args{"XACK", settings_.stream, settings_.group};
  args.reserve(3 + ids.size());
  for (const auto& id : ids) args.push_back(id);
  cmds.add(args);
}

net::awaitable<error_code> StreamConsumer::round_trip(bool& got) {
  if (!dead_.empty()) {
    if (auto ec = co_await dead_letter()) co_return ec;
  }
  CommandBatch cmds;
  std::vector<std::string> acks = std::move(acks_);
  acks_.clear();
  const auto now = Clock::now();

  if (!acks.empty()) add_xack(cmds, acks);
  const bool claim = !read_pending_ && now >= next_claim_;
  const std::string count = std::to_string(settings_.count);
  const std::string min_idle = std::to_string(settings_.claim_min_idle.count());
  if (claim) {
    cmds.add({"XAUTOCLAIM", settings_.stream, settings_.group, settings_.consumer, min_idle, claim_cursor_, "COUNT",
              count});
  }
  const bool lag = now >= next_lag_;
  if (lag) {
    cmds.add({"XINFO", "GROUPS", settings_.stream});
    next_lag_ = now + settings_.lag_interval;
  }
  // Block only when idle: nothing in flight, nothing acked or claimed in this
  // round trip (those would otherwise wait for the BLOCK to end).
  const bool block = in_flight_ == 0 && acks.empty() && !claim && !read_pending_;
  const std::string block_ms = std::to_string(settings_.block.count());
  const std::string_view from = read_pending_ ? std::string_view(pending_cursor_) : std::string_view(">");
  if (block) {
    cmds.add({"XREADGROUP", "GROUP", settings_.group, settings_.consumer, "COUNT", count, "BLOCK", block_ms,
              "STREAMS", settings_.stream, from});
  } else {
    cmds.add({"XREADGROUP", "GROUP", settings_.group, settings_.consumer, "COUNT", count, "STREAMS",
              settings_.stream, from});
  }

  std::vector<RedisReply> replies;
  blocking_ = block;
  auto ec = co_await conn_.exec(cmds, replies, settings_.io_timeout + (block ? settings_.block : milliseconds(0)));
  blocking_ = false;
  if (ec) {
    // Unknown whether the XACK landed: send it again on the next connection
    // (XACK is idempotent).
    acks_.insert(acks_.begin(), std::make_move_iterator(acks.begin()), std::make_move_iterator(acks.end()));
    co_return ec;
  }

  size_t i = 0;
  if (!acks.empty()) {
    const redisReply* r = replies[i++].get();
    if (r->type == REDIS_REPLY_INTEGER) acked_.inc(static_cast<uint64_t>(r->integer));
    else log_.warn("redis XACK failed", {{"reply", std::string(reply_text(r))}});
  }
  if (claim) {
    const redisReply* r = replies[i++].get();
    if (is_array(r) && r->elements >= 2 && is_array(r->element[1])) {
      claim_cursor_ = std::string(reply_text(r->element[0]));
      if (claim_cursor_ == "0-0") next_claim_ = now + settings_.claim_interval;
      if (r->element[1]->elements > 0) {
        claimed_.inc(r->element[1]->elements);
        log_.info("redis entries claimed from idle consumers",
                  {{"entries", static_cast<unsigned long>(r->element[1]->elements)}});
        const redisReply* entries = r->element[1];
        submit(std::move(replies[i - 1]), entries);
        got = true;
      }
    } else {
      log_.warn("redis XAUTOCLAIM failed; claiming disabled for one interval", {{"reply", std::string(reply_text(r))}});
      claim_cursor_ = "0-0";
      next_claim_ = now + settings_.claim_interval;
    }
  }
  if (lag) read_lag(replies[i++].get());

  const redisReply* r = replies[i].get();
  if (reply_is_error(r)) {
    // NOGROUP: the stream or group vanished (deleted, or Redis restarted
    // without persistence). Reconnecting re-creates it.
    log_.warn("redis XREADGROUP failed", {{"reply", std::string(reply_text(r))}});
    co_return make_error_code(errc::invalid_argument);
  }
  if (is_array(r) && r->elements > 0 && is_array(r->element[0]) && r->element[0]->elements >= 2 &&
      is_array(r->element[0]->element[1])) {
    const redisReply* entries = r->element[0]->element[1];
    if (read_pending_) {
      if (entries->elements == 0) {
        read_pending_ = false;
      } else {
        pending_cursor_ = std::string(reply_text(entries->element[entries->elements - 1]->element[0]));
      }
    }
    if (entries->elements > 0) {
      submit(std::move(replies[i]), entries);
      got = true;
    }
  } else if (read_pending_) {
    read_pending_ = false;
  }
  co_return error_code{};
}

void StreamConsumer::submit(RedisReply reply, const redisReply* entries) {
  ++in_flight_;
  read_.inc(entries->elements);
  std::unique_ptr<EventDecoder> decoder;
  if (decoders_.empty()) {
    decoder = std::make_unique<EventDecoder>();
  } else {
    decoder = std::move(decoders_.back());
    decoders_.pop_back();
  }
  EventDecoder& d = *decoder;
  // Validation and accept() run on the work executors in turn; the outcome
  // comes back to the strand, which owns the acks and the connection.
  net::co_spawn(work_[next_work_++ % work_.size()], process(std::move(reply), entries, d),
                net::bind_executor(strand_, [this, decoder = std::move(decoder)](std::exception_ptr ep,
                                                                                 BatchOutcome out) mutable {
                  --in_flight_;
                  decoders_.push_back(std::move(decoder));
                  if (ep && !out.error) out.error = make_error_code(errc::io_error);
                  if (out.error) {
                    commit_failed_ = true;
                    commit_failures_.inc();
                    log_.warn("redis batch not journaled; its entries stay pending", {{"error", out.error.message()}});
                  }
                  acks_.insert(acks_.end(), std::make_move_iterator(out.acks.begin()),
                               std::make_move_iterator(out.acks.end()));
                  dead_.insert(dead_.end(), std::make_move_iterator(out.dead.begin()),
                               std::make_move_iterator(out.dead.end()));
                  wake();
                }));
}

net::awaitable<StreamConsumer::BatchOutcome> StreamConsumer::process(RedisReply reply, const redisReply* entries,
                                                                     EventDecoder& decoder) {
  BatchOutcome out;
  DecodeResult decoded;  // every valid entry's event, decoded in place
  std::vector<std::string> ids;
  decoded.events.reserve(entries->elements);
  ids.reserve(entries->elements);
  for (size_t k = 0; k < entries->elements; ++k) {
    const redisReply* entry = entries->element[k];
    if (!is_array(entry) || entry->elements < 2 || entry->element[0]->type != REDIS_REPLY_STRING) {
      log_.error("redis: unexpected stream entry shape; left pending");
      continue;
    }
    std::string id(reply_text(entry->element[0]));
    const redisReply* fields = entry->element[1];
    if (!is_array(fields)) {
      // A pending entry deleted from the stream (XDEL/MAXLEN): nothing to
      // process; ack it so it leaves the pending list.
      log_.warn("redis pending entry no longer in the stream; acking it", {{"entry", id}});
      out.acks.push_back(std::move(id));
      continue;
    }
    std::string_view event;
    bool has_event = false;
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
      if (reply_text(fields->element[f]) == "event") {
        event = reply_text(fields->element[f + 1]);
        has_event = true;
        break;
      }
    }
    std::string reason;
    if (!has_event) {
      reason = "entry has no \"event\" field";
    } else if (event.size() > settings_.max_entry_bytes) {
      reason = "event is " + std::to_string(event.size()) + " bytes, over max_entry_bytes " +
               std::to_string(settings_.max_entry_bytes);
    } else {
      if (!decoder.decode_append(event, BodyFormat::json, decoded)) {
        reason = describe_errors(decoded);
      } else {
        ids.push_back(std::move(id));
        continue;
      }
    }
    DeadEntry d{std::move(id), std::move(reason), {}};
    for (size_t f = 0; f + 1 < fields->elements; f += 2)
      d.fields.emplace_back(reply_text(fields->element[f]), reply_text(fields->element[f + 1]));
    out.dead.push_back(std::move(d));
  }
  reply.reset();  // the entries are copied out; free the reply before the commit wait
  if (!decoded.events.empty()) {
    AcceptResult r = co_await pipeline_.accept(std::move(decoded.events), "redis");
    if (r.error) {
      out.error = r.error;
      co_return out;
    }
  }
  out.acks.insert(out.acks.end(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
  co_return out;
}

net::awaitable<error_code> StreamConsumer::dead_letter() {
  // Take the batch: batches finishing during the exec below append to dead_
  // on the strand, and those belong to the next call.
  std::vector<DeadEntry> batch = std::move(dead_);
  dead_.clear();
  CommandBatch cmds;
  std::vector<std::string_view> args;
  const std::string maxlen = std::to_string(settings_.dead_maxlen);
  for (const auto& d : batch) {
    args = {"XADD",          settings_.dead_stream, "MAXLEN",      "~",       maxlen,
            "*",             "herald.reason",       d.reason,      "herald.stream", settings_.stream,
            "herald.entry",  d.id,                  "herald.consumer", settings_.consumer};
    for (const auto& [k, v] : d.fields) {
      args.push_back(k);
      args.push_back(v);
    }
    cmds.add(args);
  }
  std::vector<RedisReply> replies;
  // On error the entries are still pending in Redis: re-read after the reconnect.
  if (auto ec = co_await conn_.exec(cmds, replies, settings_.io_timeout)) co_return ec;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& d = batch[i];
    if (reply_is_error(replies[i].get())) {
      // Left pending; XAUTOCLAIM hands it back once idle.
      log_.error("redis dead-letter XADD failed; entry left pending",
                 {{"entry", d.id}, {"reply", std::string(reply_text(replies[i].get()))}});
      continue;
    }
    dead_lettered_.inc();
    log_.warn("redis entry dead-lettered", {{"entry", d.id}, {"reason", d.reason}});
    acks_.push_back(std::move(d.id));
  }
  co_return error_code{};
}

net::awaitable<error_code> StreamConsumer::finish_session() {
  while (in_flight_ > 0) co_await wait_wake(std::chrono::seconds(1));
  if (!dead_.empty()) {
    if (auto ec = co_await dead_letter()) co_return ec;
  }
  CommandBatch cmds;
  if (!acks_.empty()) add_xack(cmds, acks_);
  cmds.add({"XPENDING", settings_.stream, settings_.group, "-", "+", "1", settings_.consumer});
  std::vector<RedisReply> replies;
  if (auto ec = co_await conn_.exec(cmds, replies, settings_.io_timeout)) co_return ec;
  if (!acks_.empty() && replies[0]->type == REDIS_REPLY_INTEGER) acked_.inc(static_cast<uint64_t>(replies[0]->integer));
  acks_.clear();
  // The default consumer name is new on every start; remove ours when it
  // owns nothing so XINFO CONSUMERS does not fill with dead names.
  const redisReply* pending = replies.back().get();
  if (is_array(pending) && pending->elements == 0) {
    CommandBatch del;
    del.add({"XGROUP", "DELCONSUMER", settings_.stream, settings_.group, settings_.consumer});
    co_await conn_.exec(del, replies, settings_.io_timeout);
  }
  finished_ = true;
  conn_.close();
  co_return error_code{};
}

void StreamConsumer::read_lag(const redisReply* groups) {
  if (!is_array(groups)) return;
  for (size_t g = 0; g < groups->elements; ++g) {
    const redisReply* info = groups->element[g];
    if (!is_array(info)) continue;
    bool ours = false;
    const redisReply* lag = nullptr;
    const redisReply* pending = nullptr;
    for (size_t f = 0; f + 1 < info->elements; f += 2) {
      auto key = reply_text(info->element[f]);
      const redisReply* v = info->element[f + 1];
      if (key == "name") ours = reply_text(v) == settings_.group;
      else if (key == "lag") lag = v;
      else if (key == "pending") pending = v;
    }
    if (!ours) continue;
    if (lag && lag->type == REDIS_REPLY_INTEGER) lag_.set(lag->integer);
    if (pending && pending->type == REDIS_REPLY_INTEGER) group_pending_.set(pending->integer);
    return;
  }
}

}  // namespace herald
