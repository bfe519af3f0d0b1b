#include "core/ingest/event_decoder.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <string>
#include <utility>
#include <vector>

namespace herald {
namespace {

const std::string kGood = R"({
  "id": "erp-7f3c9a", "type": "invoice.posted", "occurred_at": "2026-11-20T09:14:03+01:00",
  "tenant": "acme",
  "actor": {"id": "u17", "name": "Jana Nová"},
  "on_behalf_of": {"id": "u03", "name": "Petr Malý"},
  "partner": {"id": "P-1001", "name": "Stavebniny Kováč s.r.o.", "locale": "sk-SK"},
  "document": {"kind": "invoice", "number": "FV-2026-0042", "status": "posted", "previous_status": "draft",
               "total": "1249.90", "currency": "EUR", "due_date": "2026-12-04",
               "attachments": [{"filename": "FV.pdf", "content_type": "application/pdf", "content_base64": "aGVsbG8="}]},
  "data": {"any": ["free", 1, 2.5, true, null, {"x": "y"}]}
})";

// The good event with `field` replaced by `replacement` (raw JSON text).
std::string with(const std::string& search, const std::string& replacement) {
  std::string s = kGood;
  auto pos = s.find(search);
  EXPECT_NE(pos, std::string::npos) << search;
  s.replace(pos, search.size(), replacement);
  return s;
}

DecodeResult decode(const std::string& body, BodyFormat f = BodyFormat::json) {
  EventDecoder d;
  return d.decode(body, f);
}

bool has_error(const DecodeResult& r, const std::string& field, size_t index = 0) {
  for (const auto& e : r.errors)
    if (e.field == field && e.index == index) return true;
  return false;
}

TEST(EventDecoderTest, AcceptsTheSpecExample) {
  auto r = decode(kGood);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.malformed_reason : r.errors[0].field + ": " + r.errors[0].reason);
  ASSERT_EQ(r.events.size(), 1u);
  const auto& e = r.events[0];
  EXPECT_EQ(e.id, "erp-7f3c9a");
  EXPECT_EQ(e.type, "invoice.posted");
  EXPECT_EQ(e.tenant, "acme");
  EXPECT_EQ(e.actor->name, "Jana Nová");
  EXPECT_EQ(e.on_behalf_of->id, "u03");
  EXPECT_EQ(e.partner->locale, "sk-SK");
  EXPECT_EQ(e.document->total, "1249.90");
  ASSERT_EQ(e.document->attachments.size(), 1u);
  EXPECT_EQ(e.document->attachments[0].content, "hello");
  EXPECT_EQ(to_json(e).at("data").at("any").as_array().size(), 6u);
}

TEST(EventDecoderTest, TenantDefaultsToDefault) {
  auto r = decode(with(R"("tenant": "acme",)", ""));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.events[0].tenant, "default");
}

TEST(EventDecoderTest, EachRequiredFieldMissingIsNamed) {
  for (const char* field : {"id", "type", "occurred_at"}) {
    std::string key = std::string("\"") + field + "\":";
    std::string body = kGood;
    auto pos = body.find(key);
    auto comma = body.find(',', pos);
    body.erase(pos, comma - pos + 1);
    auto r = decode(body);
    EXPECT_FALSE(r.ok()) << field;
    EXPECT_TRUE(has_error(r, field)) << field;
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(EventDecoderTest, NestedRequiredIdsAreNamed) {
  auto r = decode(with(R"({"id": "P-1001", )", "{"));
  EXPECT_TRUE(has_error(r, "partner.id"));
}

TEST(EventDecoderTest, WrongTypesAreRejected) {
  EXPECT_TRUE(has_error(decode(with(R"("id": "erp-7f3c9a")", R"("id": 42)")), "id"));
  EXPECT_TRUE(has_error(decode(with(R"("type": "invoice.posted")", R"("type": ["x"])")), "type"));
  EXPECT_TRUE(has_error(decode(with(R"("data": {)", R"("data": 5, "x": {)")), "data"));
  EXPECT_TRUE(has_error(decode(with(R"("partner": {)", R"("partner": "P", "p2": {)")), "partner"));
  EXPECT_TRUE(has_error(decode(with(R"("total": "1249.90")", R"("total": true)")), "document.total"));
  EXPECT_TRUE(has_error(decode(with(R"("attachments": [)", R"("attachments": 1, "a": [)")), "document.attachments"));
}

TEST(EventDecoderTest, InvalidValuesAreRejected) {
  EXPECT_TRUE(has_error(decode(with("2026-11-20T09:14:03+01:00", "yesterday")), "occurred_at"));
  EXPECT_TRUE(has_error(decode(with("2026-11-20T09:14:03+01:00", "2026-02-30T09:14:03Z")), "occurred_at"));
  EXPECT_TRUE(has_error(decode(with(R"("invoice.posted")", R"("invoice..posted")")), "type"));
  EXPECT_TRUE(has_error(decode(with(R"("erp-7f3c9a")", R"("erp 7f3c9a")")), "id"));
  EXPECT_TRUE(has_error(decode(with("1249.90", "12,49")), "document.total"));
  EXPECT_TRUE(has_error(decode(with(R"("EUR")", R"("euro")")), "document.currency"));
  EXPECT_TRUE(has_error(decode(with("2026-12-04", "04.12.2026")), "document.due_date"));
  EXPECT_TRUE(has_error(decode(with("aGVsbG8=", "a$GVsbG8")), "document.attachments[0].content_base64"));
  EXPECT_TRUE(has_error(decode(with(R"("FV.pdf")", R"("../etc/passwd")")), "document.attachments[0].filename"));
}

TEST(EventDecoderTest, ControlCharactersInNamesAreRejected) {
  // A CRLF in a name could become a header injection downstream.
  auto r = decode(with(R"("Jana Nová")", R"("Jana\r\nBcc: victim@example.com")"));
  EXPECT_TRUE(has_error(r, "actor.name"));
  r = decode(with(R"("Jana Nová")", R"("Jana\u2028Nová")"));
  EXPECT_TRUE(has_error(r, "actor.name"));
}

TEST(EventDecoderTest, OversizedFieldsAreRejected) {
  EXPECT_TRUE(has_error(decode(with(R"("erp-7f3c9a")", "\"" + std::string(129, 'x') + "\"")), "id"));
  EXPECT_TRUE(has_error(decode(with(R"("Jana Nová")", "\"" + std::string(1025, 'x') + "\"")), "actor.name"));
  auto ok = decode(with(R"("erp-7f3c9a")", "\"" + std::string(128, 'x') + "\""));
  EXPECT_TRUE(ok.ok());
}

TEST(EventDecoderTest, UnknownAndDuplicateFieldsAreRejected) {
  EXPECT_TRUE(has_error(decode(with(R"("tenant": "acme",)", R"("tenant": "acme", "colour": "red",)")), "colour"));
  EXPECT_TRUE(has_error(decode(with(R"("locale": "sk-SK")", R"("locale": "sk-SK", "vat": "x")")), "partner.vat"));
  EXPECT_TRUE(has_error(decode(with(R"("tenant": "acme",)", R"("tenant": "acme", "tenant": "evil",)")), "tenant"));
}

TEST(EventDecoderTest, RepeatedKeysInsideObjectsKeepTheLastValue) {
  // Top-level keys may not repeat (above); inside a party or `data` the last
  // one wins, as in most JSON parsers, and values never run together.
  auto r = decode(with(R"("id": "u17", "name": "Jana Nová")", R"("id": "u16", "name": "Jana Nová", "id": "u17")"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.events[0].actor->id, "u17");
  r = decode(with(R"("data": {"any")", R"("data": {"k": 1, "k": {"n": [2]}, "any")"));
  ASSERT_TRUE(r.ok());
  const auto data = to_json(r.events[0]).at("data").as_object();
  EXPECT_EQ(data.size(), 2u);
  EXPECT_EQ(data.at("k").at("n").at(0).as_int64(), 2);
  EXPECT_EQ(data.at("any").at(5).at("x").as_string(), "y");
}

// `data` is kept as text and parsed by to_json: what rules and templates
// see must be the values sent, of the same JSON types.
TEST(EventDecoderTest, DataReachesRulesAndTemplatesWithItsValuesAndTypes) {
  auto r = decode(with(R"("data": {"any")", R"("data": {"big": 18446744073709551615, "neg": -7, "pi": 3.25,)"
                                            R"( "esc": "a\"b\\c\n\u0001ž\u20ac", "obj": {"e": []}, "any")"));
  ASSERT_TRUE(r.ok());
  const auto data = to_json(r.events[0]).at("data").as_object();
  EXPECT_EQ(data.at("big").as_uint64(), 18446744073709551615ull);
  EXPECT_EQ(data.at("neg").as_int64(), -7);
  EXPECT_EQ(data.at("pi").as_double(), 3.25);
  EXPECT_EQ(data.at("esc").as_string(), "a\"b\\c\n\x01ž€");
  EXPECT_TRUE(data.at("obj").at("e").as_array().empty());
  EXPECT_EQ(data.at("any").at(2).as_double(), 2.5);
  EXPECT_TRUE(data.at("any").at(4).is_null());
  // An empty object is no data; an event given back for reuse keeps none.
  EventDecoder d;
  auto empty = d.decode(with(R"("data": {"any": ["free", 1, 2.5, true, null, {"x": "y"}]})", R"("data": {})"),
                        BodyFormat::json);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(to_json(empty.events[0]).contains("data"));
}

TEST(EventDecoderTest, BadUtf8IsMalformed) {
  std::string body = with("Jana Nová", "Jana \xC3\x28");
  auto r = decode(body);
  EXPECT_TRUE(r.malformed);
  EXPECT_NE(r.malformed_reason.find("UTF-8"), std::string::npos);
}

TEST(EventDecoderTest, SyntaxErrorsAreMalformed) {
  for (const char* body : {"", "{", "{\"id\": }", "[1,", "nul", "{\"a\":1}}"}) {
    auto r = decode(body);
    EXPECT_TRUE(r.malformed) << body;
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(EventDecoderTest, DeepNestingIsMalformed) {
  std::string deep = std::string(200, '[') + std::string(200, ']');
  auto r = decode(with(R"("data": {)", R"("data": {"deep": )" + deep + ", "));
  EXPECT_TRUE(r.malformed);
}

TEST(EventDecoderTest, BatchIsAllOrNothing) {
  std::string bad = with(R"("type": "invoice.posted")", R"("type": 1)");
  auto r = decode("[" + kGood + "," + bad + "," + kGood + "]");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.events.empty());
  EXPECT_TRUE(has_error(r, "type", 1));
  auto ok = decode("[" + kGood + "," + kGood + "]");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.events.size(), 2u);
}

TEST(EventDecoderTest, EmptyBatchIsRejected) { EXPECT_TRUE(decode("[]").malformed); }

TEST(EventDecoderTest, NdjsonBatchesNameTheBadLine) {
  std::string one = R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  std::string two = R"({"id":"b","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  auto r = decode(one + "\n" + two + "\n", BodyFormat::ndjson);
  ASSERT_TRUE(r.ok()) << r.malformed_reason;
  EXPECT_EQ(r.events.size(), 2u);
  auto bad = decode(one + "\n" + R"({"id":"b","type":"t.x"})" + "\n", BodyFormat::ndjson);
  EXPECT_TRUE(has_error(bad, "occurred_at", 1));
  EXPECT_TRUE(bad.events.empty());
  auto broken = decode(one + "\n{\"id\":\n", BodyFormat::ndjson);
  EXPECT_TRUE(broken.malformed);
}

TEST(EventDecoderTest, NdjsonLinesKeepTheirOwnText) {
  std::string one = R"({"id":"a", "type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  std::string two = R"({"id":"b","type":"t.x","occurred_at":"2026-11-20T09:14:03Z", "data":{"k":[1, 2]}})";
  auto r = decode(one + "\n" + two + "\n", BodyFormat::ndjson);
  ASSERT_TRUE(r.ok()) << r.malformed_reason;
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].json, one);  // journaled as received, not re-serialized
  EXPECT_EQ(r.events[1].json, two);
  EXPECT_EQ(to_json(r.events[1]).at("data").at("k").as_array().size(), 2u);
}

// borrow_text: a body parsed in place leaves each event's text where it is
// (json_view into the body, json empty); one that had to be copied into
// the decoder's buffer (not padded), and an array's elements (re-serialized),
// still get a text of their own.
TEST(EventDecoderTest, BorrowedTextPointsIntoTheBodyOnlyWhenItIsParsedInPlace) {
  std::string one = R"({"id":"a", "type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  std::string two = R"({"id":"b","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  std::string body = one + "\n" + two + "\n";
  body.reserve(body.size() + kDecoderPadding);
  EventDecoder d;
  DecodeResult r = d.decode(body, BodyFormat::ndjson, true, true);
  ASSERT_TRUE(r.ok()) << r.malformed_reason;
  ASSERT_EQ(r.events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(r.events[i].json.empty());
    EXPECT_GE(r.events[i].json_view.data(), body.data());
    EXPECT_LE(r.events[i].json_view.data() + r.events[i].json_view.size(), body.data() + body.size());
  }
  EXPECT_EQ(r.events[0].text(), one);
  EXPECT_EQ(r.events[1].text(), two);
  DecodeResult copied = d.decode(body, BodyFormat::ndjson, false, true);
  ASSERT_EQ(copied.events.size(), 2u);
  EXPECT_EQ(copied.events[0].json, one);
  EXPECT_TRUE(copied.events[0].json_view.empty());
  std::string array = "[" + one + "]";
  array.reserve(array.size() + kDecoderPadding);
  DecodeResult element = d.decode(array, BodyFormat::json, true, true);
  ASSERT_EQ(element.events.size(), 1u);
  EXPECT_EQ(element.events[0].json, R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})");
  EXPECT_TRUE(element.events[0].json_view.empty());
}

TEST(EventDecoderTest, DecodeAppendKeepsEarlierEventsAndReportsOnlyThisBody) {
  EventDecoder d;
  DecodeResult batch;
  std::string one = R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  std::string two = R"({"id":"b","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  ASSERT_TRUE(d.decode_append(one, BodyFormat::json, batch));
  // An invalid body appends nothing and names its own problem only.
  EXPECT_FALSE(d.decode_append(R"({"id":"c","type":"t.x"})", BodyFormat::json, batch));
  EXPECT_TRUE(has_error(batch, "occurred_at", 0));
  EXPECT_FALSE(d.decode_append("{not json", BodyFormat::json, batch));
  EXPECT_TRUE(batch.malformed);
  ASSERT_TRUE(d.decode_append(two, BodyFormat::json, batch));
  EXPECT_TRUE(batch.errors.empty());
  EXPECT_FALSE(batch.malformed);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].id, "a");
  EXPECT_EQ(batch.events[1].id, "b");
  // A bad NDJSON line drops only that body's events.
  EXPECT_FALSE(d.decode_append(one + "\n{\"id\":\n", BodyFormat::ndjson, batch));
  EXPECT_EQ(batch.events.size(), 2u);
}

// A body decoded in place (`padded`) decodes exactly as a copied one,
// whatever the bytes after its end hold: simdjson reads them, but they must
// not change a verdict (a truncated document stays truncated even when a
// quote or brace follows it in memory).
TEST(EventDecoderTest, PaddedBodiesDecodeAsCopiedOnesWhateverFollowsThem) {
  std::string one = R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  const std::vector<std::pair<std::string, BodyFormat>> bodies = {
      {kGood, BodyFormat::json},
      {"[" + one + "," + kGood + "]", BodyFormat::json},
      {one + "\n" + one, BodyFormat::ndjson},
      {one + "\n" + R"({"id":"b","type":"t.x"})", BodyFormat::ndjson},
      {R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z)", BodyFormat::json},
      {R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z")", BodyFormat::json},
      {one + "\n{\"id\":", BodyFormat::ndjson},
      {"[" + one + ",", BodyFormat::json},
      {"12", BodyFormat::json},
      {"", BodyFormat::ndjson},
  };
  for (const std::string& tail : {std::string(kDecoderPadding, '\0'), std::string(kDecoderPadding, '"'),
                                 std::string(kDecoderPadding, '}'), std::string(kDecoderPadding, '9')}) {
    for (const auto& [body, format] : bodies) {
      // The body with `tail` in its spare capacity, as PaddedStringBody leaves it.
      std::string padded = body + tail;
      padded.resize(body.size());
      ASSERT_GE(padded.capacity() - padded.size(), kDecoderPadding);
      EventDecoder d;
      DecodeResult copied = d.decode(body, format);
      DecodeResult in_place = d.decode(padded, format, true);
      SCOPED_TRACE(body + " followed by " + tail.substr(0, 1));
      EXPECT_EQ(in_place.malformed, copied.malformed);
      EXPECT_EQ(in_place.malformed_reason, copied.malformed_reason);
      ASSERT_EQ(in_place.errors.size(), copied.errors.size());
      for (size_t i = 0; i < copied.errors.size(); ++i) EXPECT_EQ(in_place.errors[i].field, copied.errors[i].field);
      ASSERT_EQ(in_place.events.size(), copied.events.size());
      for (size_t i = 0; i < copied.events.size(); ++i) EXPECT_EQ(in_place.events[i].json, copied.events[i].json);
    }
  }
}

TEST(EventDecoderTest, BatchLimitIsEnforced) {
  DecoderLimits limits;
  limits.max_batch_events = 2;
  EventDecoder d(limits);
  std::string one = R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  EXPECT_TRUE(d.decode("[" + one + "," + one + "," + one + "]", BodyFormat::json).malformed);
  EXPECT_TRUE(d.decode(one + "\n" + one + "\n" + one, BodyFormat::ndjson).malformed);
}

TEST(EventDecoderTest, DecoderIsReusable) {
  EventDecoder d;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(d.decode(kGood, BodyFormat::json).ok());
    EXPECT_TRUE(d.decode("{", BodyFormat::json).malformed);
  }
}

// Every part an event can have, attachments aside (a vector holding those
// is not kept for reuse).
const std::string kFull =
    R"({"id":"erp-full-000000000001","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03.123456+01:00",)"
    R"("tenant":"acme","actor":{"id":"u17","name":"Jana Nová","email":"jana@example.com","phone":"+421 900 123 456",)"
    R"("locale":"sk-SK"},"on_behalf_of":{"id":"u03","name":"Petr Malý","email":"petr@example.com"},)"
    R"("partner":{"id":"P-1001","name":"Stavebniny Kováč s.r.o.","email":"info@kovac.example","phone":"+421 2 1234",)"
    R"("locale":"sk-SK"},"document":{"id":"D-77","kind":"invoice","number":"FV-2026-0042","status":"posted",)"
    R"("previous_status":"draft","total":"1249.90","currency":"EUR","due_date":"2026-12-04"},)"
    R"("data":{"order_ref":"OBJ-881","tags":["vip","b2b"],"nested":{"k":"a value long enough to be allocated"}}})";

// An event as everything downstream sees it: its fields and its text.
std::string seen_as(const DocumentEvent& e) {
  return boost::json::serialize(to_json(e, true)) + "\n" + std::string(e.text());
}

// Events validated into a batch given back (EventRecycler) are exactly
// what a fresh decoder makes of the same body: no field of the earlier
// events is left, whichever parts the new ones lack, with more or fewer
// events than the spares and whatever the body's form.
TEST(EventDecoderTest, EventsValidatedIntoAGivenBackBatchKeepNothingOfTheEarlierOnes) {
  const std::vector<std::string> later = {
      R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})",
      R"({"id":"b","type":"t.y","occurred_at":"2026-11-20T09:14:03Z","actor":{"id":"u1"}})",
      R"({"id":"c","type":"t.z","occurred_at":"2026-11-20T09:14:03Z","partner":{"id":"P","name":"N"},)"
      R"("document":{"number":"7","total":12},"data":{"other":1}})",
      R"({"id":"d","type":"t.w","occurred_at":"2026-11-20T09:14:03Z","tenant":"t2","on_behalf_of":{"id":"o"},)"
      R"("document":{"kind":"order"},"data":{}})",
  };
  std::string ndjson, array = "[";
  for (size_t i = 0; i < later.size(); ++i) {
    ndjson += (i ? "\n" : "") + later[i];
    array += (i ? "," : "") + later[i];
  }
  array += "]";
  const std::string full3 = kFull + "\n" + kFull + "\n" + kFull;
  for (const auto& [body, format] : std::vector<std::pair<std::string, BodyFormat>>{
           {ndjson, BodyFormat::ndjson}, {array, BodyFormat::json}, {later[2], BodyFormat::json}}) {
    EventDecoder fresh;
    const DecodeResult want = fresh.decode(body, format);
    ASSERT_TRUE(want.ok());
    EventDecoder d;
    DecodeResult earlier = d.decode(full3, BodyFormat::ndjson);
    ASSERT_TRUE(earlier.ok());
    ASSERT_EQ(earlier.events.size(), 3u);
    d.recycler()->give_back(std::move(earlier.events));
    const DecodeResult got = d.decode(body, format);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got.events.size(), want.events.size());
    for (size_t i = 0; i < got.events.size(); ++i) EXPECT_EQ(seen_as(got.events[i]), seen_as(want.events[i])) << i;
    EXPECT_TRUE(d.recycler()->take(3).empty());  // the spares were used (or dropped), not kept
  }
}

// An invalid or malformed body decoded into a batch given back returns no
// events at all: neither the spares nor the ones validated before the bad one.
TEST(EventDecoderTest, ABadBodyDecodedIntoAGivenBackBatchReturnsNoEvents) {
  EventDecoder d;
  for (const std::string& bad : {std::string("{"), kFull + "\n" + R"({"id":"x"})", kFull + "\n[1"}) {
    DecodeResult earlier = d.decode(kFull + "\n" + kFull, BodyFormat::ndjson);
    ASSERT_TRUE(earlier.ok());
    d.recycler()->give_back(std::move(earlier.events));
    const DecodeResult r = d.decode(bad, BodyFormat::ndjson);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.events.empty()) << bad;
  }
}

// The recycler keeps the newest batches (kMaxSpare, kMaxKeptTotal events),
// none larger than a bulk request's or whose events hold attachments or a
// large text of their own, and hands out the largest of no more than about
// the size asked for.
TEST(EventRecyclerTest, KeepsTheNewestSmallBatchesAndHandsOutOnesOfTheRightSize) {
  EventRecycler r;
  auto batch = [](size_t n) { return std::vector<DocumentEvent>(n); };
  r.give_back(batch(0));
  EXPECT_TRUE(r.take(1).empty());
  auto with_attachment = batch(3);
  with_attachment[1].document.emplace().attachments.push_back({"a.pdf", "application/pdf", "bytes"});
  r.give_back(std::move(with_attachment));
  EXPECT_TRUE(r.take(3).empty());
  auto with_big_text = batch(3);
  with_big_text[2].json.assign(EventRecycler::kMaxKeptTextBytes + 1, 'x');
  r.give_back(std::move(with_big_text));
  EXPECT_TRUE(r.take(3).empty());
  r.give_back(batch(EventRecycler::kMaxKeptEvents + 1));
  EXPECT_TRUE(r.take(EventRecycler::kMaxKeptEvents + 1).empty());
  r.give_back(batch(2));
  for (size_t i = 0; i + 2 < EventRecycler::kMaxSpare; ++i) r.give_back(batch(3));
  r.give_back(batch(500));
  r.give_back(batch(4));  // kMaxSpare batches before it: the 2 goes
  EXPECT_EQ(r.take(1).size(), 4u);  // the largest of at most 2 * 1 + 2; a bulk request's spares are not a small one's
  while (r.take(1).size() == 3) {
  }
  EXPECT_TRUE(r.take(1).empty());  // the 2 went
  EXPECT_EQ(r.take(400).size(), 500u);
  EXPECT_TRUE(r.take(400).empty());
  // Events in all: the oldest batches go to keep within kMaxKeptTotal.
  EventRecycler bulk;
  const size_t fit = EventRecycler::kMaxKeptTotal / EventRecycler::kMaxKeptEvents;
  for (size_t i = 0; i <= fit; ++i) bulk.give_back(batch(EventRecycler::kMaxKeptEvents));
  size_t kept = 0;
  while (!bulk.take(EventRecycler::kMaxKeptEvents).empty()) ++kept;
  EXPECT_EQ(kept, fit);
}

// Batches of one event (single-event requests, many in flight at once) are
// kept apart, up to kMaxSingles: the eight spares of larger batches do not
// push them out, and a single-event request takes the newest of them.
TEST(EventRecyclerTest, KeepsSingleEventBatchesApartFromTheLargerSpares) {
  EventRecycler r;
  for (size_t i = 0; i < EventRecycler::kMaxSingles + 10; ++i) {
    std::vector<DocumentEvent> one(1);
    one[0].id = "e" + std::to_string(i);
    r.give_back(std::move(one));
  }
  for (size_t i = 0; i < EventRecycler::kMaxSpare; ++i) r.give_back(std::vector<DocumentEvent>(3));
  auto newest = r.take(1);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].id, "e" + std::to_string(EventRecycler::kMaxSingles - 1));  // those over the bound were freed
  EXPECT_TRUE(r.take(2).size() == 3u);  // a batch of two never gets a single
  size_t singles = 1;
  while (r.take(1).size() == 1) ++singles;  // then one of 3, once the singles ran out
  EXPECT_EQ(singles, EventRecycler::kMaxSingles);
  size_t threes = 0;
  while (r.take(3).size() == 3) ++threes;
  EXPECT_EQ(threes, EventRecycler::kMaxSpare - 2);
}

// A single event decoded while a bulk request's batch is given back leaves
// that batch for the next bulk request.
TEST(EventDecoderTest, ASingleEventLeavesABulkBatchGivenBackForTheNextBulkRequest) {
  EventDecoder d;
  std::string bulk;
  for (int i = 0; i < 300; ++i) bulk += (i ? "\n" : "") + kFull;
  DecodeResult earlier = d.decode(bulk, BodyFormat::ndjson);
  ASSERT_TRUE(earlier.ok());
  d.recycler()->give_back(std::move(earlier.events));
  const DecodeResult one = d.decode(kFull, BodyFormat::json);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.events.size(), 1u);
  EXPECT_EQ(d.recycler()->take(300).size(), 300u);
}

TEST(FieldValidatorsTest, EmailAddresses) {
  EXPECT_TRUE(is_valid_email_address("predaj@kovac.sk"));
  EXPECT_TRUE(is_valid_email_address("a.b+tag@x-y.example"));
  EXPECT_FALSE(is_valid_email_address("a@x>\r\nRCPT TO:<evil@y"));
  EXPECT_FALSE(is_valid_email_address("no-at-sign"));
  EXPECT_FALSE(is_valid_email_address("a..b@x.sk"));
  EXPECT_FALSE(is_valid_email_address("a b@x.sk"));
  EXPECT_FALSE(is_valid_email_address("<a@x.sk>"));
}

TEST(FieldValidatorsTest, Rfc3339) {
  EXPECT_TRUE(is_valid_rfc3339("2026-11-20T09:14:03Z"));
  EXPECT_TRUE(is_valid_rfc3339("2026-11-20T09:14:03.123456-05:30"));
  EXPECT_TRUE(is_valid_rfc3339("2024-02-29T00:00:00Z"));
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T09:14:03"));
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T24:00:00Z"));
  EXPECT_FALSE(is_valid_rfc3339("2025-02-29T00:00:00Z"));
  // Every digit position is checked, and every range.
  EXPECT_FALSE(is_valid_rfc3339("2026-1x-20T09:14:03Z"));
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T0x:14:03Z"));
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T09:60:03Z"));
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T09:14:61Z"));
  EXPECT_TRUE(is_valid_rfc3339("2026-11-20T09:14:60Z"));  // a leap second
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T09:14:03+24:00"));
  EXPECT_FALSE(is_valid_rfc3339("2026-11-20T09:14:03+01:6x"));
  EXPECT_FALSE(is_valid_rfc3339("2026-13-20T09:14:03Z"));
  EXPECT_FALSE(is_valid_rfc3339("2026-00-20T09:14:03Z"));
  EXPECT_FALSE(is_valid_rfc3339("-026-11-20T09:14:03Z"));
}

}  // namespace
}  // namespace herald
