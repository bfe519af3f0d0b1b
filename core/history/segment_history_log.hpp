#pragma once
// SegmentHistoryLog: the communication history (SPEC §6) on the same
// SegmentLog engine as the journal, in its own directory.
//
// Each record is one JSON object (fields as in SPEC §6). Records get a unique
// `id` (process start time + sequence) and `recorded_at`. Appends join the
// next group commit without waiting: history must never slow delivery down,
// and losing the newest records at a power cut is tolerated where losing an
// accepted event is not. Retention removes whole segments, oldest first, by
// age and by total size.
//
// A large accepted batch (append_received_batch, kEncodeAsideEvents or
// more) is encoded, and its events freed, on the log's own thread
// (`history-enc`): under NDJSON ingest that was ~10 % of the HTTP thread,
// the one that bounds it. Appends stay in order: while a batch waits or is
// being encoded, every other append (already encoded by its caller) queues
// behind it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "core/history/history_log.hpp"
#include "core/storage/segment_log.hpp"

namespace herald {

struct HistorySettings {
  SegmentLogOptions log;
  std::chrono::seconds max_age{0};  // 0 = keep forever
  uint64_t max_bytes = 0;           // 0 = no size limit
  std::chrono::milliseconds retention_interval{60'000};
};

// The JSON form of one record (no trailing newline), appended to `out`:
// what herald-logdump prints and the history API will serve.
void encode_history_record(std::string& out, const HistoryFields& r, std::string_view id,
                           std::string_view recorded_at);

// The form records are stored in since session 34 (record type
// kHistoryCompactRecord; type kHistoryJsonRecord, the JSON form, is still
// read): a version byte (1), a varint of the fields present (bit i: the
// i-th of kind, direction, at, tenant, partner, contact, document, actor,
// on_behalf_of, event_id, event_type, message_id, template, recipient,
// transport, subject, status, error; bit 18: attempt), recorded_at as
// varint Unix milliseconds, the id, then each present field as a varint
// length and its bytes, and the attempt as a varint. No key names, quotes
// or escaping: a received event's record is ~160 bytes instead of ~330,
// and written to the page cache, the bytes were what the history cost this
// VM (a test build with ~110-byte records ingested NDJSON 15 % faster).
inline constexpr uint8_t kHistoryJsonRecord = 1;
inline constexpr uint8_t kHistoryCompactRecord = 2;
void encode_compact_history_record(std::string& out, const HistoryFields& r, std::string_view id,
                                   int64_t recorded_ms);
// A stored record of either type as JSON (encode_history_record's form),
// appended to `out`; false (and `out` as it was) if it is neither.
bool history_record_json(uint8_t type, std::string_view payload, std::string& out);

class SegmentHistoryLog final : public HistoryLog {
 public:
  SegmentHistoryLog(HistorySettings settings, std::unique_ptr<LogIo> io, Logger& log, MetricsRegistry& metrics);
  ~SegmentHistoryLog() override;

  RecoveryReport open();
  void close();

  void append(const HistoryRecord& record) override;
  void append_fields(const HistoryFields& fields) override;
  void append_all(const std::vector<HistoryRecord>& records) override;
  void append_received(std::span<const DocumentEvent* const> events, std::string_view source) override;
  void append_received_batch(ReceivedBatch&& batch) override;
  // Waits until everything appended so far is durable.
  void flush() override;

  static constexpr size_t kEncodeAsideEvents = 64;

  // Applies the retention limits once; returns segments removed.
  size_t apply_retention();

  SegmentLog& log() { return *log_; }

 private:
  void run_retention();
  template <class FieldsAt>
  void append_encoded(size_t n, FieldsAt fields_at);
  template <class FieldsAt>
  void encode(RecordBatch& batch, size_t n, FieldsAt fields_at, uint64_t first, int64_t recorded_ms) const;
  // Hands an encoded batch to the log, or queues it behind a batch that
  // waits for (or is in) the encoder.
  void submit(RecordBatch& batch);
  void run_encoder();

  struct EncodeJob {
    ReceivedBatch batch;
    uint64_t first_seq = 0;
    int64_t recorded_ms = 0;
  };
  using Job = std::variant<RecordBatch, EncodeJob>;

  HistorySettings settings_;
  Logger& logger_;
  std::unique_ptr<SegmentLog> log_;
  std::string id_prefix_;
  std::atomic<uint64_t> seq_{0};
  Counter& written_;
  Counter& removed_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread retention_;

  std::mutex queue_mutex_;  // guards the four below
  std::condition_variable queue_cv_;  // the encoder waits for jobs
  std::condition_variable idle_cv_;   // flush() waits for the encoder to be done
  std::deque<Job> queue_;
  bool encoding_ = false;  // the encoder holds a job taken off the queue
  bool encoder_running_ = false;  // from open() until close() stops it
  std::thread encoder_;
};

}  // namespace herald
