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
// The runs also share one filter (FinishedFilter), once one of them is
// above tier 0: a new id is one test there, not one per run.
//
// Concurrency: the run list is copy-on-write. publish() runs under the
// owner's lock; snapshot() needs none (the list's pointer has a lock of its
// own, held for a copy: the HTTP thread takes a snapshot per request, and
// under the owner's lock it slept behind every commit's settle); find_in()
// on a snapshot needs no lock (runs are
// immutable), so the journal asks the runs about a whole batch outside its
// lock. The owner writes runs on one thread (flushes, checkpoints) and
// merges and retires them on another: pick_merge() and expired() look at a
// snapshot, publish() applies a change (runs added, runs removed) to the
// list as it is then, and only the merging thread removes runs and builds
// the shared filter (both threads add the keys of the runs they write).

#include <algorithm>
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

#include "core/journal/finished_filter.hpp"
#include "core/journal/finished_run.hpp"
#include "core/storage/gradual_removal.hpp"
#include "core/util/log.hpp"

namespace herald {

class FinishedStore {
 public:
  using RunPtr = std::shared_ptr<const FinishedRun>;

  // Runs of `base_records` or fewer are tier 0; each tier up is four times
  // larger. The shared filter is sized for at least `min_filter_keys`.
  // `background_nice`: its remover thread's make_this_thread_background
  // increment.
  FinishedStore(std::filesystem::path dir, uint64_t base_records, Logger& log,
                uint64_t min_filter_keys = kMinFilterKeys, int background_nice = 0);
  static constexpr uint64_t kMinFilterKeys = 1u << 18;

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
  std::optional<Hit> find(std::string_view key) const { return find_in(*snapshot(), key); }
  // The runs, and the filter they share.
  struct RunSet {
    std::vector<RunPtr> runs;  // oldest first
    // covered[i]: every key of runs[i] is in `filter`, so a key the filter
    // rules out is not tested against runs[i]'s own.
    std::vector<char> covered;
    std::shared_ptr<FinishedFilter> filter;  // null until built (build_filter)
    // True when `some` is not empty and each of them is in this set and
    // covered by its filter (false without a filter).
    bool covers_all(const std::vector<RunPtr>& some) const;
  };
  // The runs as they are now; publish() replaces the set, never changes it,
  // so a snapshot stays valid (and comparable: the same pointer means no run
  // came or went) while the owner's lock is not held.
  using RunList = std::shared_ptr<const RunSet>;
  RunList snapshot() const {
    std::lock_guard lock(runs_mutex_);
    return runs_;
  }
  // find() on a snapshot; thread-safe.
  std::optional<Hit> find_in(const RunSet& runs, std::string_view key) const;
  // find_in() for every key of a batch: out[i] answers keys[i] (out is as
  // long as keys).
  void find_all_in(const RunSet& runs, std::span<const std::string> keys, std::span<std::optional<Hit>> out) const;

  // A batch for write(): records in any order; keys and values point into
  // storage the caller keeps alive until write() returns.
  std::vector<FinishedRecord>& sort_by_hash(std::vector<FinishedRecord>& records) const;
  // Writes a new run from records sorted by sort_by_hash(); not visible
  // until publish(). `add_to`, when set, gets every key (so it covers the run).
  RunPtr write(const std::vector<FinishedRecord>& sorted, std::error_code& ec, FinishedFilter* add_to = nullptr);

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
  // every new id is tested against). `add_to`, when set, gets the key of
  // every record written (so it covers the new run).
  RunPtr merge(const std::vector<RunPtr>& inputs, int64_t expire_before_ms, std::error_code& ec,
               const std::function<void()>& between = {}, FinishedFilter* add_to = nullptr);
  static constexpr uint64_t kMergeYieldRecords = 4096;
  // Merges runs of one tier, four at a time, until no tier below
  // `below_tier` has four; within each merge, at every kMergeYieldRecords
  // records, the tiers below it are merged the same way. Under NDJSON
  // ingest a merge of four 256k-event runs took ~2 s, and the runs flushed
  // meanwhile piled up to 30, a filter test each for every new id; merged
  // in those pauses they stay a handful. They are of lower tiers, so never
  // inputs of the merge that pauses. `runs` returns the list as it is now
  // (flushes add runs meanwhile); `publish(added, removed)` makes a merge
  // visible (`covered_by`: the shared filter that holds its keys, or null);
  // `keep_going` false stops between merges. Stops at the first failed
  // merge, with `ec` set. A merge output is covered by the shared filter
  // when there is one: its inputs were, or its keys are added to it as it
  // is written.
  using PublishFn =
      std::function<void(RunPtr added, const std::vector<RunPtr>& removed, const FinishedFilter* covered_by)>;
  // `between_merges`, when set, is called after each merge is published and
  // at each pause within one (the journal builds the shared filter there
  // when it is due: under sustained ingest the merges never all finish,
  // and a filter built only after them never was; sized for 527k keys, it
  // held 5.3M after 16 s of NDJSON ingest, said "maybe" for 87 % of new
  // ids, and each of those was tested against every run).
  void merge_tiers(const std::function<RunList()>& runs, const PublishFn& publish,
                   const std::function<bool()>& keep_going, int64_t expire_before_ms, std::error_code& ec,
                   const std::function<void()>& between_merges = {}, unsigned below_tier = kNoTierLimit);
  // Runs of `runs` (a snapshot) whose newest record was accepted before
  // `expire_before_ms`.
  std::vector<RunPtr> expired(const std::vector<RunPtr>& runs, int64_t expire_before_ms) const;

  // The shared filter, built anew from every record of the runs (a
  // snapshot's) when it is due: there is none yet and a run is above tier 0
  // (below, the runs' own filters are small); it took more keys than it
  // was sized for (twice the keys it was built with: it cannot forget those
  // of runs that expired or whose keys were added again); or runs it does
  // not cover (loaded at start) hold over an eighth of the keys; a run a
  // build found damaged is not counted again (else every merge would
  // rebuild the filter for it). Then `filter` is the new one (null: no run
  // is left) and `covered` the runs it holds every key of; nullopt when
  // none is due, or `keep_going` turned false. On the merging thread.
  struct FilterBuild {
    std::shared_ptr<FinishedFilter> filter;
    std::vector<RunPtr> covered;
  };
  std::optional<FilterBuild> build_filter(const RunSet& runs, const std::function<bool()>& keep_going);
  // Adds to `build` the runs of `now` (a later snapshot) it does not cover
  // yet: those flushed while it was being built (at 400k events/s, a run
  // every 40 ms), which would otherwise each be tested for every new id
  // until the next build. Returns how many it read.
  size_t cover_new_runs(FilterBuild& build, const RunSet& now, const std::function<bool()>& keep_going);

  // Under the owner's lock: `added` (may be null) becomes visible and
  // `removed` disappears from lookups. `covered_by`: the shared filter
  // holds every key of `added` (counted only if it is still the set's).
  // `added` with `removed` is a merge of them: covered if they all were.
  void publish(RunPtr added, const std::vector<RunPtr>& removed, const FinishedFilter* covered_by = nullptr);
  // `set` with `build.filter` as its filter, covering the runs of
  // `build.covered`.
  static RunSet with_filter(const RunSet& set, FilterBuild build);
  // Under the owner's lock: the set becomes with_filter(set, build).
  void publish_filter(FilterBuild build);
  // After publish(), outside the lock: deletes the removed runs' files (gone
  // under their names on return, their space freed in the background once
  // no reader holds them; gradual_removal.hpp).
  void remove_files(const std::vector<RunPtr>& removed);
  // Until the removed runs' space is freed (tests).
  void wait_removals() { remover_.wait_idle(); }

  size_t runs() const { return snapshot()->runs.size(); }
  size_t covered_runs() const {
    const RunList now = snapshot();
    return static_cast<size_t>(std::count(now->covered.begin(), now->covered.end(), 1));
  }
  uint64_t records() const;       // on disk, counting a key once per run
  size_t memory_bytes() const;    // filters (the shared one too) and block indexes

 private:
  // `key`'s hash in `run`, given `h`, its hash under the store's seed (a
  // run written under another seed keeps its own).
  uint64_t run_hash(const FinishedRun& run, std::string_view key, uint64_t h) const;
  // find_in() with the key's hash under the store's seed already known;
  // `skip_covered`: the shared filter ruled the key out.
  std::optional<Hit> find_hashed(const RunSet& runs, std::string_view key, uint64_t h, bool skip_covered) const;
  // Starts loading the blocks of the runs' filters `key` (hash `h`) will be
  // tested in.
  void prefetch_runs(const RunSet& runs, std::string_view key, uint64_t h, bool skip_covered) const;
  std::filesystem::path next_path();
  // Completes `w` (written to `path`) and opens the run it wrote.
  RunPtr finish(FinishedRunWriter& w, const std::filesystem::path& path, std::error_code& ec);
  // A run a build found damaged (unfilterable_).
  bool unfilterable(const FinishedRun& run) const;
  // Feeds every key of `run` to a build's filter; covered unless a block is
  // damaged (then unfilterable). False if `keep_going` turned false midway.
  bool add_keys(const RunPtr& run, FinishedFilter::Feed& feed, FilterBuild& build,
                const std::function<bool()>& keep_going);

  std::filesystem::path dir_;
  uint64_t base_records_;
  Logger& log_;
  uint64_t min_filter_keys_;
  std::vector<std::filesystem::path> unfilterable_;  // runs a build found damaged (build_filter's thread)
  uint64_t seed_ = 0;
  std::atomic<uint64_t> next_number_{1};  // runs are written on two threads
  // Replaced under the owner's lock too (so a publish reads the list it
  // replaces). Not std::atomic<shared_ptr>: libstdc++ 12 guards it with a
  // spin bit ThreadSanitizer cannot see.
  void set_runs(RunList next);
  mutable std::mutex runs_mutex_;
  RunList runs_ = std::make_shared<const RunSet>();
  // Runs (by path) whose damage was logged; lookups on several threads add to it.
  mutable std::mutex damaged_mutex_;
  mutable std::vector<std::filesystem::path> damaged_logged_;
  GradualRemover remover_;
};

}  // namespace herald
