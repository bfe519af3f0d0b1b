#include "core/history/segment_history_log.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>

#include "core/util/log.hpp"
#include "core/util/presized_appender.hpp"
#include "core/util/threads.hpp"
#include "core/util/time_format.hpp"
#include "core/util/varint.hpp"

namespace herald {
namespace {

constexpr uint8_t kCompactVersion = 1;
constexpr uint32_t kAttemptBit = 1u << 18;

// The fields in the order of their presence bits.
template <class Fields, class Visit>
void for_each_field(Fields& r, Visit&& visit) {
  visit(r.kind);
  visit(r.direction);
  visit(r.at);
  visit(r.tenant);
  visit(r.partner);
  visit(r.contact);
  visit(r.document);
  visit(r.actor);
  visit(r.on_behalf_of);
  visit(r.event_id);
  visit(r.event_type);
  visit(r.message_id);
  visit(r.template_id);
  visit(r.recipient);
  visit(r.transport);
  visit(r.subject);
  visit(r.status);
  visit(r.error);
}

int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

void encode_compact_history_record(std::string& out, const HistoryFields& r, std::string_view id,
                                   int64_t recorded_ms) {
  // Sized exactly, then written with a cursor: one resize per record.
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(recorded_ms, 0));
  uint32_t mask = 0, bit = 1;
  size_t size = 1 + text_size(id) + varint_size(ms);
  for_each_field(r, [&](std::string_view v) {
    if (!v.empty()) {
      mask |= bit;
      size += text_size(v);
    }
    bit <<= 1;
  });
  if (r.attempt > 0) {
    mask |= kAttemptBit;
    size += varint_size(static_cast<uint64_t>(r.attempt));
  }
  size += varint_size(mask);
  const size_t start = out.size();
  out.resize(start + size);
  char* p = out.data() + start;
  *p++ = static_cast<char>(kCompactVersion);
  put_varint(p, mask);
  put_varint(p, ms);
  put_text(p, id);
  for_each_field(r, [&](std::string_view v) {
    if (!v.empty()) put_text(p, v);
  });
  if (r.attempt > 0) put_varint(p, static_cast<uint64_t>(r.attempt));
  assert(p == out.data() + out.size());
}

bool history_record_json(uint8_t type, std::string_view payload, std::string& out) {
  if (type == kHistoryJsonRecord) {
    out.append(payload);
    return true;
  }
  if (type != kHistoryCompactRecord || payload.empty() || uint8_t(payload[0]) != kCompactVersion) return false;
  const char* p = payload.data() + 1;
  const char* const end = payload.data() + payload.size();
  uint64_t mask = 0, ms = 0;
  std::string_view id;
  if (!get_varint_bounded(p, end, mask) || mask >= (uint64_t(kAttemptBit) << 1) ||
      !get_varint_bounded(p, end, ms) || !get_text_bounded(p, end, id))
    return false;
  HistoryFields f;
  bool ok = true;
  uint64_t bit = 1;
  for_each_field(f, [&](std::string_view& v) {
    if (ok && (mask & bit)) ok = get_text_bounded(p, end, v);
    bit <<= 1;
  });
  uint64_t attempt = 0;
  if (ok && (mask & kAttemptBit)) ok = get_varint_bounded(p, end, attempt) && attempt > 0 && attempt <= INT32_MAX;
  if (!ok || p != end) return false;
  f.attempt = static_cast<int>(attempt);
  const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(static_cast<int64_t>(ms)));
  encode_history_record(out, f, id, format_rfc3339_utc(at));
  return true;
}

void encode_history_record(std::string& out, const HistoryFields& r, std::string_view id,
                           std::string_view recorded_at) {
  // Each value with the text that comes before it, ,"key":" (two copies
  // per field instead of four), and whether it is plain whatever it holds
  // (HistoryFields::known_plain; recorded_at is formatted here).
  struct Field {
    std::string_view before, value;
    bool known_plain;
  };
  using F = HistoryFields;
  const uint32_t known = r.known_plain;
  const Field fields[] = {
      {",\"at\":\"", r.at.empty() ? recorded_at : r.at, r.at.empty() || (known & F::kAt) != 0},
      {",\"recorded_at\":\"", recorded_at, true},
      {",\"kind\":\"", r.kind, (known & F::kKind) != 0},
      {",\"direction\":\"", r.direction, (known & F::kDirection) != 0},
      {",\"tenant\":\"", r.tenant, (known & F::kTenant) != 0},
      {",\"partner\":\"", r.partner, false},
      {",\"contact\":\"", r.contact, false},
      {",\"document\":\"", r.document, false},
      {",\"actor\":\"", r.actor, false},
      {",\"on_behalf_of\":\"", r.on_behalf_of, false},
      {",\"event_id\":\"", r.event_id, false},
      {",\"event_type\":\"", r.event_type, (known & F::kEventType) != 0},
      {",\"message_id\":\"", r.message_id, (known & F::kMessageId) != 0},
      {",\"template\":\"", r.template_id, false},
      {",\"recipient\":\"", r.recipient, false},
      {",\"transport\":\"", r.transport, (known & F::kTransport) != 0},
      {",\"subject\":\"", r.subject, false},
      {",\"status\":\"", r.status, (known & F::kStatus) != 0},
      {",\"error\":\"", r.error, false},
  };
  char attempt[16];
  const size_t attempt_len =
      r.attempt ? static_cast<size_t>(std::to_chars(attempt, attempt + sizeof attempt, r.attempt).ptr - attempt) : 0;
  // Most values need no escaping (ids, types, timestamps, and subjects or
  // names whose accented letters are valid UTF-8, which JSON holds as they
  // are). Then every piece's size is known and the record is written with
  // one resize and a memcpy per piece: this runs for every received event
  // and delivery outcome, where ~20 appends of checked, growing std::string
  // cost about twice as much. The few values that need escaping (quotes,
  // control characters, broken UTF-8) are escaped into `escaped` first.
  size_t size = 7 + id.size() + 1;  // {"id":"…"
  bool plain = json_is_plain_utf8(id);
  for (const Field& f : fields) {
    if (f.value.empty()) continue;
    size += f.before.size() + f.value.size() + 1;  // ,"key":"value"
    assert(!f.known_plain || json_is_plain_utf8(f.value));
    plain = plain && (f.known_plain || json_is_plain_utf8(f.value));
  }
  auto write = [&](auto piece) {  // piece(value, i): its text; i 0 is the id, i + 1 field i
    PresizedAppender w(out, size);
    w.put("{\"id\":\"");
    w.put(piece(id, 0));
    w.put('"');
    for (size_t i = 0; i < std::size(fields); ++i) {
      if (fields[i].value.empty()) continue;
      w.put(fields[i].before);
      w.put(piece(fields[i].value, i + 1));
      w.put('"');
    }
  };
  if (plain) {
    write([](std::string_view value, size_t) { return value; });
  } else {
    std::string escaped;
    size_t offset[std::size(fields) + 1], length[std::size(fields) + 1];  // in `escaped`; npos: as is
    auto measure = [&](std::string_view value, size_t i) {
      if (json_is_plain_utf8(value)) {
        offset[i] = std::string::npos;
        return value.size();
      }
      offset[i] = escaped.size();
      append_json_escaped(escaped, value);
      length[i] = escaped.size() - offset[i];
      return length[i];
    };
    size = 7 + measure(id, 0) + 1;
    for (size_t i = 0; i < std::size(fields); ++i)
      if (!fields[i].value.empty()) size += fields[i].before.size() + measure(fields[i].value, i + 1) + 1;
    write([&](std::string_view value, size_t i) {
      return offset[i] == std::string::npos ? value : std::string_view(escaped).substr(offset[i], length[i]);
    });
  }
  if (attempt_len) {
    out += ",\"attempt\":";
    out.append(attempt, attempt_len);
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
  retention_ = std::thread([this] {
    name_this_thread("history-retain");
    make_this_thread_background(settings_.log.background_nice);
    run_retention();
  });
  {
    std::lock_guard lock(queue_mutex_);
    encoder_running_ = true;
  }
  encoder_ = std::thread([this] {
    name_this_thread("history-enc");
    run_encoder();
  });
  return report;
}

void SegmentHistoryLog::close() {
  {
    std::lock_guard lock(queue_mutex_);
    encoder_running_ = false;  // batches from now on are encoded by their callers
  }
  queue_cv_.notify_all();
  if (encoder_.joinable()) encoder_.join();  // after the queue is drained
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (retention_.joinable()) retention_.join();
  log_->close();
}

void SegmentHistoryLog::append(const HistoryRecord& r) {
  append_encoded(1, [&](size_t) { return fields_of(r); });
}

void SegmentHistoryLog::append_fields(const HistoryFields& f) {
  append_encoded(1, [&](size_t) { return f; });
}

void SegmentHistoryLog::append_all(const std::vector<HistoryRecord>& records) {
  append_encoded(records.size(), [&](size_t i) { return fields_of(records[i]); });
}

void SegmentHistoryLog::append_received(std::span<const DocumentEvent* const> events, std::string_view source) {
  append_encoded(events.size(), [&](size_t i) { return received_fields(*events[i], source); });
}

void SegmentHistoryLog::append_received_batch(ReceivedBatch&& batch) {
  const size_t n = batch.received.size();
  // A small batch (a single-event request) is encoded here: handing it to
  // another thread would cost a wake-up more than the encoding.
  if (n >= kEncodeAsideEvents) {
    std::unique_lock lock(queue_mutex_);
    if (encoder_running_) {
      // Its ids and time are taken now, as they would be here.
      queue_.emplace_back(EncodeJob{std::move(batch), seq_.fetch_add(n, std::memory_order_relaxed) + 1,
                                    unix_ms(std::chrono::system_clock::now())});
      lock.unlock();
      queue_cv_.notify_one();
      return;
    }
  }
  append_received(batch.received, batch.source);
  batch.recycle();
}

template <class FieldsAt>
void SegmentHistoryLog::encode(RecordBatch& batch, size_t n, FieldsAt fields_at, uint64_t first,
                               int64_t recorded_ms) const {
  // Every record of the batch encoded straight into one buffer (this runs
  // per ingest batch). Room for a typical record up front (a received
  // event's is ~160 B), so a batch of one (a single-event request) is
  // allocated once, not grown.
  batch.reserve(256);
  std::string id = id_prefix_;
  for (size_t i = 0; i < n; ++i) {
    char seq[24];
    id.resize(id_prefix_.size());
    id.append(seq, std::to_chars(seq, seq + sizeof seq, first + i).ptr);
    batch.add_in_place(kHistoryCompactRecord,
                       [&](std::string& out) { encode_compact_history_record(out, fields_at(i), id, recorded_ms); });
    if (i == 0 && n > 1) batch.reserve(batch.bytes() * n + batch.bytes() * n / 4);  // sized by the first
  }
}

template <class FieldsAt>
void SegmentHistoryLog::append_encoded(size_t n, FieldsAt fields_at) {
  if (n == 0) return;
  const int64_t recorded_ms = unix_ms(std::chrono::system_clock::now());
  const uint64_t first = seq_.fetch_add(n, std::memory_order_relaxed) + 1;
  RecordBatch batch;
  encode(batch, n, fields_at, first, recorded_ms);
  submit(batch);
  written_.inc(n);
}

void SegmentHistoryLog::submit(RecordBatch& batch) {
  std::lock_guard lock(queue_mutex_);
  // Straight to the log unless a batch is ahead of it; under the queue's
  // lock, so that the encoder cannot take a job and append it meanwhile.
  if (queue_.empty() && !encoding_) log_->append_detached(batch);
  else queue_.emplace_back(std::move(batch));
}

void SegmentHistoryLog::run_encoder() {
  std::unique_lock lock(queue_mutex_);
  for (;;) {
    queue_cv_.wait(lock, [&] { return !encoder_running_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything appended
    Job job = std::move(queue_.front());
    queue_.pop_front();
    encoding_ = true;
    lock.unlock();
    if (auto* e = std::get_if<EncodeJob>(&job)) {
      const ReceivedBatch& b = e->batch;
      RecordBatch batch;
      encode(batch, b.received.size(), [&](size_t i) { return received_fields(*b.received[i], b.source); },
             e->first_seq, e->recorded_ms);
      log_->append_detached(batch);
      written_.inc(b.received.size());
      e->batch.recycle();
    } else {
      log_->append_detached(std::get<RecordBatch>(job));
    }
    job = RecordBatch{};  // the events are freed (or given back) here, off the caller's thread
    lock.lock();
    encoding_ = false;
    if (queue_.empty()) idle_cv_.notify_all();  // flush() waits for this
  }
}

void SegmentHistoryLog::flush() {
  {
    std::unique_lock lock(queue_mutex_);
    idle_cv_.wait(lock, [&] { return queue_.empty() && !encoding_; });
  }
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
