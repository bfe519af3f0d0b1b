#include "core/journal/journal.hpp"

#include <boost/asio/post.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>

#include "core/util/hash.hpp"
#include "core/util/presized_appender.hpp"
#include "core/util/threads.hpp"
#include "core/util/varint.hpp"

namespace herald {

namespace json = boost::json;
using Clock = std::chrono::system_clock;

namespace {

// kPackedSnapshot: a finished entry as varint(accepted_ms) + its packed
// form, written by checkpoints (a memcpy under the lock instead of a JSON
// rewrite of every finished event in the idempotency window).
// kAcceptedCompact (since session 34): an accepted record with its header
// in varints (journal.hpp: kJournalAcceptedCompact); kAccepted, the JSON
// header line, is still replayed.
enum RecordType : uint8_t {
  kAccepted = 1,
  kState = 2,
  kSnapshot = 3,
  kPackedSnapshot = 4,
  kAcceptedCompact = kJournalAcceptedCompact,
};
constexpr uint8_t kAcceptedCompactVersion = 1;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

constexpr size_t kMaxDetail = 1000;  // server replies can be long; state needs the gist

std::string_view str(const json::object& o, std::string_view k) {
  if (auto* v = o.if_contains(k); v && v->is_string()) return v->get_string();
  return {};
}
int64_t num(const json::object& o, std::string_view k) {
  if (auto* v = o.if_contains(k); v && v->is_int64()) return v->get_int64();
  return 0;
}

// The header is JSON without raw newlines (serialize escapes them), so a
// payload splits at its first '\n' into header and event JSON.
std::pair<std::string_view, std::string_view> split_payload(std::string_view p) {
  auto nl = p.find('\n');
  if (nl == std::string_view::npos) return {p, {}};
  return {p.substr(0, nl), p.substr(nl + 1)};
}

// A finished entry's packed form: varint(length of the rest), then
// varint-length strings and varints, in the order tenant, id, type, source,
// message count, then per message id, channel, state, attempts, next
// attempt (ms), detail. The leading length lets a checkpoint copy it whole.
std::string get_text(const char*& p) {
  const size_t n = get_varint(p);
  std::string s(p, n);
  p += n;
  return s;
}

// A packed body's messages: their size, and written in place.
uint64_t packed_attempts(const MessageStatus& m) { return static_cast<uint64_t>(std::max(m.attempts, 0)); }
uint64_t packed_next(const MessageStatus& m) { return static_cast<uint64_t>(std::max<int64_t>(m.next_attempt_ms, 0)); }

size_t packed_messages_size(const std::vector<MessageStatus>& messages) {
  size_t n = varint_size(messages.size());
  for (const auto& m : messages)
    n += text_size(m.id) + text_size(m.channel) + varint_size(static_cast<uint64_t>(m.state)) +
         varint_size(packed_attempts(m)) + varint_size(packed_next(m)) + text_size(m.detail);
  return n;
}

void put_packed_messages(char*& p, const std::vector<MessageStatus>& messages) {
  put_varint(p, messages.size());
  for (const auto& m : messages) {
    put_text(p, m.id);
    put_text(p, m.channel);
    put_varint(p, static_cast<uint64_t>(m.state));
    put_varint(p, packed_attempts(m));
    put_varint(p, packed_next(m));
    put_text(p, m.detail);
  }
}

// A packed body after its names (type, source, messages): a run value's
// whole body, written from the fields themselves (no packed entry first).
size_t packed_tail_size(std::string_view type, std::string_view source, const std::vector<MessageStatus>& messages) {
  return text_size(type) + text_size(source) + packed_messages_size(messages);
}

void put_packed_tail(char*& p, std::string_view type, std::string_view source,
                     const std::vector<MessageStatus>& messages) {
  put_text(p, type);
  put_text(p, source);
  put_packed_messages(p, messages);
}

// Packs into one exact-size buffer, sized first and written in place
// (building it in a growing string and copying that cost two or three more
// allocations): an entry whose messages all turned final, at replay or
// before its commit settled.
std::unique_ptr<char[]> pack_into(std::string_view tenant, std::string_view id, std::string_view type,
                                  std::string_view source, const std::vector<MessageStatus>& messages) {
  const size_t body = text_size(tenant) + text_size(id) + packed_tail_size(type, source, messages);
  const size_t total = varint_size(body) + body;
  auto buf = std::make_unique_for_overwrite<char[]>(total);
  char* p = buf.get();
  put_varint(p, body);
  put_text(p, tenant);
  put_text(p, id);
  put_packed_tail(p, type, source, messages);
  assert(p == buf.get() + total);
  return buf;
}

// The whole packed buffer (length prefix included).
std::string_view packed_bytes(const char* p) {
  const char* body = p;
  const uint64_t n = get_varint(body);
  return {p, static_cast<size_t>(body - p) + n};
}

// Bounds-checked walk of a packed body read back from disk: true when `b`
// is exactly one well-formed packed body (`names` 4: tenant, id, type and
// source; 2, a run value's: type and source).
bool packed_body_well_formed(std::string_view b, int names = 4) {
  const char* p = b.data();
  const char* const end = p + b.size();
  auto varint = [&](uint64_t& v) { return get_varint_bounded(p, end, v); };
  std::string_view skipped;
  auto text = [&] { return get_text_bounded(p, end, skipped); };
  for (int i = 0; i < names; ++i)
    if (!text()) return false;
  uint64_t count = 0, x = 0;
  if (!varint(count)) return false;
  for (uint64_t m = 0; m < count; ++m)
    if (!text() || !text() || !varint(x) || !varint(x) || !varint(x) || !text()) return false;
  return p == end;
}

// A whole packed entry (length prefix included) read back from disk.
bool packed_well_formed(std::string_view packed) {
  const char* p = packed.data();
  const char* const end = p + packed.size();
  uint64_t len = 0;
  return get_varint_bounded(p, end, len) && len == static_cast<uint64_t>(end - p) &&
         packed_body_well_formed({p, static_cast<size_t>(len)});
}

// A run value without the names (see packed_tail below), read back from
// disk: its body.
std::optional<std::string_view> run_value_body(std::string_view value) {
  if (value.empty() || value[0] != 0) return std::nullopt;
  const char* p = value.data() + 1;
  const char* const end = value.data() + value.size();
  uint64_t len = 0;
  if (!get_varint_bounded(p, end, len) || len != static_cast<uint64_t>(end - p) ||
      !packed_body_well_formed({p, static_cast<size_t>(len)}, 2))
    return std::nullopt;
  return std::string_view(p, static_cast<size_t>(len));
}

// A finished entry as a run holds it: 0, then varint(length of the rest),
// then the packed body without tenant and id, which the run's key holds
// already (Journal::key: tenant, 0x1f, id). Runs and their merges are most
// of the bytes the journal writes after the segments (each record is
// rewritten at every merge tier), and with typical ids the two names were
// a third of a record. Runs written before (session 26) hold the whole
// packed entry, whose first byte is never 0 (its body is at least five
// bytes): to_status() reads both.
std::string_view packed_tail(const char* packed) {
  const char* p = packed;
  const uint64_t n = get_varint(p);
  const char* const end = p + n;
  for (int name = 0; name < 2; ++name) {
    const uint64_t len = get_varint(p);
    p += len;
  }
  return {p, static_cast<size_t>(end - p)};
}

std::unique_ptr<char[]> pack(const JournalEntry::Live& l) {
  return pack_into(l.tenant, l.id, l.type, l.source, l.messages);
}

// Type, source and messages: a packed body after its names (a run value's
// whole body).
void unpack_tail(const char* p, JournalEntry::Live& l) {
  for (std::string* f : {&l.type, &l.source}) *f = get_text(p);
  l.messages.resize(get_varint(p));
  for (auto& m : l.messages) {
    m.id = get_text(p);
    m.channel = get_text(p);
    m.state = static_cast<MessageState>(get_varint(p));
    m.attempts = static_cast<int>(get_varint(p));
    m.next_attempt_ms = static_cast<int64_t>(get_varint(p));
    m.detail = get_text(p);
  }
}

JournalEntry::Live unpack(const char* p) {
  get_varint(p);  // the length prefix
  JournalEntry::Live l;
  for (std::string* f : {&l.tenant, &l.id}) *f = get_text(p);
  unpack_tail(p, l);
  return l;
}

uint32_t unfinished_messages(const std::vector<MessageStatus>& ms) {
  return static_cast<uint32_t>(std::count_if(ms.begin(), ms.end(), [](auto& m) { return !is_final(m.state); }));
}

// The names from a key (tenant, 0x1f, id; no tenant: the default); false
// if it has no separator.
bool names_from_key(std::string_view key, JournalEntry::Live& l) {
  const size_t sep = key.find('\x1f');
  if (sep == std::string_view::npos) return false;
  l.tenant = sep == 0 ? std::string("default") : std::string(key.substr(0, sep));
  l.id = std::string(key.substr(sep + 1));
  return true;
}

// A staged entry's pending-run record (bytes this process wrote).
JournalEntry::Live unpack_record(const char* record) {
  const PendingRun::Record r = PendingRun::decode(record);
  JournalEntry::Live l;
  names_from_key(r.key, l);
  const std::optional<std::string_view> body = run_value_body(r.value);
  assert(body);
  if (body) unpack_tail(body->data(), l);
  return l;
}

void append_packed_tail(std::string& out, std::string_view type, std::string_view source,
                        const std::vector<MessageStatus>& messages) {
  const size_t start = out.size();
  out.resize(start + packed_tail_size(type, source, messages));
  char* p = out.data() + start;
  put_packed_tail(p, type, source, messages);
  assert(p == out.data() + out.size());
}

const std::vector<MessageStatus> kNoMessages;

// The journal's JSON records are written by hand on hot paths (see stage()
// and record_attempt()): `prefix` is the punctuation and key before a value,
// e.g. ",\"id\":".
void append_json_string(std::string& out, std::string_view prefix, std::string_view v) {
  out += prefix;
  append_json_quoted(out, v);
}

void append_json_number(std::string& out, std::string_view prefix, int64_t v) {
  char digits[24];
  out += prefix;
  out.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
}

// The header of an accepted record: a version byte, varint(accepted ms),
// tenant, id, type and source as varint-length texts, the message count,
// each message's id and channel; the event's text follows to the end.
// Written with one resize: this runs once per accepted event. The JSON
// header it replaced (kAccepted) was ~105 bytes for the benchmark's event
// against ~60, with key names, quotes and a check of every value for
// characters to escape.
void append_accepted_header(std::string& out, std::string_view tenant, std::string_view id, std::string_view type,
                            std::string_view source, int64_t at, const std::vector<PlannedMessage>& messages) {
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(at, 0));
  size_t size = 1 + varint_size(ms) + text_size(tenant) + text_size(id) + text_size(type) + text_size(source) +
                varint_size(messages.size());
  for (const auto& m : messages) size += text_size(m.id) + text_size(m.channel);
  const size_t start = out.size();
  out.resize(start + size);
  char* p = out.data() + start;
  *p++ = static_cast<char>(kAcceptedCompactVersion);
  put_varint(p, ms);
  for (std::string_view t : {tenant, id, type, source}) put_text(p, t);
  put_varint(p, messages.size());
  for (const auto& m : messages) {
    put_text(p, m.id);
    put_text(p, m.channel);
  }
  assert(p == out.data() + out.size());
}

// A compact accepted record's fields, bounds-checked (bytes read back).
struct AcceptedFields {
  int64_t at = 0;
  std::string_view tenant, id, type, source;
  std::vector<std::pair<std::string_view, std::string_view>> messages;
  std::string_view event;
};
bool decode_accepted(std::string_view payload, AcceptedFields& f) {
  const char* p = payload.data();
  const char* const end = p + payload.size();
  uint64_t at = 0, n = 0;
  if (p == end || uint8_t(*p++) != kAcceptedCompactVersion || !get_varint_bounded(p, end, at) ||
      !get_text_bounded(p, end, f.tenant) || !get_text_bounded(p, end, f.id) || !get_text_bounded(p, end, f.type) ||
      !get_text_bounded(p, end, f.source) || !get_varint_bounded(p, end, n) || n > uint64_t(end - p) / 2)
    return false;
  f.at = static_cast<int64_t>(std::min<uint64_t>(at, INT64_MAX));
  f.messages.resize(n);
  for (auto& [mid, channel] : f.messages)
    if (!get_text_bounded(p, end, mid) || !get_text_bounded(p, end, channel)) return false;
  f.event = {p, static_cast<size_t>(end - p)};
  return true;
}

}  // namespace

bool journal_accepted_json(std::string_view payload, std::string& header, std::string_view& event) {
  AcceptedFields f;
  if (!decode_accepted(payload, f)) return false;
  header.clear();
  append_json_string(header, "{\"t\":", f.tenant);
  append_json_string(header, ",\"id\":", f.id);
  append_json_string(header, ",\"ty\":", f.type);
  append_json_string(header, ",\"src\":", f.source);
  append_json_number(header, ",\"at\":", f.at);
  header += ",\"m\":[";
  for (size_t i = 0; i < f.messages.size(); ++i) {
    append_json_string(header, i ? ",[" : "[", f.messages[i].first);
    append_json_string(header, ",", f.messages[i].second);
    header += ']';
  }
  header += "]}";
  event = f.event;
  return true;
}

const char* to_string(MessageState s) {
  switch (s) {
    case MessageState::queued: return "queued";
    case MessageState::deferred: return "deferred";
    case MessageState::delivered: return "delivered";
    case MessageState::failed: return "failed";
    case MessageState::expired: return "expired";
  }
  return "queued";
}

bool parse_message_state(std::string_view s, MessageState& out) {
  for (auto st : {MessageState::queued, MessageState::deferred, MessageState::delivered, MessageState::failed,
                  MessageState::expired}) {
    if (s == to_string(st)) {
      out = st;
      return true;
    }
  }
  return false;
}

Journal::Journal(JournalSettings settings, std::unique_ptr<LogIo> io, Logger& log, MetricsRegistry& metrics)
    : settings_(std::move(settings)),
      logger_(log),
      log_(std::make_unique<SegmentLog>(settings_.log, std::move(io), log, metrics)),
      key_hash_{random_seed()},
      checkpoints_(metrics.counter("herald_journal_checkpoints_total", "Journal checkpoints completed")),
      pending_events_(metrics.gauge("herald_journal_unfinished_events",
                                    "Accepted events with messages not yet in a final state")),
      finished_flushes_(metrics.counter("herald_journal_finished_flushes_total",
                                        "Batches of finished events moved from memory to a run on disk")),
      finished_runs_(metrics.gauge("herald_journal_finished_runs", "Run files holding finished events")),
      finished_runs_filtered_(metrics.gauge("herald_journal_finished_runs_filtered",
                                            "Run files whose events are all in the filter the runs share")),
      finished_on_disk_(metrics.gauge("herald_journal_finished_events_on_disk",
                                      "Finished events in run files (a key counted once per run)")),
      finished_memory_(metrics.gauge("herald_journal_finished_memory_bytes",
                                     "Memory of the finished-event runs' filters (the shared one too) and block "
                                     "indexes: grows with the events of the idempotency window")),
      in_memory_(metrics.gauge("herald_journal_events_in_memory",
                               "Events the journal holds in memory: unfinished, and finished ones not yet in a run")) {
  finished_ = std::make_unique<FinishedStore>(settings_.log.dir / "finished", settings_.finished_in_memory, log,
                                              FinishedStore::kMinFilterKeys, settings_.log.background_nice);
}

Journal::~Journal() { close(); }

// Whether `k` is key(tenant, id), without building it.
static bool key_names(std::string_view k, std::string_view tenant, std::string_view id) {
  if (tenant == "default") tenant = {};
  return k.size() == tenant.size() + 1 + id.size() && k.starts_with(tenant) && k[tenant.size()] == '\x1f' &&
         k.ends_with(id);
}

uint64_t Journal::KeyHash::operator()(std::string_view k) const { return hash_bytes(k, seed); }

std::unique_ptr<Journal::MapNode> Journal::node_for(std::string key) {
  auto n = std::make_unique<MapNode>();
  n->key = std::move(key);
  return n;
}

std::string Journal::key(std::string_view tenant, std::string_view id) {
  // The default tenant is left out (tenants are never empty, so this stays
  // unambiguous): typical ids then fit std::string's inline buffer, sparing
  // an allocation per key in a map of a million ids.
  if (tenant == "default") tenant = {};
  std::string k;
  k.reserve(tenant.size() + id.size() + 1);
  k.append(tenant).push_back('\x1f');
  k.append(id);
  return k;
}

RecoveryReport Journal::open(std::vector<PendingEvent>& pending) {
  // Runs first: segment records of events already in a run (a crash before
  // the checkpoint after their flush) only repeat what the run holds.
  finished_->open();
  set_finished_gauges();
  RecoveryReport report = log_->open([this](uint8_t type, std::string_view payload, uint64_t) {
    apply_record(type, payload);
  });
  const int64_t now = now_ms();
  int64_t unfinished = 0;
  // Room for the finished events kept in memory before the first rehash
  // (more only if ingest outpaces the flushes: a larger table would make
  // each insert a cache miss sooner).
  pending_run_.reserve(settings_.finished_in_memory);
  flushing_.reserve(settings_.finished_in_memory);
  // The finished entries replayed join the pending run; expired ones go.
  boost::unordered::erase_if(entries_, [&](const MapSlot& slot) {
    EventEntry& e = slot.node->entry;
    recount(e);
    if (e.unfinished > 0) return false;
    if (e.packed && !expired(e, now)) pending_run_.add(slot.node->key, slot.hash, e.accepted_ms, record_body(e));
    return true;
  });
  // Room for the unfinished events replayed and those in flight, before the
  // first rehash. Not more: every new id lands on a random slot (16 B), and
  // a table much larger than what it holds turns each insert into a cache
  // miss.
  entries_.reserve(std::max<size_t>(entries_.size() * 2, 8192));
  for (const MapSlot& slot : entries_) {
    EventEntry* entry = &slot.node->entry;
    if (entry->unfinished > 0) {
      const JournalEntry::Live& e = *entry->live;
      ++unfinished;
      PendingEvent p{e.tenant, e.id, e.event_json, e.source, {}};
      for (const auto& m : e.messages)
        if (!is_final(m.state)) p.messages.push_back(m);
      pending.push_back(std::move(p));
    }
  }
  pending_events_.set(unfinished);
  in_memory_.set(int64_t(in_memory_locked()));
  if (pending_run_.size() >= settings_.finished_in_memory) flush_requested_ = true;  // a long replay
  // The merge thread starts at once: the runs loaded above are merged if
  // due, and the filter they share is built (until then every run is tested).
  if (finished_->runs() > 0) merge_requested_ = true;
  // The maintenance thread keeps the daemon's priority: a checkpoint holds
  // the journal lock, which every accept takes, while it snapshots the
  // live entries (~8 ms under NDJSON ingest), and a niced holder could wait
  // for a core while the accepts wait for it. Merges take that lock only to
  // publish their result.
  maintenance_ = std::thread([this] {
    name_this_thread("journal-maint");
    run_maintenance();
  });
  merges_ = std::thread([this] {
    name_this_thread("journal-merge");
    make_this_thread_background(settings_.log.background_nice);
    run_merges();
  });
  return report;
}

void Journal::close() {
  {
    std::lock_guard lock(maint_mutex_);
    stopping_ = true;
  }
  maint_cv_.notify_all();
  merge_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (merges_.joinable()) merges_.join();
  log_->close();
}

bool Journal::expired(int64_t accepted_ms, int64_t now) const {
  return accepted_ms + std::chrono::duration_cast<std::chrono::milliseconds>(settings_.idempotency_window).count() <
         now;
}

JournalEntry::Live& Journal::live(EventEntry& e) {
  if (!e.live) {
    e.live = std::make_unique<JournalEntry::Live>();
    if (e.packed) *e.live = unpack(e.packed.get());
    else if (e.record) *e.live = unpack_record(e.record);
    e.packed.reset();
    e.record = nullptr;
  }
  return *e.live;
}

const JournalEntry::Live& Journal::view(const EventEntry& e, JournalEntry::Live& scratch) {
  if (e.live) return *e.live;
  if (e.packed) scratch = unpack(e.packed.get());
  else if (e.record) scratch = unpack_record(e.record);
  return scratch;
}

void Journal::recount(EventEntry& e) {
  if (!e.live) return;  // packed: finished
  e.unfinished = unfinished_messages(e.live->messages);
  if (e.unfinished == 0) {
    e.packed = pack(*e.live);
    e.live.reset();
  }
}

void Journal::merge_message(EventEntry& entry, MessageStatus m) {
  JournalEntry::Live& e = live(entry);
  for (auto& cur : e.messages) {
    if (cur.id != m.id) continue;
    if (is_final(cur.state)) return;  // final is sticky
    if (is_final(m.state) || m.attempts >= cur.attempts) {
      if (m.channel.empty()) m.channel = cur.channel;
      cur = std::move(m);
    }
    return;
  }
  e.messages.push_back(std::move(m));
}

void Journal::apply_packed_snapshot(std::string_view payload) {
  const char* p = payload.data();
  const char* end = p + payload.size();
  // varint(accepted_ms), then the packed entry with its length prefix.
  uint64_t at = 0;
  if (!get_varint_bounded(p, end, at) || !packed_well_formed({p, static_cast<size_t>(end - p)})) {
    logger_.warn("journal record skipped: malformed packed snapshot");
    return;
  }
  const char* const packed = p;
  // Only the key is read to find the entry; the usual case copies the bytes.
  const char* fields = p;
  get_varint(fields);  // the length prefix
  const std::string tenant = get_text(fields);
  const std::string id = get_text(fields);
  EventEntry& entry = this->entry(key(tenant, id));
  if (!entry.live && !entry.packed) {  // the usual case: first seen here
    entry.accepted_ms = static_cast<int64_t>(at);
    entry.staged = entry.committed = true;
    entry.unfinished = 0;
    entry.packed = std::make_unique_for_overwrite<char[]>(static_cast<size_t>(end - packed));
    std::memcpy(entry.packed.get(), packed, static_cast<size_t>(end - packed));
    return;
  }
  // Older records of it were replayed too (a crash before the checkpoint
  // removed them): merge, as for a JSON snapshot.
  const JournalEntry::Live l = unpack(packed);
  entry.accepted_ms = static_cast<int64_t>(at);
  entry.staged = entry.committed = true;
  JournalEntry::Live& e = live(entry);
  e.tenant = l.tenant;
  e.id = l.id;
  e.type = l.type;
  e.source = l.source;
  for (const auto& m : l.messages) merge_message(entry, m);
}

void Journal::apply_accepted(std::string_view tenant, std::string_view id, std::string_view type,
                             std::string_view source, int64_t at, std::string_view event_json,
                             std::vector<MessageStatus> messages) {
  EventEntry& entry = this->entry(key(tenant, id));
  entry.accepted_ms = at;
  entry.staged = entry.committed = true;
  JournalEntry::Live& e = live(entry);
  e.tenant = tenant;
  e.id = id;
  e.type = type;
  e.source = source;
  if (!event_json.empty()) e.event_json = event_json;
  for (auto& m : messages) merge_message(entry, std::move(m));
}

void Journal::apply_record(uint8_t type, std::string_view payload) {
  if (type == kPackedSnapshot) return apply_packed_snapshot(payload);
  if (type == kAcceptedCompact) {
    AcceptedFields f;
    if (!decode_accepted(payload, f)) {
      logger_.warn("journal record skipped: malformed accepted record");
      return;
    }
    std::vector<MessageStatus> messages(f.messages.size());
    for (size_t i = 0; i < f.messages.size(); ++i) {
      messages[i].id = f.messages[i].first;
      messages[i].channel = f.messages[i].second;
    }
    return apply_accepted(f.tenant, f.id, f.type, f.source, f.at, f.event, std::move(messages));
  }
  auto [head, body] = split_payload(payload);
  boost::system::error_code ec;
  json::value v = json::parse(head, ec);
  if (ec || !v.is_object()) {
    logger_.warn("journal record skipped: unreadable header", {{"type", int(type)}});
    return;
  }
  const json::object& o = v.get_object();
  if (type == kAccepted || type == kSnapshot) {
    std::vector<MessageStatus> messages;
    if (auto* ms = o.if_contains("m"); ms && ms->is_array()) {
      for (const auto& item : ms->get_array()) {
        if (!item.is_array() || item.get_array().size() < 2) continue;
        const auto& a = item.get_array();
        MessageStatus& m = messages.emplace_back();
        m.id = a[0].is_string() ? std::string(a[0].get_string()) : "";
        m.channel = a[1].is_string() ? std::string(a[1].get_string()) : "";
        if (a.size() >= 6) {
          if (a[2].is_string()) parse_message_state(a[2].get_string(), m.state);
          m.attempts = a[3].is_int64() ? int(a[3].get_int64()) : 0;
          m.next_attempt_ms = a[4].is_int64() ? a[4].get_int64() : 0;
          m.detail = a[5].is_string() ? std::string(a[5].get_string()) : "";
        }
      }
    }
    apply_accepted(str(o, "t"), str(o, "id"), str(o, "ty"), str(o, "src"), num(o, "at"), body, std::move(messages));
  } else if (type == kState) {
    auto it = entries_.find(probe(key(str(o, "t"), str(o, "id"))));
    if (it == entries_.end()) return;  // its event expired and was checkpointed away
    MessageStatus m;
    m.id = str(o, "m");
    parse_message_state(str(o, "s"), m.state);
    m.attempts = int(num(o, "a"));
    m.next_attempt_ms = num(o, "n");
    m.detail = str(o, "d");
    merge_message(it->node->entry, std::move(m));
  } else {
    logger_.warn("journal record skipped: unknown type", {{"type", int(type)}});
  }
}

Journal::EventEntry& Journal::entry(const std::string& k) {
  const KeyProbe p = probe(k);
  auto it = entries_.find(p);
  if (it == entries_.end()) it = entries_.insert(MapSlot{p.hash, node_for(k)}).first;
  return it->node->entry;
}

Reservation Journal::reserve(Admission& adm, const std::string& k, EventStatus* existing) {
  auto spare = node_for(k);
  const uint64_t hash = key_hash_(k);
  std::lock_guard lock(mutex_);
  adm.reserved_ms_ = now_ms();
  return reserve_locked(adm, std::string(k), hash, existing, adm.reserved_ms_, nullptr, spare);
}

void Journal::reserve_all(Admission& adm, std::span<std::string> keys, std::span<Reservation> out,
                          std::vector<std::pair<size_t, EventStatus>>& duplicates) {
  assert(out.size() == keys.size());
  adm.keys_.reserve(adm.keys_.size() + keys.size());
  adm.entries_.reserve(adm.entries_.size() + keys.size());
  adm.staged_.reserve(adm.staged_.size() + keys.size());
  const int64_t now = adm.reserved_ms_ = now_ms();
  // The finished-event runs are asked about the whole batch before the lock
  // is taken: a filter test is a cache miss per run, and a filter hit reads
  // a block from disk; under the lock, every other admission and the
  // maintenance thread waited for them. The answers hold if no run came or
  // went meanwhile (entries leave memory only after their run is published),
  // else the keys are asked again under the lock.
  const FinishedStore::RunList runs = finished_snapshot();
  // Inline for small batches (a single-event request is most of them):
  // these temporaries were three allocations of every such request.
  boost::container::small_vector<std::optional<FinishedStore::Hit>, 4> probed(keys.size());
  if (!runs->runs.empty()) {
    finished_->find_all_in(*runs, keys, probed);
    for (auto& p : probed) p = unexpired(std::move(p), now);
  }
  // Hashed and allocated before the lock too: under it, each key is one
  // probe of the map. (Duplicates leave their spare node unused.)
  boost::container::small_vector<uint64_t, 4> hashes(keys.size());
  boost::container::small_vector<std::unique_ptr<MapNode>, 4> spares(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    hashes[i] = key_hash_(keys[i]);
    spares[i] = node_for(keys[i]);
  }
  std::lock_guard lock(mutex_);
  const bool valid = finished_->snapshot() == runs;
  EventStatus existing;
  for (size_t i = 0; i < keys.size(); ++i) {
    out[i] = reserve_locked(adm, std::move(keys[i]), hashes[i], &existing, now, valid ? &probed[i] : nullptr,
                            spares[i]);
    if (out[i] == Reservation::duplicate) duplicates.emplace_back(i, std::exchange(existing, {}));
  }
  in_memory_.set(int64_t(in_memory_locked()));
}

Reservation Journal::reserve_locked(Admission& adm, std::string&& k, uint64_t hash, EventStatus* existing,
                                    int64_t now, const std::optional<FinishedStore::Hit>* probed,
                                    std::unique_ptr<MapNode>& spare) {
  if (auto it = entries_.find(KeyProbe{k, hash}); it != entries_.end()) {
    // Unfinished, or its commit in flight.
    EventEntry& e = it->node->entry;
    if (!e.committed) return Reservation::in_flight;
    if (existing) *existing = to_status(e);
    return Reservation::duplicate;
  }
  if (EventStatus st; finished_status(k, hash, now, probed, st)) {
    if (existing) *existing = std::move(st);
    return Reservation::duplicate;
  }
  EventEntry* e = &spare->entry;
  entries_.insert(MapSlot{hash, std::move(spare)});
  adm.entries_.push_back(e);
  adm.keys_.push_back(std::move(k));
  adm.hashes_.push_back(hash);
  return Reservation::fresh;
}

void Journal::stage(Admission& adm, const DocumentEvent& event, const std::string& source,
                    const std::vector<PlannedMessage>& messages) {
  const size_t slot = adm.staged_.size();
  if (slot >= adm.keys_.size() || !key_names(adm.keys_[slot], event.tenant, event.id))
    throw std::logic_error("Journal::stage: event " + event.id + " is not the next fresh reservation");
  std::string serialized;
  std::string_view event_json = event.text();
  if (event_json.empty()) event_json = serialized = json::serialize(to_json(event, true));
  const int64_t at = adm.reserved_ms_;
  // Sized once for the whole admission, by its first event (for a single
  // event too: grown from empty, its buffer was allocated twice).
  if (slot == 0)
    adm.batch_.reserve(adm.batch_.bytes() + adm.keys_.size() * (event_json.size() + 64 * messages.size() + 192));
  // The header by hand, written straight into the batch: this runs once per
  // accepted event (ingest hot path); building a json::object for six fields,
  // or a payload string copied into the batch after, cost more than the I/O.
  adm.batch_.add_in_place(kAcceptedCompact, [&](std::string& payload) {
    append_accepted_header(payload, event.tenant, event.id, event.type, source, at, messages);
    payload += event_json;
  });

  EventEntry& entry = adm.staged_.emplace_back();
  entry.accepted_ms = at;
  entry.staged = true;
  if (messages.empty()) {
    // Nothing to send (most ingest): finished at once. Its record for the
    // pending run goes straight into the admission's buffer (apply_staged()
    // points the entry to it): a packed copy per event, allocated here and
    // re-encoded by settle(), was 2 % of the HTTP thread under NDJSON.
    const std::string& k = adm.keys_[slot];
    const size_t tail = packed_tail_size(event.type, source, kNoMessages);
    if (!adm.finished_) {
      adm.finished_ = std::make_unique<std::string>();
      adm.finished_->reserve((adm.keys_.size() - slot) * (PendingRun::encoded_size(k, at, tail) + 16));
    }
    adm.finished_placed_.push_back({adm.hashes_[slot], static_cast<uint32_t>(adm.finished_->size())});
    PendingRun::encode_with(*adm.finished_, k, at, tail,
                            [&](std::string& out) { append_packed_tail(out, event.type, source, kNoMessages); });
    return;
  }
  JournalEntry::Live& e = live(entry);
  e.tenant = event.tenant;
  e.id = event.id;
  e.type = event.type;
  e.source = source;
  e.messages.reserve(messages.size());
  for (const auto& m : messages) e.messages.push_back(MessageStatus{m.id, m.channel, MessageState::queued, 0, 0, {}});
  entry.unfinished = static_cast<uint32_t>(e.messages.size());
  e.event_json = event_json;  // only unfinished events keep their body
}

void Journal::apply_staged(Admission& adm) {
  size_t finished = 0;
  for (size_t i = 0; i < adm.staged_.size(); ++i) {
    EventEntry& e = *adm.entries_[i];
    e = std::move(adm.staged_[i]);
    // The buffer is complete: its records stay put until settle().
    if (!e.live && !e.packed) e.record = adm.finished_->data() + adm.finished_placed_[finished++].offset;
  }
  adm.staged_.clear();
}

void Journal::settle(std::span<const std::string> keys, std::span<const uint64_t> hashes,
                     std::span<EventEntry* const> entries, std::unique_ptr<std::string> finished,
                     std::span<const PendingRun::Placed> placed, bool ok) {
  // Freed after the lock is released: the entries of events with nothing to
  // send, finished at once.
  std::vector<std::unique_ptr<MapNode>> doomed;
  doomed.reserve(placed.size());
  // The HTTP thread wrote these entries last, on another core: fetched for
  // writing before the lock, not one transfer at a time under it.
  for (EventEntry* e : entries) __builtin_prefetch(e, 1);
  std::lock_guard lock(mutex_);
  int64_t added = 0;
  if (ok) {
    for (size_t i = 0; i < entries.size(); ++i) {
      EventEntry* e = entries[i];
      e->committed = true;
      if (e->unfinished) {
        ++added;
        continue;
      }
      auto it = entries_.find(EntryProbe{e, hashes[i]});
      assert(it != entries_.end());
      if (e->record) {  // nothing to send: its record joins pending_run_ below
        doomed.push_back(std::move(it->node));
        entries_.erase(it);
      } else {
        // Its messages all final before its commit settled (the pipeline
        // delivers only after it, so not there): packed, it goes alone.
        note_finished(it);
      }
    }
    if (finished) {
      pending_run_.add(std::move(*finished), placed);
      after_pending_run_grew();
    }
  } else {
    // Rare (a failed write): by key, releasing the reservations.
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = entries_.find(KeyProbe{keys[i], hashes[i]});
      if (it != entries_.end() && !it->node->entry.committed) {
        entries_.erase(it);
      }
    }
  }
  pending_events_.add(added);
}

void Journal::note_finished(EntryMap::iterator it) {
  const EventEntry& e = it->node->entry;
  const std::string& k = it->node->key;
  if (e.live) {
    // Straight from its fields: packed first, the entry was packed, copied
    // and freed at once (per e-mail end to end, on the delivering thread).
    const JournalEntry::Live& l = *e.live;
    pending_run_.add_with(k, it->hash, e.accepted_ms, packed_tail_size(l.type, l.source, l.messages),
                          [&](std::string& out) { append_packed_tail(out, l.type, l.source, l.messages); });
  } else {
    pending_run_.add(k, it->hash, e.accepted_ms, record_body(e));
  }
  entries_.erase(it);
  after_pending_run_grew();
}

std::string_view Journal::record_body(const EventEntry& e) { return packed_tail(e.packed.get()); }

void Journal::after_pending_run_grew() {
  if (pending_run_.size() >= settings_.finished_in_memory) request_flush();
}

// Called with mutex_ held; the maintenance thread never takes mutex_ while
// holding maint_mutex_, so this order cannot deadlock.
void Journal::request_flush() {
  if (flush_requested_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(maint_mutex_);
  flush_requested_ = true;
  maint_cv_.notify_one();
}

std::optional<EventStatus> Journal::status(const std::string& k) const {
  const KeyProbe p = probe(k);
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(p); it != entries_.end()) {
    if (!it->node->entry.committed) return std::nullopt;
    return to_status(it->node->entry);
  }
  if (EventStatus st; finished_status(k, p.hash, now_ms(), nullptr, st)) return st;
  return std::nullopt;
}

bool Journal::finished_status(const std::string& k, uint64_t hash, int64_t now,
                              const std::optional<FinishedStore::Hit>* probed, EventStatus& out) const {
  // A record in memory is newer than any in a run; expired, the id is a new
  // event's whatever the runs hold.
  auto pending = pending_run_.find(k, hash);
  if (!pending) pending = flushing_.find(k, hash);
  if (pending) return !expired(pending->accepted_ms, now) && to_status(k, pending->accepted_ms, pending->value, out);
  const auto hit = probed ? *probed : find_finished(k, now);
  return hit && to_status(k, hit->accepted_ms, hit->value, out);
}

std::optional<FinishedStore::Hit> Journal::find_finished(const std::string& k, int64_t now) const {
  if (finished_->runs() == 0) return std::nullopt;
  return unexpired(finished_->find(k), now);
}

std::optional<FinishedStore::Hit> Journal::unexpired(std::optional<FinishedStore::Hit> hit, int64_t now) const {
  if (hit && expired(hit->accepted_ms, now)) return std::nullopt;  // an old id may be used again
  return hit;
}

bool Journal::to_status(std::string_view key, int64_t accepted_ms, std::string_view value, EventStatus& out) const {
  JournalEntry::Live l;
  if (auto body = run_value_body(value)) {
    if (!names_from_key(key, l)) {
      logger_.error("finished-event run holds a malformed key; treated as unknown");
      return false;
    }
    unpack_tail(body->data(), l);
  } else if (packed_well_formed(value)) {
    l = unpack(value.data());  // a run written before session 26: the whole entry
  } else {
    logger_.error("finished-event run holds a malformed entry; treated as unknown");
    return false;
  }
  out = EventStatus{std::move(l.tenant), std::move(l.id), std::move(l.type), std::move(l.source), accepted_ms,
                    true, true, std::move(l.messages)};
  return true;
}

EventStatus Journal::to_status(const EventEntry& entry) const {
  JournalEntry::Live scratch;
  const JournalEntry::Live& e = view(entry, scratch);
  return EventStatus{e.tenant, e.id, e.type, e.source, entry.accepted_ms, entry.committed, entry.unfinished == 0,
                     e.messages};
}

size_t Journal::entries() const {
  std::lock_guard lock(mutex_);
  return in_memory_locked() + finished_->records();
}

size_t Journal::entries_in_memory() const {
  std::lock_guard lock(mutex_);
  return in_memory_locked();
}

size_t Journal::finished_runs() const {
  std::lock_guard lock(mutex_);
  return finished_->runs();
}

void Journal::record_attempt(const RenderedMessage& msg, MessageState state, std::string_view detail,
                             Clock::time_point next_attempt) {
  if (!msg.event) return;
  const std::string k = key(msg.event->tenant, msg.event->id);
  const int64_t next_ms =
      state == MessageState::deferred
          ? std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt.time_since_epoch()).count()
          : 0;
  std::string_view d = detail.substr(0, kMaxDetail);
  // By hand, as in stage(): once per delivery outcome, on the delivering
  // thread (a json::object and its serializer cost ~7 000 instructions).
  RecordBatch batch;
  // Sized once: grown from empty, the record reallocated four times.
  batch.reserve(kRecordHeaderSize + msg.event->tenant.size() + msg.event->id.size() + msg.message_id.size() +
                d.size() + 96);
  batch.add_in_place(kState, [&](std::string& payload) {
    append_json_string(payload, "{\"t\":", msg.event->tenant);
    append_json_string(payload, ",\"id\":", msg.event->id);
    append_json_string(payload, ",\"m\":", msg.message_id);
    append_json_string(payload, ",\"s\":", to_string(state));
    append_json_number(payload, ",\"a\":", msg.attempt);
    if (next_ms) append_json_number(payload, ",\"n\":", next_ms);
    if (!d.empty()) append_json_string(payload, ",\"d\":", d);
    payload += '}';
  });

  std::lock_guard lock(mutex_);
  auto it = entries_.find(probe(k));
  if (it != entries_.end()) {
    EventEntry& e = it->node->entry;
    const size_t before = e.unfinished;
    merge_message(e, MessageStatus{msg.message_id, msg.channel, state, msg.attempt, next_ms, std::string(d)});
    if (before > 0 && e.committed && unfinished_messages(e.live->messages) == 0) {
      pending_events_.add(-1);
      note_finished(it);  // from its Live: not packed first
    } else {
      recount(e);
    }
  }
  // Enqueued under the lock so a checkpoint's snapshot and this record are
  // ordered the same way on disk as in memory.
  log_->append_detached(batch);
}

void Journal::encode_snapshot(RecordBatch& out, const EventEntry& entry, std::string& scratch_bytes) const {
  if (!entry.live && entry.packed) {
    scratch_bytes.clear();
    put_varint(scratch_bytes, static_cast<uint64_t>(std::max<int64_t>(entry.accepted_ms, 0)));
    scratch_bytes.append(packed_bytes(entry.packed.get()));
    out.add(kPackedSnapshot, scratch_bytes);
    return;
  }
  JournalEntry::Live scratch;
  const JournalEntry::Live& e = view(entry, scratch);
  json::object head;
  head["t"] = e.tenant;
  head["id"] = e.id;
  head["ty"] = e.type;
  head["src"] = e.source;
  head["at"] = entry.accepted_ms;
  json::array ms;
  for (const auto& m : e.messages)
    ms.push_back(json::array{json::string(m.id), json::string(m.channel), json::string(to_string(m.state)),
                             m.attempts, m.next_attempt_ms, json::string(m.detail)});
  head["m"] = std::move(ms);
  std::string payload = json::serialize(head);
  if (entry.unfinished > 0) {
    payload += '\n';
    payload += e.event_json;
  }
  out.add(kSnapshot, payload);
}

size_t Journal::checkpoint() {
  std::lock_guard work(work_mutex_);
  RecordBatch snapshot;
  std::future<AppendResult> done;
  std::string scratch;
  size_t live = 0;
  // Sized from the last snapshot (plus growth) before taking the lock.
  snapshot.prepare(last_snapshot_bytes_ + last_snapshot_bytes_ / 2 + (1u << 20));
  const auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration locked{};
  {
    std::lock_guard lock(mutex_);
    // Only the open entries are rewritten (the map holds no others: those
    // finished, by far the most under bulk ingest, are in the pending run,
    // which goes to a run below, taken at the same instant). Reservations
    // not staged yet have nothing to write; their commit comes after this.
    for (const MapSlot& slot : entries_) {
      if (!slot.node->entry.staged) continue;
      encode_snapshot(snapshot, slot.node->entry, scratch);
      ++live;
    }
    take_pending_run();
    last_snapshot_bytes_ = snapshot.bytes();
    done = log_->append_future(snapshot, true);
    locked = std::chrono::steady_clock::now() - started;
  }
  // Their records are in the segments about to go: durable in a run first.
  size_t moved = 0;
  if (!move_to_run(locked, moved)) {
    done.get();
    logger_.error("journal checkpoint: finished events not in a run; keeping old segments");
    return 0;
  }
  AppendResult r = done.get();
  if (r.ec) {
    logger_.error("journal checkpoint failed; keeping old segments", {{"error", r.ec.message()}});
    return 0;
  }
  size_t removed = log_->remove_segments_before(r.segment);
  checkpoints_.inc();
  logger_.info("journal checkpoint", {{"live_events", static_cast<unsigned long>(live)},
                                      {"finished_to_run", static_cast<unsigned long>(moved)},
                                      {"segments_removed", static_cast<unsigned long>(removed)},
                                      {"first_segment", static_cast<unsigned long long>(r.segment)},
                                      // ingest waits for the journal lock while the snapshot is taken
                                      {"locked_ms", std::chrono::duration<double, std::milli>(locked).count()},
                                      {"ms", std::chrono::duration<double, std::milli>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count()}});
  return removed;
}

void Journal::take_pending_run() {
  assert(flushing_.empty());  // work_mutex_ held: the last flush dropped it or gave it back
  flushing_.swap(pending_run_);
  flush_requested_ = false;  // requests made before this swap are answered by it
}

size_t Journal::flush_finished() {
  std::lock_guard work(work_mutex_);
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    take_pending_run();
  }
  const auto locked = std::chrono::steady_clock::now() - t0;
  size_t moved = 0;
  move_to_run(locked, moved);
  return moved;
}

bool Journal::move_to_run(std::chrono::steady_clock::duration locked, size_t& moved) {
  using Steady = std::chrono::steady_clock;
  Steady::duration longest = locked;
  moved = 0;
  if (flushing_.empty()) return true;

  // Drop expired entries and keep the newest of an id that finished twice
  // (used again after its window). flushing_ is read without the lock: only
  // this thread changes it.
  std::vector<FinishedRecord> fresh;
  fresh.reserve(flushing_.size());
  const int64_t now = now_ms();
  flushing_.for_each([&](const PendingRun::Record& r) {
    if (!expired(r.accepted_ms, now)) fresh.push_back(FinishedRecord{0, r.key, r.accepted_ms, r.value});
  });
  finished_->sort_by_hash(fresh);
  size_t kept = 0;
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (kept > 0 && fresh[kept - 1].hash == fresh[i].hash && fresh[kept - 1].key == fresh[i].key) {
      if (fresh[i].accepted_ms > fresh[kept - 1].accepted_ms) fresh[kept - 1] = fresh[i];
      continue;
    }
    fresh[kept++] = fresh[i];
  }
  fresh.resize(kept);
  const auto started = Steady::now();
  std::error_code ec;
  // The run's keys go into the filter the runs share, if there is one yet,
  // so that new ids need not be tested against this run's own.
  const std::shared_ptr<FinishedFilter> filter = finished_snapshot()->filter;
  FinishedStore::RunPtr run = fresh.empty() ? nullptr : finished_->write(fresh, ec, filter.get());
  const auto written = Steady::now();
  if (ec) {
    // They stay in memory (and in the segments) until a later flush works;
    // the next finished event asks for it.
    std::lock_guard lock(mutex_);
    pending_run_.absorb(flushing_);
    logger_.error("journal: cannot write finished events to a run; they stay in memory",
                  {{"error", ec.message()}, {"events", static_cast<unsigned long>(fresh.size())}});
    return false;
  }
  if (run) publish_runs(run, {}, filter.get());
  // Out of memory at once: the records and their index (its capacity kept
  // for the next batch); the bytes are freed after the lock is released.
  // Entries used again since (an expired id accepted anew) are in the map
  // or in pending_run_, not here.
  std::vector<std::string> dropped;
  {
    const auto t0 = Steady::now();
    std::lock_guard lock(mutex_);
    dropped = flushing_.clear();
    in_memory_.set(int64_t(in_memory_locked()));
    locked += Steady::now() - t0;
    longest = std::max(longest, Steady::now() - t0);
  }
  finished_flushes_.inc();
  logger_.debug("journal: finished events moved to a run",
                {{"events", static_cast<unsigned long>(fresh.size())},
                 {"file", run ? run->path().filename().string() : std::string("(all expired)")},
                 {"write_ms", std::chrono::duration<double, std::milli>(written - started).count()},
                 // ingest waits for the journal lock this long in all
                 {"locked_ms", std::chrono::duration<double, std::milli>(locked).count()},
                 {"longest_lock_ms", std::chrono::duration<double, std::milli>(longest).count()}});
  moved = fresh.size();
  return true;
}

void Journal::publish_runs(FinishedStore::RunPtr added, const std::vector<FinishedStore::RunPtr>& removed,
                           const FinishedFilter* covered_by) {
  const bool merge_may_be_due = added != nullptr;
  {
    std::lock_guard lock(mutex_);
    finished_->publish(std::move(added), removed, covered_by);
    set_finished_gauges();
  }
  finished_->remove_files(removed);
  if (merge_may_be_due) request_merge();
}

void Journal::set_finished_gauges() {
  finished_runs_.set(int64_t(finished_->runs()));
  finished_runs_filtered_.set(int64_t(finished_->covered_runs()));
  finished_on_disk_.set(int64_t(finished_->records()));
  finished_memory_.set(int64_t(finished_->memory_bytes()));
}

void Journal::request_merge() {
  {
    std::lock_guard lock(maint_mutex_);
    merge_requested_ = true;
  }
  merge_cv_.notify_one();
}

bool Journal::stopping() const {
  std::lock_guard lock(maint_mutex_);
  return stopping_;
}

void Journal::run_merges() {
  std::unique_lock lock(maint_mutex_);
  while (!stopping_) {
    // Woken by each new run; the interval only retires expired runs.
    merge_cv_.wait_for(lock, settings_.maintenance_interval, [&] { return stopping_ || merge_requested_; });
    if (stopping_) break;
    merge_requested_ = false;
    lock.unlock();  // never held while taking mutex_
    compact_finished();
    lock.lock();
  }
}

void Journal::compact_finished() {
  std::lock_guard work(merge_mutex_);
  const int64_t expire_before =
      now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(settings_.idempotency_window).count();
  if (auto gone = finished_->expired(finished_snapshot()->runs, expire_before); !gone.empty())
    publish_runs(nullptr, gone);
  std::error_code ec;
  auto keep_going = [this] { return !stopping(); };
  auto build_filter_if_due = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    auto build = finished_->build_filter(*finished_snapshot(), keep_going);
    if (!build) return;
    // Twice at most: each pass reads only the runs flushed during the last.
    for (int pass = 0; pass < 2; ++pass)
      if (finished_->cover_new_runs(*build, *finished_snapshot(), keep_going) == 0) break;
    if (stopping()) return;
    const uint64_t capacity = build->filter ? build->filter->capacity() : 0;
    const size_t covered = build->covered.size();
    {
      std::lock_guard lock(mutex_);
      finished_->publish_filter(std::move(*build));
      set_finished_gauges();
    }
    logger_.debug("journal: shared filter of the finished-event runs built",
                  {{"capacity", static_cast<unsigned long>(capacity)},
                   {"runs", static_cast<unsigned long>(covered)},
                   {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()}});
  };
  finished_->merge_tiers([this] { return finished_snapshot(); },
                         [this](FinishedStore::RunPtr added, const std::vector<FinishedStore::RunPtr>& removed,
                                const FinishedFilter* covered_by) { publish_runs(std::move(added), removed, covered_by); },
                         keep_going, expire_before, ec, build_filter_if_due);
  if (ec) logger_.error("journal: merging finished-event runs failed; keeping them", {{"error", ec.message()}});
  build_filter_if_due();
}

FinishedStore::RunList Journal::finished_snapshot() const {
  // The run list as published (flushes and checkpoints add runs meanwhile,
  // from journal-maint); only the merge thread removes runs. Without
  // mutex_: under NDJSON ingest the HTTP thread slept on it here ~75 times
  // a second, behind journal-sync's settle.
  return finished_->snapshot();
}

void Journal::run_maintenance() {
  std::unique_lock lock(maint_mutex_);
  while (!stopping_) {
    maint_cv_.wait_for(lock, settings_.maintenance_interval,
                       [&] { return stopping_ || flush_requested_.load(std::memory_order_relaxed); });
    if (stopping_) break;
    const bool flush = flush_requested_.exchange(false);
    lock.unlock();  // never held while taking mutex_ (request_flush() nests them the other way)
    const size_t flushed = flush ? flush_finished() : 0;
    uint64_t closed_bytes = 0, all_bytes = 0;
    auto segs = log_->segments();
    for (size_t i = 0; i < segs.size(); ++i) {
      all_bytes += segs[i].bytes;
      if (i + 1 < segs.size()) closed_bytes += segs[i].bytes;
    }
    // After a flush the segments hold mostly events now in a run: a
    // checkpoint is cheap (the entries left in memory) and keeps the replay
    // after a crash short, so it comes once the log holds a few MB.
    // 64 MB: at 16 MB, NDJSON ingest at ~200k events/s checkpointed four
    // times a second, each snapshot holding the journal lock for ~8 ms.
    constexpr uint64_t kAfterFlushBytes = 64u << 20;
    const bool due = closed_bytes >= settings_.checkpoint_bytes ||
                     (flushed > 0 && all_bytes >= std::min<uint64_t>(settings_.checkpoint_bytes, kAfterFlushBytes));
    // Also wait until the log has grown by at least the last snapshot's size
    // (as Redis's auto-aof-rewrite-percentage 100): checkpointing again at
    // once would rewrite the same entries every interval.
    if (due && all_bytes >= 2 * last_snapshot_bytes_ && !log_->fenced()) checkpoint();
    lock.lock();
  }
}

}  // namespace herald
