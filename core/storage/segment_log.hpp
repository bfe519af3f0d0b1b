#pragma once
// SegmentLog: the one append-only log engine behind the journal and the
// history (SPEC §6): CRC32C-framed records in numbered segment files, group
// commit, torn-tail recovery.
//
// Group commit: writers frame their records into a RecordBatch on their own
// thread (CRC included), then hand it over with one short critical section.
// A single flusher thread takes everything pending, writes it with one
// write+fdatasync (io_uring or pwrite, see LogIo) and completes every waiter
// of that batch together. While one sync runs, the next batch accumulates, so
// syncs per second stay bounded while appends per second scale with load.
//
// Failure policy (RELIABILITY.md, PostgreSQL "fsyncgate"):
//  - a failed *write* (ENOSPC, EIO) cuts the file back to the last durable
//    byte and fails that batch's waiters; later batches try again, so service
//    resumes when space returns;
//  - a failed *sync* fences the log: the kernel may have dropped the dirty
//    pages, so no later sync can prove them durable. Every waiter from then on
//    fails, and the owner must restart and replay from disk.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/storage/gradual_removal.hpp"
#include "core/storage/log_format.hpp"
#include "core/storage/log_io.hpp"
#include "core/storage/segment_preparer.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

struct SegmentLogOptions {
  std::filesystem::path dir;
  std::string name = "journal";  // metric label and log field
  uint64_t segment_bytes = 64ull << 20;
  // The flusher waits up to max_batch_delay for more records unless this many
  // bytes are already pending. Delay 0 = natural batching only (records that
  // arrive during a sync form the next batch), the lowest latency.
  size_t max_batch_bytes = 4u << 20;
  std::chrono::microseconds max_batch_delay{0};
  // A group commit starts no sooner than this after the previous one started
  // (unless max_batch_bytes are pending). Under a steady load that bounds
  // fdatasyncs per second; an idle log syncs at once. On a VM every sync
  // costs the host CPU time charged to the guest, and at ~4 000 syncs/s this
  // VM stalled for 5-12 ms every 100 ms (bench/e2e.sh's durable ceiling
  // shows it: p99 at 5 000/s 11-12 ms with no interval, ~3 ms with 1 ms).
  std::chrono::microseconds min_commit_interval{0};
  // A group commit that nobody waits on (every append in it detached) is
  // written at once but synced only when sync_interval has passed since the
  // last sync; the flusher syncs what is left when it runs out, and before a
  // rotation or close. A killed process loses nothing it wrote (the page
  // cache keeps it), a power cut at most sync_interval of records. Every
  // fdatasync costs a VM's host CPU charged to the guest: the history's
  // ~200 syncs/s beside the journal's made this VM's vCPUs stall (steal)
  // under deliveries. 0 = every group commit syncs (the journal).
  std::chrono::microseconds sync_interval{0};
  LogIoMode io = LogIoMode::automatic;
  // The segment file is extended with zeros this far ahead of its records
  // (never past segment_bytes), so a group commit's fdatasync overwrites
  // allocated blocks without changing the file size: no inode write per
  // sync (on ext4 without a journal, a second synchronous write). 0 = off.
  uint64_t fill_ahead_bytes = 1u << 20;
  // Up to this many removed segments are kept as `<number>.spare` files and
  // reused for the next segments (rename, new header), like PostgreSQL's
  // recycled WAL segments: their blocks are written already, so a commit
  // neither fills zeros ahead (written to disk once as zeros, then again as
  // records: under bulk ingest ~40 % of the journal's disk traffic) nor
  // changes the file size, and nothing is discarded. 0 = every removed
  // segment is deleted.
  size_t spare_segments = 0;
  // Whenever the log has to fill zeros ahead itself (no spare to move
  // into), a whole segment file is written in the background at up to
  // prepare_bytes_per_second (segment_preparer.hpp); the first commit that
  // then needs room moves into it instead of filling. Its size changes
  // and zero writes thus stay off the commits, as with a reused spare.
  // It is kept like a spare, beside spare_segments.
  bool prepare_segments = false;
  uint64_t prepare_bytes_per_second = 8ull << 20;
  // The nice increment of the threads that work for this log in the
  // background (its preparer and its remover of old segments; the
  // journal's merges and its runs' remover, the history's retention:
  // make_this_thread_background). 0 = the daemon's own priority.
  int background_nice = 0;
};

// Records framed by the writer before they enter the log's critical section
// (sealed by the log when it writes them: log_format.hpp).
class RecordBatch final {
 public:
  void add(uint8_t type, std::string_view payload) {
    add_in_place(type, [&](std::string& out) { out.append(payload); });
  }
  // One record whose payload `write(std::string& out)` appends to `out` in
  // place: the journal and the history encode every ingested event this way,
  // without a payload string built first and copied after.
  template <class Write>
  void add_in_place(uint8_t type, Write&& write) {
    const size_t start = begin_record(bytes_, type);
    write(bytes_);
    end_record(bytes_, start);
    ++count_;
  }
  // Room for `bytes` without reallocating: a batch growing by doubling
  // copies itself ~twice over (callgrind: ~1 KB per ingested event).
  void reserve(size_t bytes) { bytes_.reserve(bytes); }
  // Pre-sizes the buffer and touches its pages, so that filling it later
  // (a checkpoint, under the journal lock) neither reallocates nor faults.
  void prepare(size_t bytes) {
    bytes_.reserve(bytes);
    const size_t used = bytes_.size();
    bytes_.resize(bytes_.capacity());
    bytes_.resize(used);
  }
  bool empty() const { return count_ == 0; }
  size_t count() const { return count_; }
  size_t bytes() const { return bytes_.size(); }
  void clear() {
    bytes_.clear();
    count_ = 0;
  }

 private:
  friend class SegmentLog;
  std::string bytes_;
  size_t count_ = 0;
};

struct SegmentInfo {
  uint64_t number = 0;
  uint64_t bytes = 0;
  std::filesystem::file_time_type modified;
};

struct RecoveryReport {
  size_t segments = 0;
  size_t records = 0;
  uint64_t truncated_bytes = 0;  // torn tail cut from the newest segment
  // A reused segment's earlier bytes cut after the newest segment's records
  // (normal after a restart with spare_segments; no damage).
  uint64_t reused_bytes_cut = 0;
  size_t corrupt_segments = 0;   // older segments whose rest could not be read
  std::vector<std::string> notes;
};

struct AppendResult {
  boost::system::error_code ec;
  uint64_t segment = 0;  // segment the batch's first record went to
};

// What a batch's appender is told, once, on the flusher thread, as soon as
// the batch's fate is known (before any later batch completes). It must be
// quick and must not append. A completion that has more to do elsewhere
// names the executor for it; the flusher then hands the completions of one
// group commit to each such executor in one post, where resume() runs,
// in commit order.
class AppendCompletion {
 public:
  virtual ~AppendCompletion() = default;
  virtual void done(const AppendResult& r) = 0;
  virtual std::optional<boost::asio::any_io_executor> executor() const { return std::nullopt; }
  virtual void resume() {}
};

// Wraps an Asio completion handler into an AppendCompletion that runs the
// handler on its associated executor (never on the flusher thread).
// `before` (optional) runs first, on the flusher thread. Boost 1.81's
// any_completion_handler cannot be posted, hence the concrete type here.
// One allocation per waiter (each HTTP request's group commit), made and
// freed on the waiter's own thread.
template <class Handler, class Before = std::nullptr_t>
std::unique_ptr<AppendCompletion> post_to_handler(Handler handler, Before before = nullptr) {
  class Posting final : public AppendCompletion {
   public:
    Posting(Handler&& h, Before&& b) : handler_(std::move(h)), before_(std::move(b)) {}
    void done(const AppendResult& r) override {
      if constexpr (!std::is_same_v<Before, std::nullptr_t>) before_(r);
      ec_ = r.ec;
    }
    std::optional<boost::asio::any_io_executor> executor() const override {
      return boost::asio::any_io_executor(boost::asio::get_associated_executor(handler_));
    }
    void resume() override { std::move(handler_)(ec_); }

   private:
    Handler handler_;
    Before before_;
    boost::system::error_code ec_;
  };
  return std::make_unique<Posting>(std::move(handler), std::move(before));
}

// Visitor for replay: record type, payload, segment number.
using ReplayVisitor = std::function<void(uint8_t type, std::string_view payload, uint64_t segment)>;

class SegmentLog final {
 public:
  SegmentLog(SegmentLogOptions options, std::unique_ptr<LogIo> io, Logger& log, MetricsRegistry& metrics);
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Locks the directory, replays every valid record in order into `visit`,
  // cuts a torn tail, and starts the flusher. Throws on errors that make the
  // log unusable (directory in use, unreadable).
  RecoveryReport open(const ReplayVisitor& visit);

  // Flushes everything pending, then stops the flusher. Idempotent.
  void close();

  // Completes with the batch's durability: void(boost::system::error_code).
  // The handler runs on its associated executor. `batch` is consumed.
  template <class CompletionToken>
  auto async_append(RecordBatch& batch, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this](auto handler, RecordBatch* b) {
          append_callback(*b, post_to_handler(std::move(handler)));
        },
        token, &batch);
  }

  // Fire and forget: written with the next group commit; a failure is logged
  // and counted by the log itself. For records whose loss at a crash only
  // means redoing work (delivery outcomes, history).
  void append_detached(RecordBatch& batch);

  // `done` is told on the flusher thread (see AppendCompletion).
  void append_callback(RecordBatch& batch, std::unique_ptr<AppendCompletion> done);

  // For threads that may block (maintenance, tools, tests). With
  // `rotate_first` the records start a new segment.
  std::future<AppendResult> append_future(RecordBatch& batch, bool rotate_first = false);
  AppendResult append_wait(RecordBatch& batch, bool rotate_first = false) {
    return append_future(batch, rotate_first).get();
  }

  // Deletes every whole segment numbered below `segment` (never the current):
  // gone under their names on return, their space freed in the background
  // or kept as a spare (SegmentLogOptions::spare_segments).
  size_t remove_segments_before(uint64_t segment);
  size_t spare_segments() const;
  // Until the removed segments' space is freed (tests).
  void wait_removals() { remover_.wait_idle(); }
  // Until no segment is being prepared (tests; prepare_segments).
  void wait_prepared() {
    if (preparer_) preparer_->wait_idle();
  }
  std::vector<SegmentInfo> segments() const;
  uint64_t current_segment() const;

  bool fenced() const;
  std::string fence_reason() const;
  // Called once, from the flusher thread, when the log fences itself.
  void on_fenced(std::function<void(const std::string& reason)> f) { on_fenced_ = std::move(f); }

  const SegmentLogOptions& options() const { return options_; }
  // Replaces min_commit_interval from the next group commit on (CommitPacer).
  void set_min_commit_interval(std::chrono::microseconds interval);
  std::chrono::microseconds min_commit_interval() const {
    return std::chrono::microseconds(min_commit_interval_us_.load(std::memory_order_relaxed));
  }
  const char* io_name() const { return io_->name(); }

  // Batches this large join a group commit from their own buffer (written
  // with the others by one writev); smaller ones are copied together.
  static constexpr size_t kMoveBatchBytes = 16u << 10;

 private:
  using Promise = std::promise<AppendResult>;
  struct Waiter {
    std::variant<std::monostate, std::shared_ptr<Promise>, std::unique_ptr<AppendCompletion>> target;
    size_t chunk = 0;  // index into the pending chunks
  };
  struct Chunk {
    // Small batches, copied in one after the other (the buffer is reused
    // from one group commit to the next).
    std::string bytes;
    // Large batches, moved in whole: each goes after the first `at` bytes
    // of `bytes`. Copying an NDJSON request's records (hundreds of KB) cost
    // its HTTP thread ~4 % of its time, under the log's lock.
    struct Moved {
      size_t at;
      std::string bytes;
    };
    std::vector<Moved> moved;
    size_t records = 0;
    bool rotate_before = false;
    size_t size() const {  // the records' bytes, copied and moved
      size_t n = bytes.size();
      for (const Moved& m : moved) n += m.bytes.size();
      return n;
    }
    void clear() {
      bytes.clear();
      moved.clear();
      records = 0;
      rotate_before = false;
    }
  };

  void enqueue(RecordBatch& batch, bool rotate_first, Waiter waiter);
  void run_flusher();
  // Writes the chunks in order; results[i] belongs to chunks[i].
  // `sync` false: written only, synced later (see sync_interval).
  void write_chunks(std::vector<Chunk>& chunks, std::vector<AppendResult>& results, bool sync);
  // Seals a chunk's records for the current segment and lists its slices,
  // in order, followed by the end marker.
  IoSlices seal_chunk(Chunk& c);
  std::vector<iovec> slices_;  // flusher thread only: seal_chunk's
  // Syncs the current segment's written records (sync_interval); fences on failure.
  void sync_written();
  boost::system::error_code rotate();
  // The next segment's file made from a spare, or -1 (none, or it failed).
  int reuse_spare(uint64_t next);
  void fence(const std::string& reason);
  // Writes zeros after the records up to fill_ahead_bytes beyond `end`.
  void fill_ahead(uint64_t end);
  // Whether the flusher should move to a new segment rather than fill
  // zeros ahead for `bytes` more (prepare_segments); asks for one if none is ready.
  bool rotate_instead_of_filling(uint64_t bytes);

  // The completions of one group commit to resume, by executor.
  using Resumes = std::vector<std::pair<boost::asio::any_io_executor, std::vector<std::unique_ptr<AppendCompletion>>>>;
  static void complete(Waiter& w, const AppendResult& r, Resumes& resumes);
  static void post_resumes(Resumes& resumes);
  void replay_segment(uint64_t number, bool last, const ReplayVisitor& visit, RecoveryReport& report);
  std::filesystem::path segment_path(uint64_t n) const { return options_.dir / segment_file_name(n); }
  std::filesystem::path spare_path(uint64_t n) const;

  SegmentLogOptions options_;
  std::unique_ptr<LogIo> io_;
  Logger& log_;

  int dir_fd_ = -1;
  // Flusher-owned (after open()): the segment being appended to.
  int cur_fd_ = -1;
  uint64_t cur_size_ = 0;    // end of the last record
  uint64_t filled_end_ = 0;  // the file's size: zeros (or a spare's old bytes) from cur_size_ up to here
  uint32_t cur_salt_ = 0;    // its records' salt (log_format.hpp)
  bool unsynced_ = false;    // records written since the last sync
  // min(), not the clock's epoch (boot): within sync_interval of boot, the
  // first records would otherwise count as synced just now.
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::time_point::min();
  // Replay: the end of the records of segments whose rest was filled ahead.
  std::unordered_map<uint64_t, uint64_t> record_end_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::vector<Chunk> pending_;
  std::vector<Waiter> waiters_;
  size_t pending_bytes_ = 0;
  bool stopping_ = false;
  bool flusher_idle_ = false;  // waiting for the first record of a batch
  std::chrono::steady_clock::time_point last_commit_{};  // flusher thread only
  std::atomic<int64_t> min_commit_interval_us_;  // options_.min_commit_interval, as paced
  bool fenced_ = false;
  std::string fence_reason_;
  uint64_t cur_segment_ = 0;
  std::vector<SegmentInfo> closed_;  // older segments, oldest first
  struct Spare {
    std::filesystem::path path;
    uint64_t bytes = 0;  // its size: blocks written already
    static bool smaller(const Spare& a, const Spare& b) { return a.bytes < b.bytes; }
  };
  std::vector<Spare> spares_;  // files kept for reuse (spare_segments), smallest first
  // Kept (remove_segments_before) or prepared (preparer_) spares join spares_.
  void add_spares(std::vector<Spare> spares);

  std::function<void(const std::string&)> on_fenced_;
  std::thread flusher_;

  Histogram& sync_seconds_;
  Counter& batches_;
  Counter& records_;
  Counter& bytes_;
  Counter& write_errors_;
  Counter& detached_lost_;
  Gauge& fenced_gauge_;
  Gauge& segments_gauge_;
  Gauge& spares_gauge_;
  Gauge& commit_interval_gauge_;
  Counter& prepared_;
  // Segments removed by a checkpoint or by retention (gradual_removal.hpp).
  GradualRemover remover_;
  // Last: its thread adds spares (prepare_segments), so it stops first.
  std::unique_ptr<SegmentPreparer> preparer_;
};

}  // namespace herald
