#include "core/history/segment_history_log.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

// A history log's settings in `dir`, as heraldd names it.
HistorySettings history_settings(const TempDir& dir) {
  HistorySettings s;
  s.log.dir = dir.path() / "history";
  s.log.name = "history";
  return s;
}

// A stored record as the JSON object herald-logdump prints for it.
boost::json::value stored_json(uint8_t type, std::string_view payload) {
  EXPECT_EQ(type, kHistoryCompactRecord);
  std::string json;
  EXPECT_TRUE(history_record_json(type, payload, json));
  return boost::json::parse(json);
}

TEST(SegmentHistoryLogTest, RecordsAreDurableJsonWithIdsAndRecordedAt) {
  TempDir dir;
  Logger log{nullptr};
  MetricsRegistry metrics;
  HistorySettings s = history_settings(dir);
  {
    SegmentHistoryLog h(s, make_pwrite_log_io(), log, metrics);
    h.open();
    HistoryRecord r;
    r.kind = "email";
    r.status = "delivered";
    r.subject = "Faktúra \"FV\"\r\nBcc: x";
    r.attempt = 2;
    h.append(r);
    h.append(r);
    h.flush();
  }
  SegmentLogOptions o = s.log;
  SegmentLog reader(o, make_pwrite_log_io(), log, metrics);
  std::vector<boost::json::value> recs;
  reader.open([&](uint8_t type, std::string_view p, uint64_t) { recs.push_back(stored_json(type, p)); });
  ASSERT_EQ(recs.size(), 2u);
  const auto& o0 = recs[0].as_object();
  EXPECT_EQ(o0.at("subject").as_string(), "Faktúra \"FV\"\r\nBcc: x");
  EXPECT_EQ(o0.at("attempt").as_int64(), 2);
  EXPECT_TRUE(o0.contains("recorded_at"));
  EXPECT_NE(o0.at("id"), recs[1].as_object().at("id"));
}

// A large accepted batch is handed over whole: its records are encoded on
// the log's own thread, in order with the appends before and after it (the
// one after queues behind it), and the log lets its events go once they
// are written. A small batch is encoded by its caller.
TEST(SegmentHistoryLogTest, ABatchGivenAwayIsWrittenInOrderWithTheAppendsAroundIt) {
  TempDir dir;
  Logger log{nullptr};
  MetricsRegistry metrics;
  HistorySettings s = history_settings(dir);
  auto event = [](int i) {
    DocumentEvent e;
    e.id = "ev-" + std::to_string(i);
    e.type = "invoice.posted";
    e.occurred_at = "2026-12-06T10:00:00Z";
    return e;
  };
  auto batch_of = [&](int first, int n, std::weak_ptr<const DocumentEvent>* shared_out) {
    ReceivedBatch b;
    b.source = "http";
    b.events.reserve(size_t(n));
    for (int i = 0; i < n; ++i) b.events.push_back(event(first + i));
    for (auto& e : b.events) b.received.push_back(&e);
    // The last one produced messages: it lives in a shared_ptr instead.
    auto moved = std::make_shared<const DocumentEvent>(std::move(b.events.back()));
    b.received.back() = moved.get();
    b.shared.push_back(moved);
    if (shared_out) *shared_out = moved;
    return b;
  };
  auto record = [](const char* status) {
    HistoryRecord r;
    r.kind = "email";
    r.status = status;
    return r;
  };
  std::weak_ptr<const DocumentEvent> large_shared;
  {
    SegmentHistoryLog h(s, make_pwrite_log_io(), log, metrics);
    h.open();
    h.append(record("before"));
    h.append_received_batch(batch_of(0, 300, &large_shared));
    h.append(record("after"));
    h.append_received_batch(batch_of(300, 3, nullptr));  // encoded here
    h.flush();
    EXPECT_TRUE(large_shared.expired());
    // With somewhere to go, a batch's events are given back once encoded,
    // the large one's by the encoder's thread, the small one's here.
    auto recycler = std::make_shared<EventRecycler>();
    auto large = batch_of(303, 100, nullptr);
    large.recycle_to = recycler;
    h.append_received_batch(std::move(large));
    h.flush();
    EXPECT_EQ(recycler->take(100).size(), 100u);
    auto small = batch_of(403, 2, nullptr);
    small.recycle_to = recycler;
    h.append_received_batch(std::move(small));
    EXPECT_EQ(recycler->take(1).size(), 2u);
  }
  SegmentLog reader(s.log, make_pwrite_log_io(), log, metrics);
  std::vector<boost::json::object> recs;
  reader.open([&](uint8_t type, std::string_view p, uint64_t) { recs.push_back(stored_json(type, p).as_object()); });
  ASSERT_EQ(recs.size(), 407u);
  EXPECT_EQ(recs[0].at("status").as_string(), "before");
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(recs[size_t(1 + i)].at("event_id").as_string(), "ev-" + std::to_string(i));
    EXPECT_EQ(recs[size_t(1 + i)].at("transport").as_string(), "http");
  }
  EXPECT_EQ(recs[301].at("status").as_string(), "after");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(recs[size_t(302 + i)].at("event_id").as_string(), "ev-" + std::to_string(300 + i));
  // Ids count up in the order of the calls.
  auto seq = [](const boost::json::object& o) {
    const std::string_view id = o.at("id").as_string();
    return std::stoull(std::string(id.substr(id.rfind('-') + 1)));
  };
  for (size_t i = 1; i < recs.size(); ++i) EXPECT_EQ(seq(recs[i]), seq(recs[i - 1]) + 1) << i;
}

// The compact form holds everything the JSON form does: read back, it is
// the same JSON, byte for byte, whatever the fields hold. A payload that is
// not a whole record of either form is refused, never read past its end.
TEST(SegmentHistoryLogTest, TheCompactFormReadsBackAsTheSameJson) {
  const int64_t ms = 1796548720643;  // 2026-12-06T09:18:40.643Z
  const std::string recorded_at = "2026-12-06T09:18:40.643Z";
  std::vector<HistoryFields> cases(4);
  cases[0].kind = "event";
  cases[0].direction = "inbound";
  cases[0].at = "2026-11-20T09:14:03+01:00";
  cases[0].tenant = "default";
  cases[0].partner = "P-BENCH";
  cases[0].document = "FV-2026-0042";
  cases[0].actor = "u17";
  cases[0].event_id = "bulk-2033253660-6-000000000000";
  cases[0].event_type = "invoice.posted";
  cases[0].transport = "http";
  cases[0].status = "received";
  cases[0].known_plain = HistoryFields::kKind | HistoryFields::kDirection | HistoryFields::kAt;
  // Every field, values that need escaping, an attempt; `at` left out
  // (the JSON form then says recorded_at).
  HistoryFields& all = cases[1];
  for (std::string_view* v : {&all.kind, &all.direction, &all.tenant, &all.partner, &all.contact, &all.document,
                              &all.actor, &all.on_behalf_of, &all.event_id, &all.event_type, &all.message_id,
                              &all.template_id, &all.recipient, &all.transport, &all.subject, &all.status, &all.error})
    *v = "x \"q\"\r\n\x01 Faktúra \xff";
  all.attempt = 300;
  cases[2].kind = "email";  // one field
  cases[3].attempt = 1;     // none but an attempt
  for (const HistoryFields& f : cases) {
    std::string json = "keep", compact = "keep";
    encode_history_record(json, f, "h1796548720009-42", recorded_at);
    encode_compact_history_record(compact, f, "h1796548720009-42", ms);
    EXPECT_EQ(compact.substr(0, 4), "keep");
    std::string read = "keep";
    ASSERT_TRUE(history_record_json(kHistoryCompactRecord, std::string_view(compact).substr(4), read));
    EXPECT_EQ(read, json);
    EXPECT_LT(compact.size(), json.size());
  }
  std::string compact;
  encode_compact_history_record(compact, cases[0], "h1796548720009-42", ms);
  EXPECT_LT(compact.size(), 170u);  // ~330 as JSON
  std::string out;
  for (size_t n = 0; n < compact.size(); ++n)
    EXPECT_FALSE(history_record_json(kHistoryCompactRecord, std::string_view(compact).substr(0, n), out)) << n;
  EXPECT_FALSE(history_record_json(kHistoryCompactRecord, compact + "x", out));
  std::string other_version = compact;
  other_version[0] = 2;
  EXPECT_FALSE(history_record_json(kHistoryCompactRecord, other_version, out));
  EXPECT_FALSE(history_record_json(7, compact, out));
  EXPECT_TRUE(out.empty());
  // The JSON form (records written before session 34) reads as it is.
  ASSERT_TRUE(history_record_json(kHistoryJsonRecord, R"({"id":"h1-1"})", out));
  EXPECT_EQ(out, R"({"id":"h1-1"})");
}

TEST(SegmentHistoryLogTest, EncodesPlainValuesExactlyAndEscapesTheOthers) {
  HistoryFields f;
  f.kind = "event";
  f.direction = "inbound";
  f.tenant = "default";
  f.partner = "P-1";
  f.event_id = "ev-1";
  f.status = "received";
  std::string out = "prefix";
  encode_history_record(out, f, "h1-7", "2026-12-04T10:00:00Z");
  EXPECT_EQ(out,
            "prefix{\"id\":\"h1-7\",\"at\":\"2026-12-04T10:00:00Z\",\"recorded_at\":\"2026-12-04T10:00:00Z\","
            "\"kind\":\"event\",\"direction\":\"inbound\",\"tenant\":\"default\",\"partner\":\"P-1\","
            "\"event_id\":\"ev-1\",\"status\":\"received\"}");

  // One value that needs escaping (a quote, a control character, a byte
  // that is not UTF-8) sends the whole record down the escaping path.
  f.at = "2026-01-02T03:04:05+01:00";
  f.partner = "P \"quoted\"\x01\xff";
  f.attempt = 3;
  out.clear();
  encode_history_record(out, f, "h1-8", "2026-12-04T10:00:00Z");
  const auto o = boost::json::parse(out).as_object();
  EXPECT_EQ(o.at("partner").as_string(), "P \"quoted\"\x01\xef\xbf\xbd");
  EXPECT_EQ(o.at("at").as_string(), "2026-01-02T03:04:05+01:00");
  EXPECT_EQ(o.at("attempt").as_int64(), 3);
  EXPECT_EQ(o.size(), 10u);

  // Several escaped values among plain ones, the id among them: each keeps
  // its own text (the escaped ones are written from a scratch buffer).
  HistoryFields m;
  m.kind = "email";
  m.subject = "Faktúra FV-1 – Bench";
  m.recipient = "a@b.example";
  m.error = "550 \"no\"\r\nsuch user";
  m.status = "failed";
  out.clear();
  encode_history_record(out, m, "h\\1", "2026-12-04T10:00:00Z");
  const auto e = boost::json::parse(out).as_object();
  EXPECT_EQ(e.at("id").as_string(), "h\\1");
  EXPECT_EQ(e.at("subject").as_string(), "Faktúra FV-1 – Bench");
  EXPECT_EQ(e.at("recipient").as_string(), "a@b.example");
  EXPECT_EQ(e.at("error").as_string(), "550 \"no\"\r\nsuch user");
  EXPECT_EQ(e.at("status").as_string(), "failed");
  EXPECT_EQ(e.size(), 8u);  // id, at, recorded_at, kind, recipient, subject, status, error
}

// A received event's record: its validated fields are written unscanned
// (HistoryFields::known_plain), the others still escaped when they need it.
TEST(SegmentHistoryLogTest, ReceivedFieldsEscapeWhatValidationLetsThrough) {
  DocumentEvent e;
  e.id = "ev\\\"1";  // printable ASCII, as event ids may be
  e.type = "invoice.posted";
  e.occurred_at = "2026-11-20T09:14:03+01:00";
  e.partner = Party{};
  e.partner->id = "P \"Kováč\"";
  e.document = Document{};
  e.document->number = "FV-1";
  const HistoryFields f = received_fields(e, "http");
  EXPECT_NE(f.known_plain & HistoryFields::kAt, 0u);
  EXPECT_EQ(f.known_plain & ~(HistoryFields::kKind | HistoryFields::kDirection | HistoryFields::kAt |
                              HistoryFields::kTenant | HistoryFields::kEventType | HistoryFields::kTransport |
                              HistoryFields::kStatus),
            0u);
  std::string out;
  encode_history_record(out, f, "h1-9", "2026-12-04T10:00:00Z");
  const auto o = boost::json::parse(out).as_object();
  EXPECT_EQ(o.at("event_id").as_string(), "ev\\\"1");
  EXPECT_EQ(o.at("partner").as_string(), "P \"Kováč\"");
  EXPECT_EQ(o.at("at").as_string(), "2026-11-20T09:14:03+01:00");
  EXPECT_EQ(o.at("tenant").as_string(), "default");
  EXPECT_EQ(o.at("event_type").as_string(), "invoice.posted");
  EXPECT_EQ(o.at("transport").as_string(), "http");
  EXPECT_EQ(o.at("status").as_string(), "received");
  // Plain throughout: the same bytes as a record whose fields were all scanned.
  e.id = "ev-1";
  e.partner->id = "P-1";
  std::string fast, slow;
  encode_history_record(fast, received_fields(e, "redis"), "h1-10", "2026-12-04T10:00:00Z");
  HistoryFields scanned = received_fields(e, "redis");
  scanned.known_plain = 0;
  encode_history_record(slow, scanned, "h1-10", "2026-12-04T10:00:00Z");
  EXPECT_EQ(fast, slow);
}

// The delivery path appends views of the message (outbound_fields): the
// same record, byte for byte, as the owning HistoryRecord it replaced, with
// one recipient or several joined.
TEST(SegmentHistoryLogTest, OutboundFieldsEncodeLikeTheOutboundRecord) {
  auto event = std::make_shared<DocumentEvent>();
  event->id = "ev-42";
  event->type = "invoice.posted";
  event->document = Document{};
  event->document->number = "FV-2026-0042";
  event->actor = Party{};
  event->actor->id = "u17";
  RenderedMessage msg;
  msg.message_id = "0123456789abcdef0123456789abcdef";
  msg.channel = "email";
  msg.template_id = "invoice";
  msg.tenant = "default";
  msg.partner_id = "P-1";
  msg.contact_id = "sales";
  msg.subject = "Faktúra \"FV\"";
  msg.event = event;
  msg.attempt = 2;
  for (auto to : {std::vector<std::string>{"a@b.example"}, std::vector<std::string>{"a@b.example", "c@d.example"}}) {
    msg.to.clear();
    for (auto& address : to) msg.to.push_back({address, ""});
    HistoryRecord r = outbound_record(msg);
    r.transport = "relay";
    r.status = "delivered";
    std::string recipients;
    HistoryFields f = outbound_fields(msg, recipients);
    f.transport = "relay";
    f.status = "delivered";
    std::string owned, viewed;
    encode_history_record(owned, fields_of(r), "h1-1", "2026-12-05T08:00:00Z");
    encode_history_record(viewed, f, "h1-1", "2026-12-05T08:00:00Z");
    EXPECT_EQ(viewed, owned);
    EXPECT_EQ(f.recipient, to.size() == 1 ? "a@b.example" : "a@b.example,c@d.example");
    EXPECT_EQ(boost::json::parse(viewed).as_object().at("document").as_string(), "FV-2026-0042");
  }
}

TEST(SegmentHistoryLogTest, RetentionBySizeRemovesOldestSegmentsOnly) {
  TempDir dir;
  Logger log{nullptr};
  MetricsRegistry metrics;
  HistorySettings s = history_settings(dir);
  s.log.segment_bytes = 64 * 1024;
  s.max_bytes = 200 * 1024;
  SegmentHistoryLog h(s, make_pwrite_log_io(), log, metrics);
  h.open();
  HistoryRecord r;
  r.kind = "note";
  r.subject = std::string(2000, 'n');
  for (int i = 0; i < 300; ++i) {
    h.append(r);
    if (i % 10 == 9) h.flush();  // batches smaller than a segment
  }
  const auto before = h.log().segments();
  ASSERT_GT(before.size(), 4u);
  EXPECT_GT(h.apply_retention(), 0u);
  const auto after = h.log().segments();
  uint64_t total = 0;
  for (const auto& seg : after) total += seg.bytes;
  EXPECT_LE(total, s.max_bytes);
  EXPECT_EQ(after.back().number, before.back().number);  // the current segment stays
}

}  // namespace
}  // namespace herald
