#pragma once
// FinishedStore: the finished events of the idempotency window, on disk as
// FinishedRun files in one directory (journal/finished/).
//
// The journal moves finished entries here in batches (one run per batch), so
// memory holds only unfinished events and the newest finished ones. Runs of
// similar size are merged four at a time (size-tiered compaction, as in
// LevelDB's and RocksDB's universal style): with N events in the window a
// lookup tests O(log N) Bloom filters and reads one 4 KB block per filter
// hit (~0.1 % of fresh ids per run; every true duplicate). A run whose newest
// event left the window is deleted whole; merges drop expired entries.
//
// Concurrency: the run list is copy-on-write. snapshot() and publish() run
// under the owner's lock; find_in() on a snapshot needs no lock (runs are
// immutable), so the journal asks the runs about a whole batch outside its
// lock. The owner writes runs on one thread (flushes, checkpoints) and
// merges and retires them on another: pick_merge() and expired() look at a
// snapshot, publish() applies a change (runs added, runs removed) to the
// list as it is then, and only the merging thread removes runs.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/journal/finished_run.hpp"
#include "core/storage/gradual_removal.hpp"
#include "core/util/log.hpp"

namespace herald {

class FinishedStore {
 public:
  using RunPtr = std::shared_ptr<const FinishedRun>;

  // Runs of `base_records` or fewer are tier 0; each tier up is four times
  // larger.
  FinishedStore(std::filesystem::path dir, uint64_t base_records, Logger& log);

  // Loads the directory's runs (creating it if missing). Leftover temporary
  // files are removed; a run that fails its checks is renamed *.corrupt and
  // reported (its events lose only their duplicate protection).
  void open();

  uint64_t hash(std::string_view key) const;  // under the current seed

  // The newest record of `key` in any run; nullopt when none. A damaged
  // block counts as absent (logged once per run): accepting a resubmission
  // again is the lesser harm than refusing every id hashed into it.
  struct Hit {
    int64_t accepted_ms = 0;
    std::string value;
  };
  std::optional<Hit> find(std::string_view key) const { return find_in(*runs_, key); }
  // The runs as they are now; publish() replaces the list, never changes it,
  // so a snapshot stays valid (and comparable: the same pointer means no run
  // came or went) while the owner's lock is not held.
  using RunList = std::shared_ptr<const std::vector<RunPtr>>;
  RunList snapshot() const { return runs_; }
  // find() on a snapshot; thread-safe.
  std::optional<Hit> find_in(const std::vector<RunPtr>& runs, std::string_view key) const;
  // find_in() for every key of a batch: out[i] answers keys[i] (out is as
  // long as keys).
  void find_all_in(const std::vector<RunPtr>& runs, std::span<const std::string> keys,
                   std::span<std::optional<Hit>> out) const;

  // A batch for write(): records in any order; keys and values point into
  // storage the caller keeps alive until write() returns.
  std::vector<FinishedRecord>& sort_by_hash(std::vector<FinishedRecord>& records) const;
  // Writes a new run from records sorted by sort_by_hash(); not visible until publish().
  RunPtr write(const std::vector<FinishedRecord>& sorted, std::error_code& ec);

  // Up to four runs of `runs` (a snapshot) of one size tier below
  // `below_tier`, oldest first, to merge; empty if no such tier has four.
  std::vector<RunPtr> pick_merge(const std::vector<RunPtr>& runs, unsigned below_tier = kNoTierLimit) const;
  static constexpr unsigned kNoTierLimit = ~0u;
  unsigned tier(const FinishedRun& run) const;  // 0: up to base_records; each tier up, four times more
  // One run with the newest record of every key in `inputs`, leaving out
  // records accepted before `expire_before_ms`. nullptr (ec clear) when
  // nothing is left. `between`, when set, is called every kMergeYieldRecords
  // records: a merge of large runs takes seconds, and the journal merges
  // the smaller runs that came meanwhile there (each run is one more filter
  // every new id is tested against).
  RunPtr merge(const std::vector<RunPtr>& inputs, int64_t expire_before_ms, std::error_code& ec,
               const std::function<void()>& between = {});
  static constexpr uint64_t kMergeYieldRecords = 4096;
  // Merges runs of one tier, four at a time, until no tier below
  // `below_tier` has four; within each merge, at every kMergeYieldRecords
  // records, the tiers below it are merged the same way. Under NDJSON
  // ingest a merge of four 256k-event runs took ~2 s, and the runs flushed
  // meanwhile piled up to 30, a filter test each for every new id; merged
  // in those pauses they stay a handful. They are of lower tiers, so never
  // inputs of the merge that pauses. `runs` returns the list as it is now
  // (flushes add runs meanwhile); `publish(added, removed)` makes a merge
  // visible; `keep_going` false stops between merges. Stops at the first
  // failed merge, with `ec` set.
  using PublishFn = std::function<void(RunPtr added, const std::vector<RunPtr>& removed)>;
  void merge_tiers(const std::function<RunList()>& runs, const PublishFn& publish,
                   const std::function<bool()>& keep_going, int64_t expire_before_ms, std::error_code& ec,
                   unsigned below_tier = kNoTierLimit);
  // Runs of `runs` (a snapshot) whose newest record was accepted before
  // `expire_before_ms`.
  std::vector<RunPtr> expired(const std::vector<RunPtr>& runs, int64_t expire_before_ms) const;

  // Under the owner's lock: `added` (may be null) becomes visible and
  // `removed` disappears from lookups.
  void publish(RunPtr added, const std::vector<RunPtr>& removed);
  // After publish(), outside the lock: deletes the removed runs' files (gone
  // under their names on return, their space freed in the background once
  // no reader holds them; gradual_removal.hpp).
  void remove_files(const std::vector<RunPtr>& removed);
  // Until the removed runs' space is freed (tests).
  void wait_removals() { remover_.wait_idle(); }

  size_t runs() const { return runs_->size(); }
  uint64_t records() const;       // on disk, counting a key once per run
  size_t memory_bytes() const;    // filters and block indexes

 private:
  // `key`'s hash in `run`, given `h`, its hash under the store's seed (a
  // run written under another seed keeps its own).
  uint64_t run_hash(const FinishedRun& run, std::string_view key, uint64_t h) const;
  // find_in() with the key's hash under the store's seed already known.
  std::optional<Hit> find_hashed(const std::vector<RunPtr>& runs, std::string_view key, uint64_t h) const;
  std::filesystem::path next_path();
  // Completes `w` (written to `path`) and opens the run it wrote.
  RunPtr finish(FinishedRunWriter& w, const std::filesystem::path& path, std::error_code& ec);

  std::filesystem::path dir_;
  uint64_t base_records_;
  Logger& log_;
  uint64_t seed_ = 0;
  std::atomic<uint64_t> next_number_{1};  // runs are written on two threads
  RunList runs_ = std::make_shared<const std::vector<RunPtr>>();  // oldest first
  // Runs (by path) whose damage was logged; lookups on several threads add to it.
  mutable std::mutex damaged_mutex_;
  mutable std::vector<std::filesystem::path> damaged_logged_;
  GradualRemover remover_;
};

}  // namespace herald
