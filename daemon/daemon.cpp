#include "daemon/daemon.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <random>
#include <thread>

#include "core/config/toml_reader.hpp"
#include "core/delivery/dispatcher.hpp"
#include "core/history/segment_history_log.hpp"
#include "core/journal/journal.hpp"
#include "core/match/rule_index.hpp"
#include "core/pipeline/event_pipeline.hpp"
#include "core/render/message_renderer.hpp"
#include "core/resources/resource_store.hpp"
#include "core/storage/commit_pacer.hpp"
#include "core/util/threads.hpp"
#include "daemon/sd_notify.hpp"
#include "transports/http_ingest/api_routes.hpp"
#include "transports/http_ingest/http_server.hpp"
#include "transports/outbox/outbox_transport.hpp"
#include "transports/redis_ingest/stream_consumer.hpp"
#include "transports/smtp/smtp_pool.hpp"

namespace herald {

namespace net = boost::asio;

namespace {

std::unique_ptr<Transport> make_transport(const TransportSettings& t, net::any_io_executor ex, Logger& log,
                                          MetricsRegistry& metrics) {
  switch (t.kind) {
    case TransportKind::outbox: return std::make_unique<OutboxTransport>(t.name, t.outbox, log);
    case TransportKind::smtp: return std::make_unique<SmtpPool>(ex, t.name, t.smtp, log, metrics);
  }
  throw ConfigError("unknown transport kind");
}

SegmentLogOptions log_options(const StorageSettings& st, const std::string& name, uint64_t segment_bytes,
                              int background_nice) {
  SegmentLogOptions o;
  o.dir = st.dir / name;
  o.name = name;
  o.segment_bytes = segment_bytes;
  o.max_batch_bytes = st.group_commit_max_bytes;
  o.max_batch_delay = st.group_commit_delay;
  o.min_commit_interval = st.group_commit_interval;
  o.io = st.io;
  o.prepare_segments = st.prepare_segments;
  o.prepare_bytes_per_second = st.prepare_bytes_per_second;
  o.background_nice = background_nice;
  return o;
}

std::unique_ptr<LogIo> open_log_io(LogIoMode mode, Logger& log) {
  std::string note;
  auto io = make_log_io(mode, note);
  if (!note.empty()) log.warn(note);
  return io;
}

void log_recovery(Logger& log, const char* name, const RecoveryReport& r) {
  log.info("log recovered", {{"log", name},
                             {"segments", static_cast<unsigned long>(r.segments)},
                             {"records", static_cast<unsigned long>(r.records)},
                             {"truncated_bytes", static_cast<unsigned long long>(r.truncated_bytes)},
                             {"reused_bytes_cut", static_cast<unsigned long long>(r.reused_bytes_cut)},
                             {"corrupt_segments", static_cast<unsigned long>(r.corrupt_segments)}});
  for (const auto& note : r.notes) log.warn("log recovery", {{"log", name}, {"detail", note}});
}

}  // namespace

void check_config(const Settings& settings) {
  // Reads the admin API's files too, without creating their directory.
  std::vector<ResourceFile> api;
  if (std::filesystem::is_directory(settings.resources_api_dir)) api = read_resource_files(settings.resources_api_dir);
  build_resources(read_resource_dir(settings.resources_dir), api, nullptr);
}

int Daemon::run() {
  // One io_context per thread (concurrency hint 1). The first runs delivery,
  // Redis, signals and timers; HTTP sessions are spread over the others and
  // need no strands.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::io_context*> workers;
  for (int i = 0; i < settings_.threads; ++i) {
    workers.push_back(contexts.emplace_back(std::make_unique<net::io_context>(1)).get());
  }
  net::io_context& ioc = *contexts.front();
  std::vector<net::any_io_executor> work_executors;
  for (auto* w : workers) work_executors.push_back(w->get_executor());
  // The other contexts have only HTTP sessions and Redis batches; they must
  // not return from run() while they have none.
  std::vector<net::executor_work_guard<net::io_context::executor_type>> idle_guards;
  for (size_t i = 1; i < contexts.size(); ++i) idle_guards.push_back(net::make_work_guard(*contexts[i]));
  MetricsRegistry metrics;

  JournalSettings js;
  js.log = log_options(settings_.storage, "journal", settings_.storage.segment_bytes, settings_.background_nice);
  js.log.spare_segments = settings_.storage.spare_segments;
  js.idempotency_window = settings_.storage.idempotency_window;
  js.checkpoint_bytes = settings_.storage.checkpoint_bytes;
  js.finished_in_memory = settings_.storage.finished_events_in_memory;
  Journal journal(js, open_log_io(settings_.storage.io, log_), log_, metrics);
  std::vector<PendingEvent> pending;
  log_recovery(log_, "journal", journal.open(pending));
  log_.info("journal ready", {{"dir", js.log.dir.string()},
                              {"io", journal.log().io_name()},
                              {"events_known", static_cast<unsigned long>(journal.entries())},
                              {"events_in_memory", static_cast<unsigned long>(journal.entries_in_memory())},
                              {"finished_runs", static_cast<unsigned long>(journal.finished_runs())},
                              {"events_unfinished", static_cast<unsigned long>(pending.size())}});

  HistorySettings hs;
  hs.log = log_options(settings_.storage, "history", settings_.history.segment_bytes, settings_.background_nice);
  hs.log.max_batch_delay = settings_.history.group_commit_delay;
  hs.log.sync_interval = settings_.history.sync_interval;
  hs.max_age = settings_.history.max_age;
  hs.max_bytes = settings_.history.max_bytes;
  SegmentHistoryLog history(hs, open_log_io(settings_.storage.io, log_), log_, metrics);
  log_recovery(log_, "history", history.open());

  ResourceStore resources(settings_.resources_dir, settings_.resources_api_dir, &metrics);
  const SnapshotHolder& snapshots = resources.snapshots();
  {
    auto initial = snapshots.get();
    log_.info("resources loaded", {{"dir", settings_.resources_dir.string()},
                                   {"api_dir", settings_.resources_api_dir.string()},
                                   {"templates", static_cast<unsigned long>(initial->resources.templates.size())},
                                   {"rules", static_cast<unsigned long>(initial->resources.rules.size())},
                                   {"partners", static_cast<unsigned long>(initial->resources.partner_count())},
                                   {"actions", static_cast<unsigned long>(initial->index.size())}});
  }

  MessageRenderer renderer(Mailbox{settings_.delivery.from_address, settings_.delivery.from_name},
                           settings_.delivery.locale, settings_.delivery.sms_transliterate);
  EventPipeline pipeline(snapshots, renderer, journal, history, metrics, log_);

  const TransportSettings& email = *settings_.transport(settings_.delivery.email_transport);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Dispatcher email_dispatcher(ioc.get_executor(), make_transport(email, ioc.get_executor(), log_, metrics),
                              settings_.delivery, email.guard, history, journal, metrics, log_,
                              // Only the delivery thread calls this (ioc runs on one thread:
                              // the dispatchers rely on that instead of a strand).
                              [rng, unit]() mutable { return unit(rng); });
  pipeline.route(Channel::email, &email_dispatcher);
  email_dispatcher.start();
  TransportSettings sms = *settings_.transport(settings_.delivery.sms_transport);
  // One outbox may take both channels; its metrics stay apart per channel.
  if (sms.name == email.name) sms.name += "-sms";
  Dispatcher sms_dispatcher(ioc.get_executor(), make_transport(sms, ioc.get_executor(), log_, metrics),
                            settings_.delivery, sms.guard, history, journal, metrics, log_,
                            [rng, unit]() mutable { return unit(rng); });
  pipeline.route(Channel::sms, &sms_dispatcher);
  sms_dispatcher.start();
  log_.info("transport ready", {{"channel", "sms"}, {"transport", sms.name}, {"kind", "outbox"},
                                {"target", sms.outbox.dir.string()}});
  log_.info("transport ready", {{"channel", "email"},
                                {"transport", email.name},
                                {"kind", email.kind == TransportKind::smtp ? "smtp" : "outbox"},
                                {"target", email.kind == TransportKind::smtp
                                               ? email.smtp.host + ":" + std::to_string(email.smtp.port)
                                               : email.outbox.dir.string()}});

  if (!pending.empty()) net::co_spawn(ioc, pipeline.resume(std::move(pending)), net::detached);

  ApiRoutes routes(pipeline, journal, metrics, log_, &resources, settings_.http.tokens);
  routes.spread_bulk_decoding(work_executors, settings_.http.bulk_spread_bytes);
  // With more than one thread, HTTP stays off the first context: SMTP
  // delivery there then never delays an accept, nor an accept a delivery
  // (but for bulk bodies, whose decoding the line above spreads over every
  // context: on one HTTP thread it bounded bulk ingest with a core idle).
  std::span<net::io_context* const> http_workers(workers);
  if (workers.size() > 1) http_workers = http_workers.subspan(1);
  HttpServer server(http_workers, settings_.http, routes, log_, metrics);

  std::unique_ptr<StreamConsumer> redis;
  if (settings_.redis.enabled)
    redis = std::make_unique<StreamConsumer>(work_executors, settings_.redis, pipeline, metrics, log_);

  net::signal_set stop_signals(ioc, SIGTERM, SIGINT);
  // A fenced journal acknowledges nothing more: shut down like on SIGTERM
  // and tell main() to re-execute, which replays the journal from disk.
  std::atomic<bool> restart{false};
  journal.on_fenced([&](const std::string& reason) {
    log_.error("journal fenced; restarting to replay it", {{"reason", reason}});
    restart = true;
    ::kill(::getpid(), SIGTERM);
  });
  net::signal_set reload_signals(ioc, SIGHUP);
  // SIGHUP reloads on a thread of its own. Its coroutine runs on the
  // delivery thread, and reading 100k partners from files takes ~11 s: every
  // delivery waited that long, and ingest too once their queue filled.
  // Reloads asked for meanwhile queue behind the running one; the store
  // orders them with the admin API's changes. Declared after
  // `resources`, so it is joined (a running reload finished, queued ones
  // dropped) before the store goes.
  net::thread_pool reloads(1);
  // Signals are caught before "listening" is logged: supervisors and tests
  // may signal as soon as they see it.
  server.start();
  if (redis) redis->start();
  log_.info("listening", {{"address", server.local_endpoint().address().to_string()},
                          {"port", static_cast<unsigned>(server.local_endpoint().port())}});

  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        for (;;) {
          auto [ec, sig] = co_await reload_signals.async_wait(net::as_tuple(net::use_awaitable));
          (void)sig;
          if (ec) co_return;
          net::post(reloads, [&] {
            name_this_thread("reload");
            log_.debug("resources reloading");
            try {
              const auto report = resources.reload();
              log_.info("resources reloaded", {{"generation", static_cast<unsigned long long>(resources.generation())},
                                               {"files", report.files},
                                               {"files_parsed", report.parsed},
                                               {"partner_shards", report.shards},
                                               {"partner_shards_built", report.shards_built}});
            } catch (const std::exception& e) {
              log_.error("reload failed; keeping previous resources", {{"error", e.what()}});
            }
          });
        }
      },
      net::detached);

  // Both logs' commit interval follows the machine's steal time, once a
  // second (CommitPacer); a fixed interval needs no timer.
  CommitPacer pacer({settings_.storage.group_commit_interval, settings_.storage.group_commit_interval_max});
  net::steady_timer pacer_timer(ioc);
  if (!pacer.fixed())
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          auto before = read_cpu_ticks();
          if (!before) co_return;  // no /proc/stat: the floor stays
          for (;;) {
            pacer_timer.expires_after(std::chrono::seconds(1));
            auto [ec] = co_await pacer_timer.async_wait(net::as_tuple(net::use_awaitable));
            if (ec) co_return;
            const auto after = read_cpu_ticks();
            if (!after) co_return;
            const auto was = pacer.interval();
            const auto now = pacer.observe(*before, *after);
            if (now != was) {
              journal.log().set_min_commit_interval(now);
              history.log().set_min_commit_interval(now);
              log_.info(now > was ? "commit interval raised: the machine reports steal time"
                                  : "commit interval lowered",
                        {{"interval_us", static_cast<long long>(now.count())}, {"steal", pacer.last_steal()}});
            }
            before = after;
          }
        },
        net::detached);

  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto [ec, sig] = co_await stop_signals.async_wait(net::as_tuple(net::use_awaitable));
        if (ec) co_return;
        log_.info("shutting down", {{"signal", sig}});
        notify_systemd("STOPPING=1");
        // A second signal means "now": operators expect Ctrl-C twice to work.
        stop_signals.async_wait([this](boost::system::error_code e, int) {
          if (e) return;
          log_.warn("second signal: exiting without drain");
          std::_Exit(1);
        });
        server.stop();
        co_await server.wait_drained();
        if (redis) co_await redis->stop();
        log_.info("ingest stopped; draining deliveries");
        co_await email_dispatcher.drain();
        co_await sms_dispatcher.drain();
        history.close();
        journal.close();
        reload_signals.cancel();
        stop_signals.cancel();
        pacer_timer.cancel();
        for (auto& g : idle_guards) g.reset();
        log_.info("stopped");
      },
      net::detached);

  notify_systemd("READY=1");
  // An exception escaping a handler is a bug; log it and keep the loop
  // running so one bad request cannot take the daemon down.
  auto run_loop = [&](net::io_context& context) {
    for (;;) {
      try {
        context.run();
        return;
      } catch (const std::exception& e) {
        log_.error("unhandled exception in event loop", {{"error", e.what()}});
      }
    }
  };
  std::vector<std::jthread> threads;
  for (size_t i = 1; i < contexts.size(); ++i)
    threads.emplace_back([&, i] {
      name_this_thread("io-" + std::to_string(i));
      run_loop(*contexts[i]);
    });
  run_loop(ioc);
  for (auto& t : threads) t.join();
  return restart ? kExitRestart : 0;
}

}  // namespace herald
