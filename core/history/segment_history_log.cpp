#include "core/history/segment_history_log.hpp"

#include <charconv>
#include <cstring>

#include "core/util/time_format.hpp"

namespace herald {
namespace {

constexpr uint8_t kHistoryRecord = 1;

bool plain_json(std::string_view v) {
  unsigned char bad = 0;
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    bad |= static_cast<unsigned char>((c < 0x20) | (c >= 0x80) | (c == '"') | (c == '\\'));
  }
  return !bad;
}

// `,"key":"value"`: one resize and two copies when the value needs no
// escaping (nearly always: ids, types, timestamps). Every received event
// writes some fifteen of these (ingest hot path).
template <size_t N>
void field(std::string& out, const char (&key)[N], std::string_view v) {
  if (v.empty()) return;
  constexpr size_t k = N - 1;
  const bool plain = plain_json(v);
  const size_t at = out.size();
  out.resize(at + k + 5 + (plain ? v.size() + 1 : 0));
  char* p = out.data() + at;
  *p++ = ',';
  *p++ = '"';
  std::memcpy(p, key, k);
  p += k;
  *p++ = '"';
  *p++ = ':';
  *p++ = '"';
  if (plain) {
    std::memcpy(p, v.data(), v.size());
    p[v.size()] = '"';
    return;
  }
  append_json_escaped(out, v);
  out += '"';
}

}  // namespace

HistoryRecord outbound_record(const RenderedMessage& msg) {
  HistoryRecord r;
  r.kind = msg.channel;
  r.direction = "outbound";
  r.tenant = msg.tenant;
  r.partner = msg.partner_id;
  r.contact = msg.contact_id;
  if (msg.event) {
    r.event_id = msg.event->id;
    r.event_type = msg.event->type;
    if (msg.event->document) r.document = msg.event->document->number;
    if (msg.event->actor) r.actor = msg.event->actor->id;
    if (msg.event->on_behalf_of) r.on_behalf_of = msg.event->on_behalf_of->id;
  }
  r.message_id = msg.message_id;
  r.template_id = msg.template_id;
  for (const auto& to : msg.to) r.recipient += (r.recipient.empty() ? "" : ",") + to.address;
  r.subject = msg.subject;
  r.attempt = msg.attempt;
  return r;
}

void encode_history_record(std::string& out, const HistoryRecord& r, std::string_view id,
                           std::string_view recorded_at) {
  out += "{\"id\":\"";
  append_json_escaped(out, id);
  out += '"';
  field(out, "at", r.at.empty() ? recorded_at : std::string_view(r.at));
  field(out, "recorded_at", recorded_at);
  field(out, "kind", r.kind);
  field(out, "direction", r.direction);
  field(out, "tenant", r.tenant);
  field(out, "partner", r.partner);
  field(out, "contact", r.contact);
  field(out, "document", r.document);
  field(out, "actor", r.actor);
  field(out, "on_behalf_of", r.on_behalf_of);
  field(out, "event_id", r.event_id);
  field(out, "event_type", r.event_type);
  field(out, "message_id", r.message_id);
  field(out, "template", r.template_id);
  field(out, "recipient", r.recipient);
  field(out, "transport", r.transport);
  field(out, "subject", r.subject);
  field(out, "status", r.status);
  field(out, "error", r.error);
  if (r.attempt) {
    out += ",\"attempt\":";
    out += std::to_string(r.attempt);
  }
  out += '}';
}

SegmentHistoryLog::SegmentHistoryLog(HistorySettings settings, std::unique_ptr<LogIo> io, Logger& log,
                                     MetricsRegistry& metrics)
    : settings_(std::move(settings)),
      logger_(log),
      log_(std::make_unique<SegmentLog>(settings_.log, std::move(io), log, metrics)),
      written_(metrics.counter("herald_history_records_total", "History records appended")),
      removed_(metrics.counter("herald_history_segments_removed_total", "History segments removed by retention")) {
  auto now = std::chrono::system_clock::now();
  id_prefix_ = "h" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()) + "-";
}

SegmentHistoryLog::~SegmentHistoryLog() { close(); }

RecoveryReport SegmentHistoryLog::open() {
  // History is not replayed into memory (queries come with the history API);
  // open() still verifies every record and cuts a torn tail.
  RecoveryReport report = log_->open([](uint8_t, std::string_view, uint64_t) {});
  retention_ = std::thread([this] { run_retention(); });
  return report;
}

void SegmentHistoryLog::close() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (retention_.joinable()) retention_.join();
  log_->close();
}

void SegmentHistoryLog::append(const HistoryRecord& r) { append_all({r}); }

void SegmentHistoryLog::append_all(const std::vector<HistoryRecord>& records) {
  if (records.empty()) return;
  std::string recorded_at = format_rfc3339_utc(std::chrono::system_clock::now());
  uint64_t first = seq_.fetch_add(records.size(), std::memory_order_relaxed) + 1;
  RecordBatch batch;
  // One buffer for every record of the batch (this runs per ingest batch).
  std::string id = id_prefix_, json;
  json.reserve(512);
  for (size_t i = 0; i < records.size(); ++i) {
    char seq[24];
    auto end = std::to_chars(seq, seq + sizeof seq, first + i).ptr;
    id.resize(id_prefix_.size());
    id.append(seq, end);
    json.clear();
    encode_history_record(json, records[i], id, recorded_at);
    batch.add(kHistoryRecord, json);
  }
  log_->append_detached(batch);
  written_.inc(records.size());
}

void SegmentHistoryLog::flush() {
  RecordBatch none;
  log_->append_wait(none);
}

size_t SegmentHistoryLog::apply_retention() {
  auto segs = log_->segments();
  if (segs.size() < 2) return 0;
  uint64_t total = 0;
  for (const auto& s : segs) total += s.bytes;
  const auto now = std::filesystem::file_time_type::clock::now();
  uint64_t remove_before = 0;
  for (size_t i = 0; i + 1 < segs.size(); ++i) {  // never the current segment
    const bool too_old = settings_.max_age.count() > 0 && segs[i].modified + settings_.max_age < now;
    const bool too_big = settings_.max_bytes > 0 && total > settings_.max_bytes;
    if (!too_old && !too_big) break;
    total -= segs[i].bytes;
    remove_before = segs[i].number + 1;
  }
  if (!remove_before) return 0;
  size_t n = log_->remove_segments_before(remove_before);
  removed_.inc(n);
  logger_.info("history retention", {{"segments_removed", static_cast<unsigned long>(n)}});
  return n;
}

void SegmentHistoryLog::run_retention() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, settings_.retention_interval, [&] { return stopping_; });
    if (stopping_) break;
    if (settings_.max_age.count() == 0 && settings_.max_bytes == 0) continue;
    lock.unlock();
    apply_retention();
    lock.lock();
  }
}

}  // namespace herald
