#pragma once
// Journal: the durable record of accepted events and of every message's
// delivery state, on top of SegmentLog (SPEC §2: nothing accepted is lost).
//
// In memory it keeps one EventEntry per unfinished event (and per event
// whose commit is in flight): its planned messages and their states. Once
// an event is committed and every message final, its entry leaves that map
// for the pending run (PendingRun), its record as a run on disk will hold
// it. The map, the pending run and the runs of older finished events on
// disk (below) answer duplicate submissions and GET /v1/events/{id} within
// the idempotency window; the map alone answers recovery ("what is
// unfinished?").
//
// Records (payloads are JSON; see journal.cpp for the fields):
//   accepted  the event as received + its planned message ids; written with
//             group commit *before* the 202/XACK
//   state     one message's state after an attempt (fire-and-forget: losing
//             the newest at a crash only means one more attempt)
//   snapshot  an event's whole entry, written by a checkpoint
//
// Finished entries leave memory: once `finished_in_memory` events have
// finished since the last flush, the maintenance thread writes them to a
// sorted run file (FinishedStore, journal/finished/) and drops the pending
// run they were in, so memory holds unfinished events and about that many finished ones
// however many events the idempotency window holds. Lookups that miss the
// map and the pending run ask the runs (a Bloom filter per run, one block
// read on a hit).
//
// Checkpoint: when closed segments exceed `checkpoint_bytes`, or after a
// flush once the log holds 64 MB, the open entries (unfinished, or with
// their commit in flight) are rewritten as snapshot records at the start of
// a fresh segment, the finished ones still in memory go to a run, and once
// both are durable every older segment is deleted. Replay merges records
// monotonically (a final state is sticky, otherwise more attempts win), so
// records racing with a checkpoint are harmless.
#include <boost/asio/async_result.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/delivery/delivery_ledger.hpp"
#include "core/journal/finished_store.hpp"
#include "core/journal/pending_run.hpp"
#include "core/model/document_event.hpp"
#include "core/storage/segment_log.hpp"
#include "core/util/page_allocator.hpp"

namespace herald {

// The record type of an accepted event (its header in varints, then the
// event's text), and its header as the JSON object herald-logdump --raw
// prints ({"t","id","ty","src","at","m":[[id, channel]…]}, the form of the
// type-1 records written before session 34), with `event` its text; false
// if `payload` is not such a record.
inline constexpr uint8_t kJournalAcceptedCompact = 5;
bool journal_accepted_json(std::string_view payload, std::string& header, std::string_view& event);

struct JournalSettings {
  SegmentLogOptions log;
  std::chrono::seconds idempotency_window{7 * 24 * 3600};
  uint64_t checkpoint_bytes = 256ull << 20;  // closed-segment bytes that trigger a checkpoint
  std::chrono::milliseconds maintenance_interval{5'000};
  // Events finished between two flushes of finished entries to a run on disk.
  size_t finished_in_memory = 16'384;
};

struct MessageStatus {
  std::string id;
  std::string channel;
  MessageState state = MessageState::queued;
  int attempts = 0;
  int64_t next_attempt_ms = 0;  // unix ms, when deferred
  std::string detail;           // last server reply or error
};

struct EventStatus {
  std::string tenant;
  std::string id;
  std::string type;
  std::string source;
  int64_t accepted_ms = 0;
  bool committed = false;  // durable (false while its first commit is in flight)
  bool done = false;       // every message reached a final state
  std::vector<MessageStatus> messages;
};

// Unfinished work found by recovery.
struct PendingEvent {
  std::string tenant;
  std::string id;
  std::string event_json;  // the event as accepted (attachments included)
  std::string source;
  std::vector<MessageStatus> messages;  // those not yet in a final state
};

struct PlannedMessage {
  std::string id;
  std::string channel;
};

// What the journal keeps in memory per event (see Journal). While a message
// is unfinished, `live` holds the whole state, including the event's JSON
// for checkpoints. Once every message is final the entry is packed into one
// small buffer (about 150 B for an event with one message, against ~430 B of
// strings and vectors), which the entry's record in the pending run is made
// of (its commit settled, the entry leaves the map).
struct JournalEntry {
  struct Live {
    std::string tenant;
    std::string id;
    std::string type;
    std::string source;
    std::vector<MessageStatus> messages;
    std::string event_json;  // while unfinished: checkpoints rewrite it
  };
  int64_t accepted_ms = 0;
  uint32_t unfinished = 0;
  bool staged = false;
  bool committed = false;
  std::unique_ptr<Live> live;       // set unless packed
  std::unique_ptr<char[]> packed;   // a finished entry (journal.cpp: pack())
  // Instead of either, for an event with nothing to send while its commit
  // is in flight: its pending-run record, which stage() wrote into its
  // admission's buffer (settled from there without a packed copy).
  const char* record = nullptr;
};

// One request's (or one Redis batch's) journal work.
class Admission {
 public:
  size_t reserved() const { return keys_.size(); }

 private:
  friend class Journal;
  RecordBatch batch_;
  // Reserved by this admission, in order: the key (to release it if the
  // commit fails) and the map's entry, which stays put until settled, so
  // stage, commit and settle never look a key up again.
  // (Inline for one event, the most common admission: an HTTP request.)
  template <class T>
  using Slots = boost::container::small_vector<T, 1>;
  Slots<std::string> keys_;
  Slots<uint64_t> hashes_;  // the keys' hashes in the map (to find them again once settled)
  // (A vector: GCC 12 reports a false -Wstringop-overread when a
  // small_vector of pointers is moved into the commit's callback.)
  std::vector<JournalEntry*> entries_;
  // Built by stage() without the journal lock; applied in one go by
  // async_commit(), so concurrent batches do not contend per event.
  Slots<JournalEntry> staged_;
  // The pending-run records of the staged events with nothing to send
  // (most ingest), and where each starts, in staging order: settle() adds
  // them to the pending run in one go. Allocated once, by the first: the
  // entries point into it until settled.
  std::unique_ptr<std::string> finished_;
  std::vector<PendingRun::Placed> finished_placed_;
  // When the last reservation was made (unix ms): the accepted time stage()
  // records for the events reserved then, instead of a clock read per
  // event (~2 % of the HTTP thread under NDJSON ingest).
  int64_t reserved_ms_ = 0;
};

enum class Reservation { fresh, duplicate, in_flight };

class Journal final : public DeliveryLedger {
 public:
  Journal(JournalSettings settings, std::unique_ptr<LogIo> io, Logger& log, MetricsRegistry& metrics);
  ~Journal() override;

  // Replays the log; returns unfinished work. Starts maintenance (checkpoints).
  RecoveryReport open(std::vector<PendingEvent>& pending);
  void close();

  static std::string key(std::string_view tenant, std::string_view id);

  // fresh: the key is now reserved for the caller (stage() it next).
  // duplicate: known and durable; `existing` holds its status.
  // in_flight: another admission is committing it; ask status() after commit.
  Reservation reserve(Admission& adm, const std::string& key, EventStatus* existing);
  // reserve() for a whole batch under one lock: out[i] answers keys[i] (as
  // long as keys), and each duplicate's index and status are appended to
  // `duplicates`, in order (a status per key, mostly unused, was 500
  // constructed and destroyed per NDJSON request). Fresh keys are moved
  // into the admission; the others are left.
  void reserve_all(Admission& adm, std::span<std::string> keys, std::span<Reservation> out,
                   std::vector<std::pair<size_t, EventStatus>>& duplicates);

  // Records the event and its planned messages for commit(). Fresh
  // reservations are staged in the order they were reserved, each once.
  void stage(Admission& adm, const DocumentEvent& event, const std::string& source,
             const std::vector<PlannedMessage>& messages);

  // Makes the admission durable: void(boost::system::error_code). On failure
  // every key it staged is released again. An empty admission still waits
  // for everything enqueued before it (a barrier for in_flight duplicates).
  template <class CompletionToken>
  auto async_commit(Admission& adm, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this](auto handler, Admission* a) {
          // settle() runs on the flusher thread before any later batch
          // completes, so a duplicate's barrier commit always observes this
          // admission's outcome.
          std::lock_guard lock(mutex_);
          apply_staged(*a);
          // Enqueued under the lock: a checkpoint's snapshot and these
          // records reach the disk in the order memory saw them.
          log_->append_callback(
              a->batch_,
              post_to_handler(std::move(handler),
                              [this, keys = std::move(a->keys_), hashes = std::move(a->hashes_),
                               entries = std::move(a->entries_), finished = std::move(a->finished_),
                               placed = std::move(a->finished_placed_)](const AppendResult& r) mutable {
                                settle(keys, hashes, entries, std::move(finished), placed, !r.ec);
                              }));
          a->keys_.clear();
          a->hashes_.clear();
          a->entries_.clear();
          a->finished_placed_.clear();
        },
        token, &adm);
  }

  std::optional<EventStatus> status(const std::string& key) const;

  void record_attempt(const RenderedMessage& msg, MessageState state, std::string_view detail,
                      std::chrono::system_clock::time_point next_attempt) override;

  // Rewrites live state into a new segment and deletes older ones. Called by
  // maintenance; public for tests. Returns the segments removed.
  size_t checkpoint();
  // Moves the finished entries in memory to a new run; returns how many.
  // Called by maintenance; public for tests.
  size_t flush_finished();
  // Deletes runs that left the window, merges runs of one size tier until
  // no tier has four (lower tiers also during a higher tier's merge), and
  // builds the filter the runs share when one is due
  // (FinishedStore::build_filter), also between and during merges, then
  // adds the runs flushed while it was built. Called by the merge thread;
  // public for tests.
  void compact_finished();
  // Until the files of removed runs and segments are gone (tests).
  void wait_removals() {
    finished_->wait_removals();
    log_->wait_removals();
  }

  bool fenced() const { return log_->fenced(); }
  std::string fence_reason() const { return log_->fence_reason(); }
  void on_fenced(std::function<void(const std::string&)> f) { log_->on_fenced(std::move(f)); }
  SegmentLog& log() { return *log_; }
  // Events known: in memory plus on disk (a key counted once per run).
  size_t entries() const;
  size_t entries_in_memory() const;
  size_t finished_runs() const;

 private:
  using EventEntry = JournalEntry;

  // An entry in the map, with its key (tenant, 0x1f, id).
  struct MapNode {
    std::string key;
    EventEntry entry;
  };
  // A map slot: the key's hash and its node. 16 bytes, where a slot holding
  // the key itself (a std::string) and a pointer was 48: the HTTP thread
  // writes a new slot per event and journal-sync erases it at the commit,
  // and in the smaller table those are fewer cache misses. The hash,
  // computed once, spares the rehashes (which Boost's anti-drift rule makes
  // periodic under steady insert/erase churn) reading a key's bytes; it is
  // seeded per process, so ids cannot be chosen to collide.
  struct MapSlot {
    uint64_t hash;
    mutable std::unique_ptr<MapNode> node;  // moved out as the slot is erased
  };
  // A lookup whose hash was computed before the lock was taken (batches
  // hash their keys outside it: ingest and flushes contend for the lock).
  struct KeyProbe {
    std::string_view text;
    uint64_t hash;
  };
  // A lookup of an entry known to be in the map (a commit settling its
  // batch): its node's address says which, so the key is never read (for
  // ids over 15 bytes, a cache miss more per event under the lock).
  struct EntryProbe {
    const EventEntry* entry;
    uint64_t hash;
  };
  // Hashes a key's bytes (seeded); needs no lock.
  struct KeyHash {
    uint64_t seed;
    uint64_t operator()(std::string_view k) const;
  };
  struct SlotHash {
    using is_transparent = void;
    using is_avalanching = void;
    size_t operator()(const MapSlot& s) const { return s.hash; }
    size_t operator()(const KeyProbe& p) const { return p.hash; }
    size_t operator()(const EntryProbe& p) const { return p.hash; }
  };
  // Reads a node's key only when the hashes match (rarely, for a new key).
  struct SlotEqual {
    using is_transparent = void;
    bool operator()(const MapSlot& a, const MapSlot& b) const {
      return a.hash == b.hash && a.node->key == b.node->key;
    }
    bool operator()(const KeyProbe& a, const MapSlot& b) const { return a.hash == b.hash && a.text == b.node->key; }
    bool operator()(const MapSlot& a, const KeyProbe& b) const { return (*this)(b, a); }
    bool operator()(const EntryProbe& a, const MapSlot& b) const {
      return a.hash == b.hash && &b.node->entry == a.entry;  // an address, not a load
    }
    bool operator()(const MapSlot& a, const EntryProbe& b) const { return (*this)(b, a); }
  };
  // Open addressing (Boost 1.81's flat set): one probe, usually one cache
  // miss per lookup; with a million ids the chained std::unordered_map spent
  // 10% of Redis ingest walking buckets. Entries live in their nodes, so
  // references stay valid across rehashes.
  using EntryMap = boost::unordered_flat_set<MapSlot, SlotHash, SlotEqual, HugePageAllocator<MapSlot>>;
  KeyProbe probe(std::string_view k) const { return {k, key_hash_(k)}; }
  // A node for `key`, allocated before the lock is taken.
  static std::unique_ptr<MapNode> node_for(std::string key);

  // `probed`: the runs' answer for `key` found before the lock was taken
  // (still valid), or nullptr to ask them now.
  // `hash`: key's hash; `spare`: a node holding a copy of `key`, allocated
  // before the lock, put in the map if the key is new.
  Reservation reserve_locked(Admission& adm, std::string&& key, uint64_t hash, EventStatus* existing,
                             int64_t now, const std::optional<FinishedStore::Hit>* probed,
                             std::unique_ptr<MapNode>& spare);
  void apply_staged(Admission& adm);  // mutex_ held

  // Marks the admission's entries committed (ok) or releases them; the
  // finished ones leave the map, their records (`finished`, placed as
  // `placed` says) join pending_run_.
  void settle(std::span<const std::string> keys, std::span<const uint64_t> hashes,
              std::span<EventEntry* const> entries, std::unique_ptr<std::string> finished,
              std::span<const PendingRun::Placed> placed, bool ok);
  EventEntry& entry(const std::string& key);  // created if missing; mutex_ held
  void apply_record(uint8_t type, std::string_view payload);
  // An accepted or snapshot record's event, whichever its form.
  void apply_accepted(std::string_view tenant, std::string_view id, std::string_view type, std::string_view source,
                      int64_t at, std::string_view event_json, std::vector<MessageStatus> messages);
  void merge_message(EventEntry& e, MessageStatus m);
  // The entry's full state, unpacking a finished one.
  static JournalEntry::Live& live(EventEntry& e);
  // Read-only: the live state itself, or a finished entry unpacked into
  // `scratch` (never a copy of a live entry's event JSON).
  static const JournalEntry::Live& view(const EventEntry& e, JournalEntry::Live& scratch);
  // Counts unfinished messages; packs the entry once none is left.
  static void recount(EventEntry& e);
  EventStatus to_status(const EventEntry& e) const;
  // A finished entry found in a run or the pending run (its run value);
  // false if its bytes are malformed.
  bool to_status(std::string_view key, int64_t accepted_ms, std::string_view value, EventStatus& out) const;
  // A finished event's status: from its newest record in memory
  // (pending_run_, then flushing_), else from the runs (`probed`: their
  // answer found before the lock, or nullptr to ask them now); false if
  // unknown or out of the window. mutex_ held.
  bool finished_status(const std::string& key, uint64_t hash, int64_t now,
                       const std::optional<FinishedStore::Hit>* probed, EventStatus& out) const;
  std::optional<FinishedStore::Hit> find_finished(const std::string& key, int64_t now) const;  // mutex_ held
  std::optional<FinishedStore::Hit> unexpired(std::optional<FinishedStore::Hit> hit, int64_t now) const;
  void request_flush();
  // A just-finished, committed entry leaves the map for pending_run_;
  // mutex_ held.
  void note_finished(EntryMap::iterator it);
  // Asks for a flush once pending_run_ holds finished_in_memory; mutex_ held.
  void after_pending_run_grew();
  // The run value's body of a finished entry (its packed bytes without the
  // names); needs no lock.
  static std::string_view record_body(const EventEntry& e);
  // pending_run_ becomes flushing_ (empty before); mutex_ held.
  void take_pending_run();
  // Writes flushing_ to a run, publishes it and drops flushing_ (maintenance;
  // takes mutex_ briefly). `locked`: the lock time so far, for the log line.
  // False when the run cannot be written: the entries then rejoin
  // pending_run_.
  bool move_to_run(std::chrono::steady_clock::duration locked, size_t& moved);
  size_t in_memory_locked() const {  // mutex_ held
    return entries_.size() + pending_run_.size() + flushing_.size();
  }
  void encode_snapshot(RecordBatch& out, const EventEntry& e, std::string& scratch) const;
  void apply_packed_snapshot(std::string_view payload);
  bool expired(const EventEntry& e, int64_t now_ms) const { return expired(e.accepted_ms, now_ms); }
  bool expired(int64_t accepted_ms, int64_t now_ms) const;
  void publish_runs(FinishedStore::RunPtr added, const std::vector<FinishedStore::RunPtr>& removed,
                    const FinishedFilter* covered_by = nullptr);
  void set_finished_gauges();  // from the published runs; mutex_ held (or before open() returns)
  FinishedStore::RunList finished_snapshot() const;  // lock-free
  void run_maintenance();
  void run_merges();
  void request_merge();
  bool stopping() const;

  JournalSettings settings_;
  Logger& logger_;
  std::unique_ptr<SegmentLog> log_;

  const KeyHash key_hash_;  // the hash of entries_'s keys, usable without mutex_
  mutable std::mutex mutex_;  // guards entries_ and the order of state records
  // Unfinished events and those whose commit is in flight (EntryMap); a
  // checkpoint rewrites those staged. (A second set of them, walked by the
  // checkpoints while the map also held the finished events, cost an insert
  // and an erase per event under the lock.)
  EntryMap entries_;

  std::unique_ptr<FinishedStore> finished_;  // lookups under mutex_; written by maintenance
  // Every entry that finished since the last flush, as it will go into the
  // next run, so a flush takes it in O(1) under the lock (walking the map
  // cost ~400 ns per entry in cache misses while ingest waited). mutex_
  PendingRun pending_run_;
  // The batch a flush is writing: still asked by lookups (under mutex_)
  // until its run is published; read without the lock by the flush, which
  // alone (holding work_mutex_) changes it.
  PendingRun flushing_;
  std::atomic<bool> flush_requested_{false};

  // Serializes flush_finished() and checkpoint(): the maintenance thread's
  // work, also callable by tests.
  std::mutex work_mutex_;
  // Serializes compact_finished(), the merge thread's work. Merges have a
  // thread of their own: a merge of large runs takes seconds (paced
  // writes), and while journal-maint did it no flush ran, so under NDJSON
  // ingest memory held up to 560k finished events instead of
  // finished_in_memory (16k), and heraldd's RSS passed 300 MB.
  std::mutex merge_mutex_;
  mutable std::mutex maint_mutex_;  // guards stopping_ and merge_requested_
  std::condition_variable maint_cv_;
  std::condition_variable merge_cv_;
  bool stopping_ = false;
  bool merge_requested_ = false;
  std::thread maintenance_;
  std::thread merges_;

  Counter& checkpoints_;
  Gauge& pending_events_;
  Counter& finished_flushes_;
  Gauge& finished_runs_;
  Gauge& finished_runs_filtered_;
  Gauge& finished_on_disk_;
  Gauge& finished_memory_;
  Gauge& in_memory_;  // entries_.size(), set per batch
  uint64_t last_snapshot_bytes_ = 0;  // checkpoint() and maintenance only
};

}  // namespace herald
