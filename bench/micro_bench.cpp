// Google Benchmark micro benchmarks of herald's stages (SPEC §10):
//   BM_ParseEvent     EventDecoder: one invoice event (simdjson + validation)
//   BM_JournalAppend  SegmentLog group commit: a batch of 64 × 512 B records + fdatasync
//   BM_SmtpDataEncode CRLF normalization + dot-stuffing of a 140 KB message
//   BM_Match          100k partners × 10 contacts (1M actions) + 1k global rules
//   BM_RenderTemplate a ~1 KB e-mail text template into a reused buffer
//   BM_RenderMessage  MessageRenderer: context, locale, sender, subject+text+html
//   BM_ExpressionEval a three-clause `when`
//   BM_MimeBuild      a MIME message with a 100 KB attachment
//   BM_FinishedLookup an id looked up in 8 runs of 65 536 finished events:
//                     /0 a new id (filters only), /1 a duplicate (one block read)
//   BM_FinishedBatchLookup 500 new ids against 11 runs of ~3M events
//   BM_FinishedSortByHash a flush's 16 384 records sorted by (hash, key)
// Each reports allocs/op: operator new is counted in this binary.
//
//   build/release/bench/herald-micro-bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <map>
#include <random>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/ingest/event_decoder.hpp"
#include "core/match/rule_index.hpp"
#include "core/journal/finished_store.hpp"
#include "core/journal/journal.hpp"
#include "core/storage/crc32c.hpp"
#include "core/storage/log_io.hpp"
#include "core/storage/segment_log.hpp"
#include "transports/smtp/smtp_data.hpp"
#include "core/render/message_renderer.hpp"
#include "transports/mime/mime_builder.hpp"
// The tests' scoped temporary directory (mkdtemp, removed at scope exit).
#include "tests/unit/temp_dir.hpp"

namespace {
std::atomic<uint64_t> g_allocs{0};
}

void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace herald {
namespace {

namespace json = boost::json;

// Counts allocations over a benchmark loop and reports them per iteration.
class AllocCounter {
 public:
  explicit AllocCounter(benchmark::State& s) : state_(s), start_(g_allocs.load()) {}
  ~AllocCounter() {
    state_.counters["allocs/op"] = benchmark::Counter(static_cast<double>(g_allocs.load() - start_),
                                                      benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
  uint64_t start_;
};

mustache::Template compile(std::string_view src) {
  mustache::Template t;
  mustache::CompileError err;
  if (!mustache::Template::compile(src, t, err)) throw std::runtime_error(err.reason);
  return t;
}

Expression expr(std::string_view src) {
  Expression e;
  ExpressionError err;
  if (!Expression::compile(src, e, err)) throw std::runtime_error(err.reason);
  return e;
}

constexpr const char* kTypes[] = {"invoice.posted",          "stock_document.posted",   "customer_order.created",
                                  "customer_order.realized", "supplier_order.created",  "case.status_changed",
                                  "customer_order.status_changed", "user.registered", "user.password_reset",
                                  "interaction.registered"};

const char* kText = R"(Dobrý deň {{contact.name}},

zaúčtovali sme faktúru {{document.number}} zo dňa {{occurred_at | date}} na sumu {{document.total | money}}
so splatnosťou {{document.due_date | date}}. Faktúru nájdete v prílohe tejto správy.

{{#document.status}}Stav dokladu: {{document.status}} (predtým {{document.previous_status}}).{{/document.status}}
Odberateľ: {{partner.name}}, IČO {{partner.id}}
Vystavil(a): {{actor.name}}

Ak máte k faktúre otázky, odpovedzte prosím na tento e-mail alebo kontaktujte svojho obchodného
zástupcu. Platbu prosím uhraďte na účet uvedený na faktúre s variabilným symbolom {{document.number}}.
Pri platbe po splatnosti si vyhradzujeme právo účtovať úrok z omeškania podľa obchodného zákonníka.

Ďakujeme, že nakupujete u nás. Prajeme pekný deň.
{{#data.note}}Poznámka: {{data.note}}{{/data.note}}
Upozornenie: táto správa bola vytvorená automaticky systémom herald pre {{partner.name}}. Ak ste ju dostali
omylom, informujte nás prosím a správu vymažte. Údaje o platbe: {{document.total | money}}, {{document.number}}.
S pozdravom, oddelenie fakturácie. Tento e-mail neobsahuje záväzné ponuky; obchodné podmienky nájdete na webe.
)";

// Partner "P-<p>" with 10 contacts, one action each on kTypes[c].
void add_bench_partner(PartnerDirectory::Builder& b, int p) {
  Partner partner;
  partner.id = "P-" + std::to_string(p);
  partner.name = "Partner " + std::to_string(p);
  partner.locale = "sk-SK";
  for (int c = 0; c < 10; ++c) {
    Contact contact;
    contact.id = "c" + std::to_string(c);
    contact.value = "c" + std::to_string(c) + "@p" + std::to_string(p) + ".example";
    contact.name = "Kontakt " + std::to_string(c);
    Action a;
    a.on = kTypes[c];
    a.template_id = "invoice-email";
    contact.actions.push_back(std::move(a));
    partner.contacts.push_back(std::move(contact));
  }
  b.add(partner, "bench", [](size_t, size_t) { return std::string("bench"); });
}

struct World {
  ResourceSet set;
  std::unique_ptr<ResourceSnapshot> snap;
};

World& world() {
  static World w = [] {
    World w;
    Template t;
    t.id = "invoice-email";
    t.base.part[static_cast<size_t>(Part::subject)] = compile("Faktúra {{document.number}} – {{partner.name}}");
    t.base.part[static_cast<size_t>(Part::text)] = compile(kText);
    t.base.part[static_cast<size_t>(Part::html)] = compile("<p>Faktúra <b>{{document.number}}</b></p>");
    for (Part p : {Part::subject, Part::text, Part::html}) t.base.has[static_cast<size_t>(p)] = true;
    w.set.templates.emplace(t.id, std::move(t));
    Sender s;
    s.id = "default";
    s.from = {"fakturacia@herald.example", "Herald"};
    s.signature_text = compile("Herald s.r.o.\n");
    s.has_signature_text = true;
    w.set.senders.emplace(s.id, std::move(s));
    // 1k global rules: 990 on exact types nobody sends, 10 on real types or globs.
    for (int i = 0; i < 1000; ++i) {
      Rule r;
      r.id = "rule-" + std::to_string(i);
      r.on = i < 990 ? "custom.type_" + std::to_string(i) : (i % 2 ? std::string(kTypes[i % 10]) : "case.*");
      r.when = expr("document.total > 100000 and partner.locale == \"cs-CZ\"");
      RecipientSpec spec;
      spec.kind = RecipientSpec::Kind::literal;
      spec.literal = {ContactKind::email, "ops@herald.example", "Ops"};
      r.to.push_back(spec);
      r.template_id = "invoice-email";
      w.set.rules.emplace(r.id, std::move(r));
    }
    // 100k partners × 10 contacts, one action each (1M actions).
    PartnerDirectory::Builder partners;
    for (int p = 0; p < 100'000; ++p) add_bench_partner(partners, p);
    w.set.file_partners = std::make_shared<const PartnerCatalog>(PartnerCatalog::Shards{partners.build()});
    w.snap = std::make_unique<ResourceSnapshot>(std::move(w.set), 1);
    return w;
  }();
  return w;
}

std::shared_ptr<DocumentEvent> make_event(const std::string& partner) {
  auto e = std::make_shared<DocumentEvent>();
  e->id = "erp-7f3c9a";
  e->type = "invoice.posted";
  e->occurred_at = "2026-11-20T09:14:03+01:00";
  e->actor = Party{"u17", "Jana Nová", "", "", ""};
  e->partner = Party{partner, "", "", "", ""};
  e->document = Document{};
  e->document->number = "FV-2026-0042";
  e->document->status = "posted";
  e->document->previous_status = "draft";
  e->document->total = "1249.90";
  e->document->currency = "EUR";
  e->document->due_date = "2026-12-04";
  return e;
}

// Arg: how many distinct partners the events rotate over (1 = cache-hot;
// 100000 = every lookup a cache miss, the realistic case).
void BM_Match(benchmark::State& state) {
  const auto& snap = *world().snap;
  std::vector<std::shared_ptr<DocumentEvent>> events;
  std::mt19937 rng(42);
  const auto spread = static_cast<unsigned>(state.range(0));
  for (int i = 0; i < 1024; ++i) events.push_back(make_event("P-" + std::to_string(rng() % spread)));
  std::vector<MatchedAction> out;
  out.reserve(64);
  size_t i = 0, matched = 0;
  AllocCounter allocs(state);
  for (auto _ : state) {
    const auto& e = *events[i++ & 1023];
    EventContext ctx(e);
    out.clear();
    snap.index.match(e, ctx, out);
    matched += out.size();
  }
  benchmark::DoNotOptimize(matched);
  state.counters["actions"] = static_cast<double>(snap.index.size());
}
BENCHMARK(BM_Match)->Arg(1)->Arg(100'000);

// The partner lookup alone, 100k partners × 10 contacts rotated at random
// (every lookup a cache miss). Arg: how many shards the catalog has (1: it
// asks the directory; 100: the files of bench/gen_partners.py, one per
// 1 000 partners, found through the catalog's own table first).
void BM_PartnerFind(benchmark::State& state) {
  const auto shards = static_cast<int>(state.range(0));
  static std::map<int, std::shared_ptr<const PartnerCatalog>> catalogs;
  auto& catalog = catalogs[shards];
  if (!catalog) {
    PartnerCatalog::Shards parts;
    const int per_shard = 100'000 / shards;
    for (int s = 0; s < shards; ++s) {
      PartnerDirectory::Builder b;
      for (int p = s * per_shard; p < (s + 1) * per_shard; ++p) add_bench_partner(b, p);
      parts.push_back(b.build());
    }
    catalog = std::make_shared<const PartnerCatalog>(std::move(parts));
  }
  std::vector<std::string> ids;
  std::mt19937 rng(42);
  for (int i = 0; i < 4096; ++i) ids.push_back("P-" + std::to_string(rng() % 100'000));
  size_t i = 0, found = 0;
  for (auto _ : state) {
    PartnerView p = catalog->find("default", ids[i++ & 4095]);
    found += p.action_count();
  }
  benchmark::DoNotOptimize(found);
}
BENCHMARK(BM_PartnerFind)->Arg(1)->Arg(100);

void BM_RenderTemplate(benchmark::State& state) {
  auto t = compile(kText);
  auto e = make_event("P-1");
  json::value ctx = to_json(*e);
  ctx.as_object()["contact"] = json::object{{"name", "Ján Kováč"}};
  ctx.as_object()["partner"].as_object()["name"] = "Stavebniny Kováč s.r.o.";
  mustache::RenderOptions opt{mustache::Escape::none, nullptr, find_locale("sk-SK")};
  std::string out;
  mustache::render(t, ctx, opt, out);
  state.counters["bytes"] = static_cast<double>(out.size());
  AllocCounter allocs(state);
  for (auto _ : state) {
    out.clear();
    mustache::render(t, ctx, opt, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_RenderTemplate);

void BM_RenderMessage(benchmark::State& state) {
  const auto& snap = *world().snap;
  auto e = make_event("P-7");
  EventContext ctx(*e);
  std::vector<MatchedAction> out;
  snap.index.match(*e, ctx, out);
  MessageRenderer renderer({"noreply@herald.example", ""}, "sk-SK");
  AllocCounter allocs(state);
  for (auto _ : state) {
    auto msg = renderer.render(e, out.front(), snap.resources, ctx);
    benchmark::DoNotOptimize(msg.text.data());
  }
}
BENCHMARK(BM_RenderMessage);

void BM_ExpressionEval(benchmark::State& state) {
  auto e = make_event("P-1");
  json::value ctx = to_json(*e);
  Expression x = expr(R"(document.total >= 1000 and partner.id starts_with "P-" and document.status not in ["Přijata", "Nedořešená"])");
  AllocCounter allocs(state);
  for (auto _ : state) benchmark::DoNotOptimize(x.evaluate(ctx));
}
BENCHMARK(BM_ExpressionEval);

void BM_MimeBuild(benchmark::State& state) {
  auto e = make_event("P-1");
  std::string pdf(100 * 1024, '\0');
  std::mt19937 rng(7);
  for (auto& c : pdf) c = static_cast<char>(rng());
  e->document->attachments.push_back({"FV-2026-0042.pdf", "application/pdf", pdf});
  RenderedMessage m;
  m.message_id = "0123456789abcdef0123456789abcdef";
  m.from = {"fakturacia@herald.example", "Herald Fakturácia"};
  m.to = {{"predaj@kovac.example", "Ján Kováč"}};
  m.subject = "Faktúra FV-2026-0042 – Stavebniny Kováč s.r.o.";
  m.text = std::string(kText);
  m.html = "<p>Faktúra <b>FV-2026-0042</b></p>";
  m.attach = true;
  m.event = e;
  m.created_at = std::chrono::system_clock::now();
  std::string out;
  MimeBuilder::build(m, out);
  state.counters["bytes"] = static_cast<double>(out.size());
  AllocCounter allocs(state);
  for (auto _ : state) {
    MimeBuilder::build(m, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_MimeBuild);

const char* kEventJson = R"({"id":"erp-7f3c9a","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00",
"actor":{"id":"u17","name":"Jana Nová"},"partner":{"id":"P-1001","name":"Stavebniny Kováč s.r.o.","locale":"sk-SK"},
"document":{"kind":"invoice","number":"FV-2026-0042","status":"posted","previous_status":"draft","total":"1249.90",
"currency":"EUR","due_date":"2026-12-04"},"data":{"order_ref":"OBJ-881","tags":["vip","b2b"]}})";

void BM_ParseEvent(benchmark::State& state) {
  EventDecoder decoder;
  std::string body = kEventJson;
  AllocCounter allocs(state);
  for (auto _ : state) {
    auto r = decoder.decode(body, BodyFormat::json);
    if (!r.ok()) state.SkipWithError("invalid event");
    benchmark::DoNotOptimize(r.events.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseEvent);

void BM_JournalAppend(benchmark::State& state) {
  TempDir dir;
  Logger log(stderr, LogLevel::error);
  MetricsRegistry metrics;
  SegmentLogOptions o;
  o.dir = dir.path();
  o.name = "bench";
  SegmentLog seg(o, make_pwrite_log_io(), log, metrics);
  seg.open([](uint8_t, std::string_view, uint64_t) {});
  const std::string record(512, 'x');
  RecordBatch batch;
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) batch.add(1, record);
    auto r = seg.append_wait(batch);
    if (r.ec) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 64));
  seg.close();
}
BENCHMARK(BM_JournalAppend)->UseRealTime();

// Writes and publishes one run per entry of `sizes`, of ids "erp-0",
// "erp-1", … in order, each with `value_bytes` of value; false if a write fails.
bool add_finished_runs(FinishedStore& store, std::initializer_list<int> sizes, size_t value_bytes) {
  const std::string value(value_bytes, 'p');
  int next = 0;
  for (int size : sizes) {
    std::vector<std::string> keys;
    for (int i = 0; i < size; ++i) keys.push_back(Journal::key("default", "erp-" + std::to_string(next++)));
    std::vector<FinishedRecord> recs;
    for (const auto& k : keys) recs.push_back({0, k, 1'700'000'000'000, value});
    std::error_code ec;
    auto run = store.write(store.sort_by_hash(recs), ec);
    if (!run) return false;
    store.publish(run, {});
  }
  return true;
}

// The journal asks the runs for every new id that misses its in-memory map
// (under its lock), so the miss is the hot path; a hit is a duplicate.
void BM_FinishedLookup(benchmark::State& state) {
  TempDir dir;
  Logger log(stderr, LogLevel::error);
  FinishedStore store(dir.path() / "finished", 65'536, log);
  store.open();
  constexpr int kRuns = 8, kPerRun = 65'536;
  // 120 B: about a packed entry with one message.
  if (!add_finished_runs(store, {kPerRun, kPerRun, kPerRun, kPerRun, kPerRun, kPerRun, kPerRun, kPerRun}, 120)) {
    state.SkipWithError("run write failed");
    return;
  }
  const bool hit = state.range(0) == 1;
  uint64_t i = 0, found = 0;
  std::string key;
  for (auto _ : state) {
    key = Journal::key("default", (hit ? "erp-" : "new-") + std::to_string(i++ % (kRuns * kPerRun)));
    found += store.find(key).has_value();
  }
  if (found != (hit ? static_cast<uint64_t>(state.iterations()) : 0)) state.SkipWithError("wrong answers");
}
BENCHMARK(BM_FinishedLookup)->Arg(0)->Arg(1);

// What a flush adds to the filter the runs share: a run's 16 384 keys,
// sorted by hash, into a filter sized for 8M ids (16 MB, out of the
// caches), as under sustained NDJSON ingest. Time per run.
void BM_FinishedFilterAdd(benchmark::State& state) {
  FinishedFilter filter(8u << 20, 7);
  std::mt19937_64 rng(42);
  std::vector<uint64_t> hashes(16'384);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& h : hashes) h = rng();
    std::sort(hashes.begin(), hashes.end());
    state.ResumeTiming();
    filter.add(hashes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * hashes.size()));
}
BENCHMARK(BM_FinishedFilterAdd);

// What a flush sorts: a run's 16 384 records in arrival order (ids as
// NDJSON ingest numbers them), by (hash, key). Time per run; the records'
// keys and values stay put, as in Journal::move_to_run.
void BM_FinishedSortByHash(benchmark::State& state) {
  TempDir dir;
  Logger log(stderr, LogLevel::error);
  FinishedStore store(dir.path() / "finished", 16'384, log);
  store.open();
  std::vector<std::string> keys;
  for (int i = 0; i < 16'384; ++i) keys.push_back(Journal::key("default", "bulk-7-" + std::to_string(1'000'000 + i)));
  const std::string value(60, 'p');
  std::vector<FinishedRecord> arrival, recs;
  for (const auto& k : keys) arrival.push_back({0, k, 1'700'000'000'000, value});
  for (auto _ : state) {
    state.PauseTiming();
    recs = arrival;
    state.ResumeTiming();
    benchmark::DoNotOptimize(store.sort_by_hash(recs).data());
  }
  if (!std::is_sorted(recs.begin(), recs.end(), hash_order))
    state.SkipWithError("not sorted");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * keys.size()));
}
BENCHMARK(BM_FinishedSortByHash);

// What NDJSON ingest asks: a batch of 500 new ids against the runs of ~3M
// finished events in their size tiers (3 of 16k, 64k and 256k events, 2 of
// 1M), as under load. The filters (~6 MB) do not fit the caches, so this
// measures the lookups' cache misses. Time per batch. Arg 0: each run's
// filter tested; 1: the runs covered by the filter they share
// (FinishedFilter), as the journal's merge thread builds it.
void BM_FinishedBatchLookup(benchmark::State& state) {
  static TempDir dir;  // built once for all iterations and repetitions
  static Logger log(stderr, LogLevel::error);
  static FinishedStore store(dir.path() / "finished", 16'384, log);
  static bool built = [] {
    store.open();
    return add_finished_runs(
        store, {1 << 20, 1 << 20, 1 << 18, 1 << 18, 1 << 18, 1 << 16, 1 << 16, 1 << 16, 1 << 14, 1 << 14, 1 << 14}, 40);
  }();
  if (!built) {
    state.SkipWithError("run write failed");
    return;
  }
  // Not published: /0 keeps testing every run's filter.
  static const FinishedStore::RunSet shared = [] {
    const FinishedStore::RunSet& set = *store.snapshot();
    auto build = store.build_filter(set, [] { return true; });
    return build ? FinishedStore::with_filter(set, std::move(*build)) : set;
  }();
  if (state.range(0) == 1 && !shared.filter) {
    state.SkipWithError("filter build failed");
    return;
  }
  const FinishedStore::RunSet& runs = state.range(0) == 1 ? shared : *store.snapshot();
  std::vector<std::string> keys(500);
  std::vector<std::optional<FinishedStore::Hit>> out(500);
  uint64_t n = 0, found = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& k : keys) k = Journal::key("default", "new-" + std::to_string(n++));
    state.ResumeTiming();
    store.find_all_in(runs, keys, out);
    for (const auto& o : out) found += o.has_value();
  }
  if (found != 0) state.SkipWithError("wrong answers");
}
BENCHMARK(BM_FinishedBatchLookup)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_SmtpDataEncode(benchmark::State& state) {
  std::string msg;
  for (int i = 0; msg.size() < 140 * 1024; ++i)
    msg += i % 17 == 0 ? ".a line starting with a dot\n" : "Dobrý deň, faktúra FV-2026-0042 je v prílohe.\r\n";
  std::string out;
  AllocCounter allocs(state);
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(encode_smtp_data(msg, out));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * msg.size()));
}
BENCHMARK(BM_SmtpDataEncode);

// The checksum of every journal and history record: a history record of a
// received event is ~350 B, a journal record of one ~490 B.
void BM_Crc32c(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), '\0');
  std::mt19937 rng(7);
  for (auto& c : data) c = static_cast<char>(rng());
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = crc32c_extend(crc, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Crc32c)->Arg(60)->Arg(350)->Arg(490)->Arg(4096);

}  // namespace
}  // namespace herald

BENCHMARK_MAIN();
