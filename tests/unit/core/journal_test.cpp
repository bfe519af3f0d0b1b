#include "core/journal/journal.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/ingest/event_decoder.hpp"
#include "core/journal/finished_store.hpp"
#include "core/util/varint.hpp"
#include "tests/fakes/faulty_log_io.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

namespace net = boost::asio;

int64_t now_ms_for_tests() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DocumentEvent make_event(const std::string& id, const std::string& tenant = "default") {
  DocumentEvent e;
  e.id = id;
  e.tenant = tenant;
  e.type = "invoice.posted";
  e.occurred_at = "2026-11-20T09:14:03+01:00";
  Document d;
  d.number = "FV-" + id;
  d.attachments.push_back({"a.pdf", "application/pdf", std::string("%PDF\0\xff", 6)});
  e.document = d;
  return e;
}

class JournalTest : public ::testing::Test {
 protected:
  std::unique_ptr<Journal> open_journal(std::vector<PendingEvent>* pending = nullptr,
                                        std::unique_ptr<LogIo> io = nullptr) {
    JournalSettings s;
    s.log.dir = dir.path() / "journal";
    s.log.segment_bytes = 8 * 1024;
    s.log.spare_segments = spare_segments;
    s.idempotency_window = window;
    s.maintenance_interval = std::chrono::hours(1);  // tests call checkpoint() themselves
    s.finished_in_memory = finished_in_memory;
    auto j = std::make_unique<Journal>(s, io ? std::move(io) : make_pwrite_log_io(), log, metrics);
    std::vector<PendingEvent> ignored;
    j->open(pending ? *pending : ignored);
    return j;
  }

  // Closes `j` and opens the same storage again.
  void reopen(std::unique_ptr<Journal>& j, std::vector<PendingEvent>* pending = nullptr) {
    j->close();
    j.reset();
    j = open_journal(pending);
  }

  // Reserves, stages and commits one event with `messages` planned.
  boost::system::error_code accept(Journal& j, const DocumentEvent& e, std::vector<PlannedMessage> messages) {
    Admission adm;
    EventStatus existing;
    EXPECT_EQ(j.reserve(adm, Journal::key(e.tenant, e.id), &existing), Reservation::fresh);
    j.stage(adm, e, "http", messages);
    return commit(j, adm);
  }

  // One io_context per test, outliving the journals it creates: the flusher
  // thread may still be inside post() when run() returns (TSan).
  net::io_context ioc_;

  boost::system::error_code commit(Journal& j, Admission& adm) {
    net::io_context& ioc = ioc_;
    ioc.restart();
    boost::system::error_code result;
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          auto [ec] = co_await j.async_commit(adm, net::as_tuple(net::use_awaitable));
          result = ec;
        },
        net::detached);
    ioc.run();
    return result;
  }

  // The names, type and source a status reports.
  static void expect_event(const EventStatus& st, std::string_view tenant, std::string_view id,
                           std::string_view type, std::string_view source) {
    EXPECT_EQ(st.tenant, tenant);
    EXPECT_EQ(st.id, id);
    EXPECT_EQ(st.type, type);
    EXPECT_EQ(st.source, source);
  }

  static void attempt(Journal& j, const DocumentEvent& e, const std::string& msg_id, MessageState st, int attempt,
                      std::string detail = "") {
    RenderedMessage m;
    m.message_id = msg_id;
    m.channel = "email";
    m.event = std::make_shared<DocumentEvent>(e);
    m.attempt = attempt;
    j.record_attempt(m, st, detail, std::chrono::system_clock::now() + std::chrono::seconds(30));
  }

  TempDir dir;
  Logger log{nullptr};
  MetricsRegistry metrics;
  std::chrono::seconds window{7 * 24 * 3600};
  size_t finished_in_memory = 1'000'000;  // no automatic flush unless a test lowers it
  size_t spare_segments = 0;
};

TEST_F(JournalTest, CommittedEventIsKnownAndDuplicatesAreAnsweredFromIt) {
  auto j = open_journal();
  auto e = make_event("ev-1");
  ASSERT_FALSE(accept(*j, e, {{"m1", "email"}, {"m2", "email"}}));
  auto st = j->status(Journal::key("default", "ev-1"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->committed);
  EXPECT_FALSE(st->done);
  ASSERT_EQ(st->messages.size(), 2u);

  Admission adm;
  EventStatus existing;
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "ev-1"), &existing), Reservation::duplicate);
  EXPECT_EQ(existing.messages[1].id, "m2");
  // The same id in another tenant is another event.
  EXPECT_EQ(j->reserve(adm, Journal::key("other", "ev-1"), &existing), Reservation::fresh);
}

TEST_F(JournalTest, ReservedKeyIsInFlightUntilItsCommitSettles) {
  auto j = open_journal();
  Admission first, second;
  EventStatus existing;
  const auto key = Journal::key("default", "ev-2");
  ASSERT_EQ(j->reserve(first, key, &existing), Reservation::fresh);
  EXPECT_EQ(j->reserve(second, key, &existing), Reservation::in_flight);
  j->stage(first, make_event("ev-2"), "http", {{"m1", "email"}});
  ASSERT_FALSE(commit(*j, first));
  ASSERT_FALSE(commit(*j, second));  // an empty admission is a barrier
  EXPECT_TRUE(j->status(key));
}

TEST_F(JournalTest, FailedCommitReleasesTheKeys) {
  auto faulty = std::make_unique<FaultyLogIo>(make_pwrite_log_io());
  auto* io = faulty.get();
  auto j = open_journal(nullptr, std::move(faulty));
  io->fail_writes = 1;
  Admission adm;
  EventStatus existing;
  const auto key = Journal::key("default", "ev-3");
  ASSERT_EQ(j->reserve(adm, key, &existing), Reservation::fresh);
  j->stage(adm, make_event("ev-3"), "http", {{"m1", "email"}});
  EXPECT_EQ(commit(*j, adm), boost::system::errc::no_space_on_device);
  EXPECT_FALSE(j->status(key));
  // The client's retry is a fresh event again.
  ASSERT_FALSE(accept(*j, make_event("ev-3"), {{"m1", "email"}}));
}

TEST_F(JournalTest, RecoveryReturnsUnfinishedWorkWithItsRetryState) {
  auto done = make_event("done");
  auto half = make_event("half");
  {
    auto j = open_journal();
    ASSERT_FALSE(accept(*j, done, {{"d1", "email"}}));
    ASSERT_FALSE(accept(*j, half, {{"h1", "email"}, {"h2", "email"}, {"h3", "email"}}));
    attempt(*j, done, "d1", MessageState::delivered, 1);
    attempt(*j, half, "h1", MessageState::delivered, 1);
    attempt(*j, half, "h2", MessageState::deferred, 2, "451 \"try\" later\\\n\x01 – Ján");
    j->close();
  }
  std::vector<PendingEvent> pending;
  auto j = open_journal(&pending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, "half");
  ASSERT_EQ(pending[0].messages.size(), 2u);
  EXPECT_EQ(pending[0].messages[0].id, "h2");
  EXPECT_EQ(pending[0].messages[0].state, MessageState::deferred);
  EXPECT_EQ(pending[0].messages[0].detail, "451 \"try\" later\\\n\x01 – Ján");  // escaped and read back
  EXPECT_EQ(pending[0].messages[0].attempts, 2);
  EXPECT_GT(pending[0].messages[0].next_attempt_ms, 0);
  EXPECT_EQ(pending[0].messages[1].id, "h3");
  EXPECT_EQ(pending[0].messages[1].state, MessageState::queued);
  // The journaled event decodes back to the same event, attachment bytes included.
  EventDecoder decoder;
  auto decoded = decoder.decode(pending[0].event_json, BodyFormat::json);
  ASSERT_TRUE(decoded.ok()) << pending[0].event_json;
  EXPECT_EQ(decoded.events[0].document->attachments[0].content, half.document->attachments[0].content);
  // And a finished event is still known: a re-send is a duplicate across restarts.
  Admission adm;
  EventStatus existing;
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "done"), &existing), Reservation::duplicate);
  EXPECT_TRUE(existing.done);
}

TEST_F(JournalTest, AcceptedHeadersReplayWithPlainAndEscapedIds) {
  // Event ids may hold any printable ASCII, '"' and '\\' included: those
  // headers take the escaping path, the others the one-copy path.
  const std::vector<std::string> ids = {"plain-1", "q\"uote", "back\\slash", "plain-2"};
  {
    auto j = open_journal();
    for (const auto& id : ids) ASSERT_FALSE(accept(*j, make_event(id), {{"m-" + id, "email"}, {"s-" + id, "sms"}}));
    j->close();
  }
  std::vector<PendingEvent> pending;
  auto j = open_journal(&pending);
  ASSERT_EQ(pending.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto st = j->status(Journal::key("default", ids[i]));
    ASSERT_TRUE(st) << ids[i];
    EXPECT_EQ(st->id, ids[i]);
    EXPECT_EQ(st->type, "invoice.posted");
    EXPECT_EQ(st->source, "http");
    ASSERT_EQ(st->messages.size(), 2u);
    EXPECT_EQ(st->messages[0].id, "m-" + ids[i]);
    EXPECT_EQ(st->messages[1].channel, "sms");
  }
}

// Accepted records are written compact (type 5) since session 34; those
// written before, a JSON header line and the event (type 1), replay the
// same way. herald-logdump --raw shows a compact one's header in the old
// JSON form. A compact record cut short in its header, or of another
// version, is skipped.
TEST_F(JournalTest, AcceptedRecordsOfBothFormsReplayAndMalformedOnesAreSkipped) {
  {
    auto j = open_journal();
    ASSERT_FALSE(accept(*j, make_event("new"), {{"m-new", "email"}}));
    j->close();
  }
  {
    SegmentLogOptions o;
    o.dir = dir.path() / "journal";
    o.segment_bytes = 8 * 1024;
    SegmentLog raw(o, make_pwrite_log_io(), log, metrics);
    std::string compact;
    raw.open([&](uint8_t type, std::string_view p, uint64_t) {
      if (type == kJournalAcceptedCompact) compact.assign(p);
    });
    ASSERT_FALSE(compact.empty());
    std::string header;
    std::string_view event;
    ASSERT_TRUE(journal_accepted_json(compact, header, event));
    const auto h = boost::json::parse(header).as_object();
    EXPECT_EQ(h.at("t").as_string(), "default");
    EXPECT_EQ(h.at("id").as_string(), "new");
    EXPECT_EQ(h.at("ty").as_string(), "invoice.posted");
    EXPECT_EQ(h.at("src").as_string(), "http");
    EXPECT_GT(h.at("at").as_int64(), 1'700'000'000'000);
    EXPECT_EQ(boost::json::serialize(h.at("m")), R"([["m-new","email"]])");
    EXPECT_EQ(boost::json::parse(event).as_object().at("id").as_string(), "new");
    const size_t header_bytes = compact.size() - event.size();
    RecordBatch b;
    // The old form, for another event.
    std::string old_event(event);
    old_event.replace(old_event.find("\"new\""), 5, "\"old\"");
    b.add(1, R"({"t":"default","id":"old","ty":"invoice.posted","src":"redis","at":1796548723490,"m":[["m-old","sms"]]})"
             "\n" + old_event);
    for (size_t n = 0; n < header_bytes; ++n) b.add(kJournalAcceptedCompact, compact.substr(0, n));
    std::string other_version = compact;
    other_version[0] = 9;
    b.add(kJournalAcceptedCompact, other_version);
    ASSERT_FALSE(raw.append_wait(b).ec);
    raw.close();
  }
  std::vector<PendingEvent> pending;
  auto j = open_journal(&pending);
  EXPECT_EQ(j->entries(), 2u);
  ASSERT_EQ(pending.size(), 2u);
  for (const auto& p : pending) {
    SCOPED_TRACE(p.id);
    ASSERT_EQ(p.messages.size(), 1u);
    EXPECT_EQ(p.messages[0].id, "m-" + p.id);
    EXPECT_EQ(p.source, p.id == "old" ? "redis" : "http");
    EXPECT_EQ(boost::json::parse(p.event_json).as_object().at("id").as_string(), p.id);
  }
  auto st = j->status(Journal::key("default", "old"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->type, "invoice.posted");
  EXPECT_EQ(st->messages[0].channel, "sms");
}

TEST_F(JournalTest, FinalStateIsStickyOnReplay) {
  auto e = make_event("sticky");
  {
    auto j = open_journal();
    ASSERT_FALSE(accept(*j, e, {{"s1", "email"}}));
    attempt(*j, e, "s1", MessageState::delivered, 1);
    attempt(*j, e, "s1", MessageState::deferred, 2);  // a late duplicate report
    j->close();
  }
  std::vector<PendingEvent> pending;
  auto j = open_journal(&pending);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(j->status(Journal::key("default", "sticky"))->messages[0].state, MessageState::delivered);
}

TEST_F(JournalTest, CheckpointDropsOldSegmentsAndKeepsLiveState) {
  auto j = open_journal();
  for (int i = 0; i < 200; ++i) {
    auto e = make_event("bulk-" + std::to_string(i));
    ASSERT_FALSE(accept(*j, e, {{"b" + std::to_string(i), "email"}}));
    if (i % 2 == 0) attempt(*j, e, "b" + std::to_string(i), MessageState::delivered, 1);
  }
  const size_t before = j->log().segments().size();
  ASSERT_GT(before, 2u);
  EXPECT_EQ(j->checkpoint(), before);
  EXPECT_EQ(j->log().segments().size(), 1u);
  std::vector<PendingEvent> pending;
  reopen(j, &pending);
  EXPECT_EQ(pending.size(), 100u);
  EXPECT_EQ(j->entries(), 200u);
}

// Runs hold each entry without its tenant and id (the key has them): a
// tenant's and the default tenant's entries come back whole, and runs
// written before (the whole packed entry as the value) are still answered.
TEST_F(JournalTest, RunsHoldEntriesWithoutTheirNamesAndOlderRunsAreStillRead) {
  const std::string old_key = Journal::key("default", "written-before");
  {
    // A run as session 25 wrote it: the value is the whole packed entry.
    FinishedStore store(dir.path() / "journal" / "finished", 1024, log);
    store.open();
    std::string body;
    for (std::string_view t : {"default", "written-before", "invoice.posted", "http"}) put_text(body, t);
    put_varint(body, 1);
    for (std::string_view t : {"ob1", "email"}) put_text(body, t);
    put_varint(body, static_cast<uint64_t>(MessageState::delivered));
    put_varint(body, 2);
    put_varint(body, 0);
    put_text(body, "250 queued");
    std::string value;
    put_varint(value, body.size());
    value += body;
    std::vector<FinishedRecord> records{{store.hash(old_key), old_key, now_ms_for_tests(), value}};
    std::error_code ec;
    ASSERT_TRUE(store.write(store.sort_by_hash(records), ec));
    ASSERT_FALSE(ec);
  }
  auto j = open_journal();
  auto a = make_event("plain");
  auto b = make_event("id\x1fwith-separator", "acme");
  ASSERT_FALSE(accept(*j, a, {{"pa", "email"}}));
  attempt(*j, a, "pa", MessageState::delivered, 1, "250 ok");
  ASSERT_FALSE(accept(*j, b, {}));
  EXPECT_EQ(j->flush_finished(), 2u);
  EXPECT_EQ(j->entries_in_memory(), 0u);
  size_t names = 0;  // in the new run: each id once, in its key
  for (const auto& f : std::filesystem::directory_iterator(dir.path() / "journal" / "finished")) {
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    for (size_t at = bytes.find("with-separator"); at != std::string::npos; at = bytes.find("with-separator", at + 1))
      ++names;
  }
  EXPECT_EQ(names, 1u);
  for (int round = 0; round < 2; ++round) {
    auto sa = j->status(Journal::key("default", "plain"));
    ASSERT_TRUE(sa);
    expect_event(*sa, "default", "plain", "invoice.posted", "http");
    ASSERT_EQ(sa->messages.size(), 1u);
    EXPECT_EQ(sa->messages[0].id, "pa");
    EXPECT_EQ(sa->messages[0].detail, "250 ok");
    auto sb = j->status(Journal::key("acme", "id\x1fwith-separator"));
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->tenant, "acme");
    EXPECT_EQ(sb->id, "id\x1fwith-separator");
    EXPECT_TRUE(sb->messages.empty());
    auto so = j->status(old_key);
    ASSERT_TRUE(so);
    EXPECT_EQ(so->tenant, "default");
    EXPECT_EQ(so->id, "written-before");
    ASSERT_EQ(so->messages.size(), 1u);
    EXPECT_EQ(so->messages[0].state, MessageState::delivered);
    EXPECT_EQ(so->messages[0].attempts, 2);
    EXPECT_EQ(so->messages[0].detail, "250 queued");
    EXPECT_TRUE(so->done);
    reopen(j);
  }
}

// Segments a checkpoint removes become spares and then the next segments;
// replay reads only what each reused file holds now: every round's live
// state, nothing of the records the files held before.
TEST_F(JournalTest, CheckpointedSegmentsAreReusedAndReplayOnlyTheirNewRecords) {
  spare_segments = 2;
  auto j = open_journal();
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) {
      const std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
      auto e = make_event(id);
      ASSERT_FALSE(accept(*j, e, {{"m" + id, "email"}}));
      if (i % 2 == 0) attempt(*j, e, "m" + id, MessageState::delivered, 1);
    }
    if (round > 0) {
      EXPECT_LT(j->log().spare_segments(), 2u) << "round " << round;  // reused
    }
    ASSERT_GT(j->checkpoint(), 2u);
    EXPECT_EQ(j->log().spare_segments(), 2u);
  }
  std::vector<PendingEvent> pending;
  reopen(j, &pending);
  EXPECT_EQ(pending.size(), 300u);
  EXPECT_EQ(j->entries(), 600u);
  ASSERT_TRUE(j->status(Journal::key("default", "r0-1")));
  EXPECT_FALSE(j->status(Journal::key("default", "r0-1"))->done);
  ASSERT_TRUE(j->status(Journal::key("default", "r2-198")));
  EXPECT_TRUE(j->status(Journal::key("default", "r2-198"))->done);
}

// A checkpoint rewrites only the open entries; the finished ones still in
// memory go to a run (the snapshot is taken under the lock every accept
// needs: walking them all held it for up to 93 ms under bulk ingest).
TEST_F(JournalTest, CheckpointRewritesOpenEntriesAndMovesFinishedOnesToARun) {
  auto j = open_journal();
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(accept(*j, make_event("done-" + std::to_string(i)), {}));
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(accept(*j, make_event("open-" + std::to_string(i)), {{"m" + std::to_string(i), "email"}}));
  auto late = make_event("open-2");
  attempt(*j, late, "m2", MessageState::delivered, 1);  // finished after its commit
  ASSERT_EQ(j->entries_in_memory(), 103u);
  j->checkpoint();
  EXPECT_EQ(j->entries_in_memory(), 2u);
  EXPECT_EQ(j->finished_runs(), 1u);
  EXPECT_EQ(j->entries(), 103u);
  std::vector<PendingEvent> pending;
  reopen(j, &pending);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(j->entries(), 103u);
  for (int i = 0; i < 100; i += 33) {
    auto st = j->status(Journal::key("default", "done-" + std::to_string(i)));
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->done);
  }
  auto st = j->status(Journal::key("default", "open-2"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->done);
  Admission adm;
  EventStatus existing;
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "done-7"), &existing), Reservation::duplicate);
}

// An event with nothing to send whose commit is in flight when a checkpoint
// snapshots the open entries: its state then lives only in the record its
// admission holds, and the snapshot must carry it (names, type, source),
// since the checkpoint removes the segment of its accepted record.
TEST_F(JournalTest, ACheckpointDuringACommitSnapshotsTheEventsInFlight) {
  using namespace std::chrono_literals;
  auto faulty = std::make_unique<FaultyLogIo>(make_pwrite_log_io());
  FaultyLogIo* io = faulty.get();
  auto j = open_journal(nullptr, std::move(faulty));
  ASSERT_FALSE(accept(*j, make_event("before"), {}));
  io->hold();
  auto e = make_event("in-flight", "acme");
  Admission adm;
  EventStatus existing;
  ASSERT_EQ(j->reserve(adm, Journal::key(e.tenant, e.id), &existing), Reservation::fresh);
  j->stage(adm, e, "redis", {});
  std::thread committer([&] { EXPECT_FALSE(commit(*j, adm)); });
  while (io->waiting.load() == 0) std::this_thread::sleep_for(1ms);
  Admission other;
  EXPECT_EQ(j->reserve(other, Journal::key(e.tenant, e.id), &existing), Reservation::in_flight);
  EXPECT_FALSE(j->status(Journal::key(e.tenant, e.id)));  // not durable yet
  std::thread checkpointer([&] { j->checkpoint(); });
  // The checkpoint takes its snapshot under the lock at once, then waits
  // for its own write, held too.
  std::this_thread::sleep_for(100ms);
  io->release();
  committer.join();
  checkpointer.join();
  // "before" went to a run; the event in flight was snapshotted, then
  // settled into memory.
  EXPECT_EQ(j->finished_runs(), 1u);
  EXPECT_EQ(j->entries_in_memory(), 1u);
  std::vector<PendingEvent> pending;
  reopen(j, &pending);
  EXPECT_TRUE(pending.empty());
  auto st = j->status(Journal::key("acme", "in-flight"));
  ASSERT_TRUE(st);
  expect_event(*st, "acme", "in-flight", "invoice.posted", "redis");
  EXPECT_TRUE(st->done);
  EXPECT_TRUE(st->messages.empty());
  EXPECT_TRUE(j->status(Journal::key("default", "before")));
}

// A message finishing before its event's commit settles (the pipeline
// delivers only after it, but the journal must not depend on that): the
// event still reaches the pending run, with the message's final state.
TEST_F(JournalTest, AnEventWhoseMessagesFinishBeforeItsCommitSettlesIsKept) {
  using namespace std::chrono_literals;
  auto faulty = std::make_unique<FaultyLogIo>(make_pwrite_log_io());
  FaultyLogIo* io = faulty.get();
  auto j = open_journal(nullptr, std::move(faulty));
  io->hold();
  auto e = make_event("early");
  Admission adm;
  EventStatus existing;
  ASSERT_EQ(j->reserve(adm, Journal::key(e.tenant, e.id), &existing), Reservation::fresh);
  j->stage(adm, e, "http", {{"e1", "email"}});
  std::thread committer([&] { EXPECT_FALSE(commit(*j, adm)); });
  while (io->waiting.load() == 0) std::this_thread::sleep_for(1ms);
  attempt(*j, e, "e1", MessageState::delivered, 1, "250 early");
  io->release();
  committer.join();
  EXPECT_EQ(j->entries_in_memory(), 1u);
  auto check = [&] {
    auto st = j->status(Journal::key(e.tenant, e.id));
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->done);
    ASSERT_EQ(st->messages.size(), 1u);
    EXPECT_EQ(st->messages[0].state, MessageState::delivered);
    EXPECT_EQ(st->messages[0].detail, "250 early");
  };
  check();
  EXPECT_EQ(j->flush_finished(), 1u);
  check();
}

// Finished entries are packed in memory; everything a status holds must come
// back out, before and after a checkpoint and a reopen.
TEST_F(JournalTest, FinishedEntriesKeepTheirWholeStatusPackedAcrossCheckpointAndReopen) {
  auto j = open_journal();
  auto e = make_event(std::string(200, 'L'), "tenant-\xc3\xa1");  // a long id: multi-byte lengths
  ASSERT_FALSE(accept(*j, e, {{"d1", "email"}, {"f1", "email"}, {"x1", "email"}}));
  attempt(*j, e, "d1", MessageState::deferred, 1, "451 try later");
  attempt(*j, e, "d1", MessageState::delivered, 2, "250 2.0.0 Ok: queued as 4F2");
  attempt(*j, e, "f1", MessageState::failed, 1, std::string(300, 'r'));
  auto nothing = make_event("no-messages");
  ASSERT_FALSE(accept(*j, nothing, {}));
  auto st = j->status(Journal::key(e.tenant, e.id));
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->done);  // x1 is still queued: live, not packed
  attempt(*j, e, "x1", MessageState::expired, 7, "gave up");
  auto check = [&](Journal& jr) {
    attempt(jr, e, "x1", MessageState::deferred, 8, "too late");  // final is sticky, even packed
    auto st = jr.status(Journal::key(e.tenant, e.id));
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->done);
    expect_event(*st, e.tenant, e.id, "invoice.posted", "http");
    ASSERT_EQ(st->messages.size(), 3u);
    EXPECT_EQ(st->messages[0].state, MessageState::delivered);
    EXPECT_EQ(st->messages[0].attempts, 2);
    EXPECT_EQ(st->messages[0].detail, "250 2.0.0 Ok: queued as 4F2");
    EXPECT_EQ(st->messages[1].channel, "email");
    EXPECT_EQ(st->messages[1].detail, std::string(300, 'r'));
    EXPECT_EQ(st->messages[2].state, MessageState::expired);
    EXPECT_EQ(st->messages[2].attempts, 7);
    auto none = jr.status(Journal::key("default", "no-messages"));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->done);
    EXPECT_TRUE(none->messages.empty());
  };
  check(*j);
  j->checkpoint();
  check(*j);
  std::vector<PendingEvent> pending;
  reopen(j, &pending);
  EXPECT_TRUE(pending.empty());
  check(*j);
}

// A crash after a checkpoint's snapshot (and its run of finished events) is
// durable but before the old segments are deleted: replay reads the run,
// the old records, then the snapshot of the open event, and must merge
// them, not duplicate or lose.
TEST_F(JournalTest, CheckpointInterruptedBeforeRemovingOldSegmentsReplaysCleanly) {
  namespace fs = std::filesystem;
  auto j = open_journal();
  auto done = make_event("done-1");
  auto open_one = make_event("open-1");
  ASSERT_FALSE(accept(*j, done, {{"d1", "email"}}));
  attempt(*j, done, "d1", MessageState::delivered, 1, "250 ok");
  ASSERT_FALSE(accept(*j, open_one, {{"o1", "email"}}));
  attempt(*j, open_one, "o1", MessageState::deferred, 2, "451 later");
  const fs::path jdir = dir.path() / "journal";
  const fs::path saved = dir.path() / "saved";
  fs::create_directories(saved);
  for (const auto& f : fs::directory_iterator(jdir))
    if (f.is_regular_file()) fs::copy_file(f.path(), saved / f.path().filename());
  j->checkpoint();
  j->close();
  j.reset();
  for (const auto& f : fs::directory_iterator(saved))
    if (!fs::exists(jdir / f.path().filename())) fs::copy_file(f.path(), jdir / f.path().filename());
  std::vector<PendingEvent> pending;
  j = open_journal(&pending);
  // done-1 went to a run; its old records, replayed, only repeat it (as
  // after a crash between a flush and the next checkpoint).
  EXPECT_EQ(j->finished_runs(), 1u);
  EXPECT_EQ(j->entries_in_memory(), 2u);
  auto st = j->status(Journal::key("default", "done-1"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->done);
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_EQ(st->messages[0].state, MessageState::delivered);
  EXPECT_EQ(st->messages[0].detail, "250 ok");
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, "open-1");
  ASSERT_EQ(pending[0].messages.size(), 1u);
  EXPECT_EQ(pending[0].messages[0].attempts, 2);
}

// Records are CRC-checked, but a packed snapshot is still parsed with
// bounds: a malformed one (a bug, a hand-edited file) is skipped, never
// read past its end.
TEST_F(JournalTest, MalformedPackedSnapshotIsSkippedOnReplay) {
  {
    auto j = open_journal();
    ASSERT_FALSE(accept(*j, make_event("kept"), {}));
    j->close();
  }
  {
    SegmentLogOptions o;
    o.dir = dir.path() / "journal";
    o.segment_bytes = 8 * 1024;
    SegmentLog raw(o, make_pwrite_log_io(), log, metrics);
    raw.open([](uint8_t, std::string_view, uint64_t) {});
    RecordBatch b;
    b.add(4, std::string("\x05\xff\xff", 3));                  // length prefix past the end
    b.add(4, std::string("\x05\x03\x01\x41\x00", 5));          // a body cut short
    b.add(4, std::string("\x05", 1));                          // no entry at all
    ASSERT_FALSE(raw.append_wait(b).ec);
    raw.close();
  }
  auto j = open_journal();
  EXPECT_EQ(j->entries(), 1u);
  EXPECT_TRUE(j->status(Journal::key("default", "kept")));
}

TEST_F(JournalTest, FinishedEventsOutsideTheWindowAreForgotten) {
  window = std::chrono::seconds(0);
  auto j = open_journal();
  auto e = make_event("old");
  ASSERT_FALSE(accept(*j, e, {{"o1", "email"}}));
  auto pending_e = make_event("unfinished");
  ASSERT_FALSE(accept(*j, pending_e, {{"u1", "email"}}));
  attempt(*j, e, "o1", MessageState::delivered, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  j->checkpoint();
  EXPECT_FALSE(j->status(Journal::key("default", "old")));
  // Unfinished work is never forgotten, whatever its age.
  EXPECT_TRUE(j->status(Journal::key("default", "unfinished")));
  Admission adm;
  EventStatus existing;
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "old"), &existing), Reservation::fresh);
}

// Finished events leave memory for a run file and are still answered from
// it: duplicates, status with every message's final state, across a
// checkpoint and a reopen.
TEST_F(JournalTest, FinishedEventsMovedToARunStillAnswerDuplicatesAndStatus) {
  auto j = open_journal();
  for (int i = 0; i < 300; ++i) ASSERT_FALSE(accept(*j, make_event("n-" + std::to_string(i)), {}));
  auto e = make_event("with-mail");
  ASSERT_FALSE(accept(*j, e, {{"w1", "email"}, {"w2", "sms"}}));
  attempt(*j, e, "w1", MessageState::delivered, 1, "250 ok");
  auto open_e = make_event("still-open");
  ASSERT_FALSE(accept(*j, open_e, {{"s1", "email"}}));
  EXPECT_EQ(j->flush_finished(), 300u);  // with-mail has w2 unfinished
  attempt(*j, e, "w2", MessageState::failed, 3, "no route");
  EXPECT_EQ(j->flush_finished(), 1u);
  EXPECT_EQ(j->entries_in_memory(), 1u);  // only the unfinished event
  EXPECT_EQ(j->finished_runs(), 2u);
  EXPECT_EQ(j->entries(), 302u);

  int round = 0;
  auto check = [&](Journal& jr) {
    Admission adm;
    EventStatus existing;
    for (int i = 0; i < 300; i += 37)
      EXPECT_EQ(jr.reserve(adm, Journal::key("default", "n-" + std::to_string(i)), &existing),
                Reservation::duplicate);
    EXPECT_EQ(jr.reserve(adm, Journal::key("default", "with-mail"), &existing), Reservation::duplicate);
    EXPECT_TRUE(existing.done);
    EXPECT_TRUE(existing.committed);
    ASSERT_EQ(existing.messages.size(), 2u);
    EXPECT_EQ(existing.messages[0].state, MessageState::delivered);
    EXPECT_EQ(existing.messages[0].detail, "250 ok");
    EXPECT_EQ(existing.messages[1].id, "w2");
    EXPECT_EQ(existing.messages[1].state, MessageState::failed);
    EXPECT_EQ(existing.messages[1].attempts, 3);
    auto st = jr.status(Journal::key("default", "n-299"));
    ASSERT_TRUE(st);
    EXPECT_EQ(st->type, "invoice.posted");
    EXPECT_EQ(st->source, "http");
    EXPECT_GT(st->accepted_ms, 0);
    const std::string unknown = "n-300-" + std::to_string(round++);  // each round reserves its own
    EXPECT_FALSE(jr.status(Journal::key("default", unknown)));
    EXPECT_EQ(jr.reserve(adm, Journal::key("default", unknown), &existing), Reservation::fresh);
    EXPECT_EQ(adm.reserved(), 1u);  // only the fresh key; duplicates reserve nothing
  };
  check(*j);
  // A late state record of a flushed event changes nothing (final is sticky).
  attempt(*j, e, "w2", MessageState::deferred, 4, "late");
  j->checkpoint();
  check(*j);
  std::vector<PendingEvent> pending;
  reopen(j, &pending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, "still-open");
  EXPECT_EQ(j->entries_in_memory(), 1u);  // the checkpoint left only it in the segments
  check(*j);
}

// A flush whose run cannot be written gives its events back to memory:
// they still answer duplicates and status, and the next flush writes them
// with those that finished meanwhile.
TEST_F(JournalTest, FinishedEventsOfAFailedFlushStayFindableAndTheNextFlushWritesThem) {
  auto j = open_journal();
  std::vector<std::string> ids;
  auto accept_some = [&](const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      ids.push_back(prefix + std::to_string(i));
      ASSERT_FALSE(accept(*j, make_event(ids.back()), {}));
    }
  };
  auto expect_all_known = [&] {
    std::vector<std::string> keys;
    for (const auto& id : ids) keys.push_back(Journal::key("default", id));
    Admission adm;
    std::vector<Reservation> out(keys.size());
    std::vector<std::pair<size_t, EventStatus>> existing;
    j->reserve_all(adm, keys, out, existing);
    EXPECT_EQ(existing.size(), ids.size());
    EXPECT_EQ(adm.reserved(), 0u);
    auto st = j->status(Journal::key("default", ids.front()));
    ASSERT_TRUE(st);
    EXPECT_EQ(st->id, ids.front());
    EXPECT_TRUE(st->done);
  };
  accept_some("f-", 200);
  // Runs cannot be created while a file stands where their directory was.
  const auto runs_dir = dir.path() / "journal" / "finished";
  std::filesystem::rename(runs_dir, dir.path() / "finished-away");
  std::ofstream(runs_dir) << "not a directory";
  EXPECT_EQ(j->flush_finished(), 0u);
  EXPECT_EQ(j->finished_runs(), 0u);
  EXPECT_EQ(j->entries_in_memory(), 200u);
  expect_all_known();
  accept_some("g-", 50);
  expect_all_known();
  std::filesystem::remove(runs_dir);
  std::filesystem::rename(dir.path() / "finished-away", runs_dir);
  EXPECT_EQ(j->flush_finished(), 250u);
  EXPECT_EQ(j->finished_runs(), 1u);
  EXPECT_EQ(j->entries_in_memory(), 0u);
  expect_all_known();
}

// An id whose finished event is still in memory but out of the window is a
// new event's; the flush keeps only the new one.
TEST_F(JournalTest, AnExpiredIdStillInMemoryIsANewEventsAndTheFlushKeepsTheNewOne) {
  window = std::chrono::seconds(1);
  auto j = open_journal();
  ASSERT_FALSE(accept(*j, make_event("reused"), {}));
  ASSERT_FALSE(accept(*j, make_event("forgotten"), {}));
  ASSERT_TRUE(j->status(Journal::key("default", "reused")));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_FALSE(j->status(Journal::key("default", "reused")));
  EXPECT_FALSE(j->status(Journal::key("default", "forgotten")));
  auto again = make_event("reused");
  again.type = "order.realized";
  ASSERT_FALSE(accept(*j, again, {}));  // accept() expects a fresh reservation
  auto st = j->status(Journal::key("default", "reused"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->type, "order.realized");
  EXPECT_EQ(j->entries_in_memory(), 3u);  // three records until the flush
  EXPECT_EQ(j->flush_finished(), 1u);
  EXPECT_EQ(j->entries_in_memory(), 0u);
  st = j->status(Journal::key("default", "reused"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->type, "order.realized");
  EXPECT_FALSE(j->status(Journal::key("default", "forgotten")));
}

// reserve_all() asks the runs about a batch before it takes the lock. While
// one thread moves the same events to runs and another merges those runs
// (as journal-maint and journal-merge do), every answer must stay
// "duplicate": an event leaves memory only after its run is published, and
// a batch probed against an older run list is asked again.
// Batch lookups while one thread flushes finished events to runs and
// another merges them (and builds the filter they share).
class JournalRaceTest : public JournalTest {
 protected:
  void expect_duplicates_found_while_runs_change(Journal& journal);
};

void JournalRaceTest::expect_duplicates_found_while_runs_change(Journal& journal) {
  Journal* j = &journal;
  std::atomic<bool> stop{false};
  std::thread flusher([&] {
    while (!stop.load()) j->flush_finished();
  });
  std::thread merger([&] {
    while (!stop.load()) j->compact_finished();
  });
  std::vector<std::string> accepted;
  for (int round = 0; round < 150; ++round) {
    for (int i = 0; i < 40; ++i) {
      auto e = make_event("race-" + std::to_string(round) + "-" + std::to_string(i));
      ASSERT_FALSE(accept(*j, e, {}));
      accepted.push_back(Journal::key(e.tenant, e.id));
    }
    // The newest ids (likely being flushed right now) and a spread of older ones.
    std::vector<std::string> keys(accepted.end() - 40, accepted.end());
    for (size_t k = round; k < accepted.size(); k += 97) keys.push_back(accepted[k]);
    const size_t n = keys.size();
    Admission adm;
    std::vector<Reservation> out(n);
    std::vector<std::pair<size_t, EventStatus>> existing;
    j->reserve_all(adm, keys, out, existing);
    ASSERT_EQ(existing.size(), n);
    for (size_t k = 0; k < n; ++k) {
      ASSERT_EQ(out[k], Reservation::duplicate) << "round " << round << " key " << k;
      EXPECT_EQ(existing[k].first, k);
      EXPECT_TRUE(existing[k].second.committed);
    }
    EXPECT_EQ(adm.reserved(), 0u);
  }
  stop = true;
  flusher.join();
  merger.join();
  EXPECT_GE(j->finished_runs(), 1u);
  EXPECT_LT(j->entries_in_memory(), accepted.size());
}

TEST_F(JournalRaceTest, BatchLookupsRacingFlushesAndMergesStillFindEveryDuplicate) {
  auto j = open_journal();
  expect_duplicates_found_while_runs_change(*j);
}

// The same with runs of a few dozen events: merged up several tiers, and
// the larger ones covered by the shared filter while lookups run.
TEST_F(JournalRaceTest, BatchLookupsRacingMergesIntoTheSharedFilterStillFindEveryDuplicate) {
  finished_in_memory = 50;
  auto j = open_journal();
  expect_duplicates_found_while_runs_change(*j);
  j->compact_finished();
  EXPECT_GE(metrics.gauge("herald_journal_finished_runs_filtered", "").value(), 1);
}

// What the idempotency window costs in memory (the runs' filters and block
// indexes) is a gauge, set whenever runs are published and at open: the soak
// tells it from a leak by it.
TEST_F(JournalTest, FinishedMemoryGaugeCountsTheRunsFiltersAndIndexes) {
  finished_in_memory = 50;
  auto j = open_journal();
  Gauge& memory = metrics.gauge("herald_journal_finished_memory_bytes", "");
  Gauge& on_disk = metrics.gauge("herald_journal_finished_events_on_disk", "");
  EXPECT_EQ(memory.value(), 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_FALSE(accept(*j, make_event("memory-" + std::to_string(i)), {}));
    if (i % 50 == 49) j->flush_finished();
  }
  j->compact_finished();
  EXPECT_EQ(on_disk.value(), 200);
  // 16 bits per key in each run's filter, as many in the shared one, and an
  // index entry per block.
  EXPECT_GE(memory.value(), 200 * 2 * 2);
  reopen(j);
  // Set at open from the runs loaded (their own filters at least; the merge
  // thread may be building the shared one already, so the figure is not
  // compared with the one before), and again once the shared filter is in.
  EXPECT_GE(memory.value(), 200 * 2);
  j->compact_finished();  // waits for a merge in progress
  EXPECT_GE(memory.value(), 200 * 2 * 2);
}

// After a restart the merge thread builds the runs' shared filter at once
// (not after maintenance_interval, an hour here), and every event is still
// a duplicate meanwhile and after.
TEST_F(JournalTest, SharedFilterIsBuiltRightAfterARestart) {
  finished_in_memory = 50;
  auto j = open_journal();
  std::vector<std::string> keys;
  for (int i = 0; i < 400; ++i) {
    auto e = make_event("restart-" + std::to_string(i));
    ASSERT_FALSE(accept(*j, e, {}));
    keys.push_back(Journal::key(e.tenant, e.id));
    if (i % 50 == 49) j->flush_finished();
  }
  j->compact_finished();
  Gauge& filtered = metrics.gauge("herald_journal_finished_runs_filtered", "");
  ASSERT_GE(filtered.value(), 1);
  reopen(j);
  for (int i = 0; i < 500 && filtered.value() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(filtered.value(), 1);
  Admission adm;
  std::vector<Reservation> out(keys.size());
  std::vector<std::pair<size_t, EventStatus>> existing;
  j->reserve_all(adm, keys, out, existing);
  EXPECT_EQ(existing.size(), keys.size());
  for (size_t k = 0; k < keys.size(); ++k) ASSERT_EQ(out[k], Reservation::duplicate) << keys[k];
}

// Without the checkpoint after a flush (a crash in between), replay brings
// the flushed events back into memory: the answers stay the same, and the
// next flush writes them again (the merge keeps one).
TEST_F(JournalTest, CrashBetweenFlushAndCheckpointReplaysConsistently) {
  {
    auto j = open_journal();
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(accept(*j, make_event("c-" + std::to_string(i)), {}));
    EXPECT_EQ(j->flush_finished(), 50u);
    j->close();
  }
  auto j = open_journal();
  EXPECT_EQ(j->entries_in_memory(), 50u);
  EXPECT_EQ(j->finished_runs(), 1u);
  Admission adm;
  EventStatus existing;
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "c-7"), &existing), Reservation::duplicate);
  EXPECT_EQ(j->flush_finished(), 50u);
  EXPECT_EQ(j->entries_in_memory(), 0u);
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "c-7"), &existing), Reservation::duplicate);
  EXPECT_EQ(existing.id, "c-7");
}

// The maintenance thread flushes on its own once `finished_in_memory` more
// events were admitted, and checkpoints after it, so memory stays bounded.
TEST_F(JournalTest, MaintenanceFlushesFinishedEventsPastTheThreshold) {
  finished_in_memory = 64;
  auto j = open_journal();
  for (int i = 0; i < 500; ++i) ASSERT_FALSE(accept(*j, make_event("auto-" + std::to_string(i)), {}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (j->entries_in_memory() > 128 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_LE(j->entries_in_memory(), 128u);
  EXPECT_GE(j->finished_runs(), 1u);
  Admission adm;
  EventStatus existing;
  for (int i = 0; i < 500; i += 11)
    EXPECT_EQ(j->reserve(adm, Journal::key("default", "auto-" + std::to_string(i)), &existing),
              Reservation::duplicate);
}

// Merges run on their own thread, woken by each new run (the maintenance
// interval is an hour here): four runs of one tier become one without
// compact_finished() being called, and every event is still a duplicate.
TEST_F(JournalTest, MergeThreadMergesFourRunsOfATierOnItsOwn) {
  auto j = open_journal();
  for (int r = 0; r < 4; ++r) {
    for (int i = 0; i < 10; ++i) ASSERT_FALSE(accept(*j, make_event("m-" + std::to_string(r * 10 + i)), {}));
    ASSERT_EQ(j->flush_finished(), 10u);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (j->finished_runs() != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(j->finished_runs(), 1u);
  EXPECT_EQ(j->entries_in_memory(), 0u);
  Admission adm;
  EventStatus existing;
  for (int i = 0; i < 40; ++i)
    EXPECT_EQ(j->reserve(adm, Journal::key("default", "m-" + std::to_string(i)), &existing), Reservation::duplicate);
}

// Events that finish by delivery (no new admissions) also count: after an
// outage, a backlog that drains must leave memory too.
TEST_F(JournalTest, DeliveriesFinishingABacklogAlsoTriggerAFlush) {
  finished_in_memory = 64;
  auto j = open_journal();
  std::vector<DocumentEvent> backlog;
  for (int i = 0; i < 200; ++i) {
    backlog.push_back(make_event("backlog-" + std::to_string(i)));
    ASSERT_FALSE(accept(*j, backlog.back(), {{"bm" + std::to_string(i), "email"}}));
  }
  EXPECT_EQ(j->finished_runs(), 0u);  // all unfinished: nothing to move
  for (int i = 0; i < 200; ++i)
    attempt(*j, backlog[i], "bm" + std::to_string(i), MessageState::delivered, 1, "250 ok");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (j->entries_in_memory() > 64 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_LE(j->entries_in_memory(), 64u);
  auto st = j->status(Journal::key("default", "backlog-3"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->done);
  EXPECT_EQ(st->messages[0].detail, "250 ok");
}

// Runs leave with the window: lookups ignore expired records at once, and
// compaction deletes a run whose newest event expired.
TEST_F(JournalTest, RunsOutsideTheWindowAreForgottenAndDeleted) {
  {
    auto j = open_journal();
    ASSERT_FALSE(accept(*j, make_event("aged"), {}));
    EXPECT_EQ(j->flush_finished(), 1u);
    j->checkpoint();
    j->close();
  }
  window = std::chrono::seconds(0);
  auto j = open_journal();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(j->status(Journal::key("default", "aged")));
  Admission adm;
  EventStatus existing;
  EXPECT_EQ(j->reserve(adm, Journal::key("default", "aged"), &existing), Reservation::fresh);
  j->compact_finished();  // (the merge thread, woken at open, may have deleted it already)
  EXPECT_EQ(j->finished_runs(), 0u);
  j->wait_removals();
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path() / "journal" / "finished")) {
    (void)f;
    ++files;
  }
  EXPECT_EQ(files, 0u);
}

}  // namespace
}  // namespace herald
