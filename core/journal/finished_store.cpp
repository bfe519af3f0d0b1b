#include "core/journal/finished_store.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <bit>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <utility>

#include "core/storage/gradual_removal.hpp"
#include "core/util/hash.hpp"

namespace herald {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMergeWidth = 4;

std::optional<uint64_t> parse_run_name(const std::string& name) {
  // finished-<20 digits>.run
  if (name.size() != 9 + 20 + 4 || !name.starts_with("finished-") || !name.ends_with(".run")) return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 9; i < 29; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + uint64_t(name[i] - '0');
  }
  return n;
}

unsigned tier_of(uint64_t records, uint64_t base) {
  unsigned t = 0;
  for (uint64_t cap = base; records > cap && t < 32; cap *= kMergeWidth) ++t;
  return t;
}

}  // namespace

FinishedStore::FinishedStore(fs::path dir, uint64_t base_records, Logger& log, uint64_t min_filter_keys,
                             int background_nice)
    : dir_(std::move(dir)),
      base_records_(std::max<uint64_t>(base_records, 1)),
      log_(log),
      min_filter_keys_(std::max<uint64_t>(min_filter_keys, 1)),
      remover_("finished-rm", "finished-event run", log, background_nice) {
  seed_ = random_seed();
}

void FinishedStore::open() {
  fs::create_directories(dir_);
  remove_leftovers(dir_);  // runs whose removal a crash cut short
  std::vector<std::pair<uint64_t, fs::path>> found;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".run.tmp")) {  // a write or merge cut short
      fs::remove(entry.path());
      continue;
    }
    if (auto n = parse_run_name(name); n && entry.is_regular_file()) found.emplace_back(*n, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<RunPtr> loaded;
  for (auto& [n, path] : found) {
    next_number_ = std::max(next_number_.load(), n + 1);
    std::string why;
    auto run = FinishedRun::open(path, why);
    if (!run) {
      fs::rename(path, fs::path(path).concat(".corrupt"));
      log_.error("finished-event run moved aside as .corrupt; its events lose duplicate protection",
                 {{"file", path.string()}, {"reason", why}});
      continue;
    }
    seed_ = run->seed();  // new runs continue the newest run's seed
    loaded.push_back(std::move(run));
  }
  auto set = std::make_shared<RunSet>();
  set->covered.assign(loaded.size(), 0);  // until the merging thread builds the shared filter
  set->runs = std::move(loaded);
  set_runs(std::move(set));
}

uint64_t FinishedStore::hash(std::string_view key) const { return hash_bytes(key, seed_); }

uint64_t FinishedStore::run_hash(const FinishedRun& run, std::string_view key, uint64_t h) const {
  return run.seed() == seed_ ? h : hash_bytes(key, run.seed());
}

void FinishedStore::prefetch_runs(const RunSet& set, std::string_view key, uint64_t h, bool skip_covered) const {
  for (size_t j = 0; j < set.runs.size(); ++j)
    if (!skip_covered || !set.covered[j]) set.runs[j]->prefetch(run_hash(*set.runs[j], key, h));
}

std::optional<FinishedStore::Hit> FinishedStore::find_in(const RunSet& set, std::string_view key) const {
  const uint64_t h = hash(key);
  const bool skip_covered = set.filter && !set.filter->may_contain(h);
  // Each filter block is a likely cache miss: fetch them all at once before
  // testing any.
  prefetch_runs(set, key, h, skip_covered);
  return find_hashed(set, key, h, skip_covered);
}

void FinishedStore::find_all_in(const RunSet& set, std::span<const std::string> keys,
                                std::span<std::optional<Hit>> out) const {
  assert(out.size() == keys.size());
  const size_t n = keys.size();
  boost::container::small_vector<uint64_t, 16> h(n);
  boost::container::small_vector<char, 16> skip_covered(n, 0);
  // The shared filter (megabytes, out of the caches under load) is asked
  // about the whole batch first: every block is requested before any is
  // tested, so the misses overlap as far as the memory system allows. Asked
  // key by key between the runs' tests, with its block fetched a few keys
  // ahead, each test still waited for memory (5.7-7.2 % of NDJSON ingest's
  // HTTP thread).
  for (size_t i = 0; i < n; ++i) {
    h[i] = hash(keys[i]);
    if (set.filter) set.filter->prefetch(h[i]);
  }
  if (set.filter)
    for (size_t i = 0; i < n; ++i) skip_covered[i] = !set.filter->may_contain(h[i]);
  // The blocks of the runs' filters of the key kAhead places on are fetched
  // while this one is tested, so those misses overlap too.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < std::min(kAhead, n); ++i) prefetch_runs(set, keys[i], h[i], skip_covered[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_runs(set, keys[i + kAhead], h[i + kAhead], skip_covered[i + kAhead]);
    out[i] = find_hashed(set, keys[i], h[i], skip_covered[i]);
  }
}

std::optional<FinishedStore::Hit> FinishedStore::find_hashed(const RunSet& set, std::string_view key, uint64_t h,
                                                            bool skip_covered) const {
  std::optional<Hit> best;
  Hit hit;
  // Every run is asked (a filter test each), not just the newest: an id
  // accepted again after its window lives in two runs, and the newer wins.
  for (size_t j = 0; j < set.runs.size(); ++j) {
    if (skip_covered && set.covered[j]) continue;
    const RunPtr& run = set.runs[j];
    switch (run->find(run_hash(*run, key, h), key, hit.accepted_ms, hit.value)) {
      case FinishedRun::Find::found:
        if (!best || hit.accepted_ms > best->accepted_ms) best = hit;
        break;
      case FinishedRun::Find::damaged: {
        std::lock_guard lock(damaged_mutex_);
        if (std::find(damaged_logged_.begin(), damaged_logged_.end(), run->path()) == damaged_logged_.end()) {
          damaged_logged_.push_back(run->path());
          log_.error("finished-event run has a damaged block; ids in it are treated as new",
                     {{"file", run->path().string()}});
        }
        break;
      }
      case FinishedRun::Find::absent:
        break;
    }
  }
  return best;
}

std::vector<FinishedRecord>& FinishedStore::sort_by_hash(std::vector<FinishedRecord>& records) const {
  for (auto& r : records) r.hash = hash(r.key);
  const size_t n = records.size();
  if (n < 256) {
    std::sort(records.begin(), records.end(), hash_order);
    return records;
  }
  // A bucket pass on the hash's top bits, then an insertion sort of each
  // bucket (one or two records): std::sort's ~14 rounds of compares and
  // 48-byte swaps for a flush's 16k records were ~1.4 % of all CPU under
  // NDJSON ingest. The hashes are seeded per process, so ids cannot be
  // chosen to crowd one bucket.
  const int bits = std::min(static_cast<int>(std::bit_width(n)) - 1, 20);
  const int shift = 64 - bits;
  std::vector<uint32_t> start((size_t(1) << bits) + 1, 0);
  for (const auto& r : records) ++start[(r.hash >> shift) + 1];
  for (size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
  std::vector<FinishedRecord> out(n);
  {
    std::vector<uint32_t> next(start.begin(), start.end() - 1);
    for (const auto& r : records) out[next[r.hash >> shift]++] = r;
  }
  for (size_t b = 0; b + 1 < start.size(); ++b) {
    for (size_t i = start[b] + 1; i < start[b + 1]; ++i) {
      FinishedRecord r = out[i];
      size_t j = i;
      for (; j > start[b] && hash_order(r, out[j - 1]); --j) out[j] = out[j - 1];
      out[j] = r;
    }
  }
  records.swap(out);
  return records;
}

fs::path FinishedStore::next_path() {
  char name[40];
  std::snprintf(name, sizeof name, "finished-%020llu.run", static_cast<unsigned long long>(next_number_++));
  return dir_ / name;
}

FinishedStore::RunPtr FinishedStore::write(const std::vector<FinishedRecord>& sorted, std::error_code& ec,
                                           FinishedFilter* add_to) {
  const fs::path path = next_path();
  FinishedRunWriter w(path, seed_, sorted.size());
  // In hash order the records' bytes are read at random from the batch
  // they were encoded in (a flush's: a megabyte or two, arrival order), and
  // copying them waited on the caches: 19 % of the flushing thread. So the
  // record kAhead places on is fetched while this one is written.
  constexpr size_t kAhead = 8;
  FinishedFilter::Feed feed(add_to);
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i + kAhead < sorted.size()) {
      __builtin_prefetch(sorted[i + kAhead].key.data());
      __builtin_prefetch(sorted[i + kAhead].value.data());
    }
    if ((ec = w.add(sorted[i]))) return nullptr;
    feed.push(sorted[i].hash);
  }
  feed.flush();
  return finish(w, path, ec);
}

FinishedStore::RunPtr FinishedStore::finish(FinishedRunWriter& w, const fs::path& path, std::error_code& ec) {
  if ((ec = w.finish())) return nullptr;
  std::string why;
  RunPtr run = FinishedRun::open(path, why);
  if (!run) ec = std::make_error_code(std::errc::io_error);
  return run;
}

unsigned FinishedStore::tier(const FinishedRun& run) const { return tier_of(run.records(), base_records_); }

std::vector<FinishedStore::RunPtr> FinishedStore::pick_merge(const std::vector<RunPtr>& runs,
                                                             unsigned below_tier) const {
  std::map<std::pair<uint64_t, unsigned>, std::vector<RunPtr>> tiers;  // (seed, tier) → runs, oldest first
  for (const auto& run : runs) {
    const unsigned t = tier(*run);
    if (t >= below_tier) continue;
    auto& v = tiers[{run->seed(), t}];
    v.push_back(run);
    if (v.size() == kMergeWidth) return v;
  }
  return {};
}

FinishedStore::RunPtr FinishedStore::merge(const std::vector<RunPtr>& inputs, int64_t expire_before_ms,
                                           std::error_code& ec, const std::function<void()>& between,
                                           FinishedFilter* add_to) {
  if (inputs.empty()) return nullptr;
  uint64_t upper = 0;
  for (const auto& in : inputs) upper += in->records();
  const fs::path path = next_path();
  FinishedRunWriter w(path, inputs.front()->seed(), upper);

  FinishedFilter::Feed feed(add_to);
  struct Source {
    FinishedRun::Cursor cursor;
    FinishedRecord rec;
    bool live;
  };
  std::vector<Source> src;
  src.reserve(inputs.size());
  for (const auto& in : inputs) {
    src.push_back({FinishedRun::Cursor(*in), {}, false});
    src.back().live = src.back().cursor.next(src.back().rec);
  }
  // A k-way merge over at most four cursors: a linear scan for the least
  // beats a heap at this width.
  std::string best_key, best_value;  // reused: a key is longer than std::string's inline buffer
  for (uint64_t taken = 1;; ++taken) {
    if (between && taken % kMergeYieldRecords == 0) between();
    Source* least = nullptr;
    for (auto& s : src)
      if (s.live && (!least || hash_order(s.rec, least->rec))) least = &s;
    if (!least) break;
    // The same key in several inputs: keep the newest.
    FinishedRecord best = least->rec;
    best_key.assign(best.key);  // copied: cursors reuse their block buffers
    best_value.assign(best.value);
    best.key = best_key;
    best.value = best_value;
    for (auto& s : src) {
      while (s.live && s.rec.hash == best.hash && s.rec.key == best_key) {
        if (s.rec.accepted_ms > best.accepted_ms) {
          best_value.assign(s.rec.value);
          best.value = best_value;
          best.accepted_ms = s.rec.accepted_ms;
        }
        s.live = s.cursor.next(s.rec);
      }
    }
    if (best.accepted_ms >= expire_before_ms) {
      if ((ec = w.add(best))) return nullptr;
      feed.push(best.hash);
    }
  }
  for (size_t i = 0; i < src.size(); ++i)
    if (src[i].cursor.damaged())
      log_.error("finished-event run has a damaged block; the merge leaves its remaining records out",
                 {{"file", inputs[i]->path().string()}});
  feed.flush();
  if (w.records() == 0) return nullptr;  // everything expired; the writer removes its file
  return finish(w, path, ec);
}

void FinishedStore::merge_tiers(const std::function<RunList()>& runs, const PublishFn& publish,
                                const std::function<bool()>& keep_going, int64_t expire_before_ms,
                                std::error_code& ec, const std::function<void()>& between_merges,
                                unsigned below_tier) {
  while (!ec && keep_going()) {
    const RunList set = runs();
    auto inputs = pick_merge(set->runs, below_tier);
    if (inputs.empty()) return;
    const unsigned t = tier(*inputs.front());
    // The shared filter covers the output: it covered every input, or it
    // takes the output's keys as they are written. (Only this thread
    // replaces the filter, and not during merge_tiers.)
    FinishedFilter* filter = set->filter && inputs.front()->seed() == set->filter->seed() ? set->filter.get() : nullptr;
    const bool inputs_covered = filter != nullptr && set->covers_all(inputs);
    std::error_code nested;  // a failed lower merge stops those, not this one
    RunPtr merged = merge(
        inputs, expire_before_ms, ec,
        [&] {
          if (!nested) merge_tiers(runs, publish, keep_going, expire_before_ms, nested, between_merges, t);
          if (between_merges) between_merges();
        },
        inputs_covered ? nullptr : filter);
    if (ec) return;
    publish(std::move(merged), inputs, filter);
    if ((ec = nested)) return;
    if (between_merges) between_merges();
  }
}

std::vector<FinishedStore::RunPtr> FinishedStore::expired(const std::vector<RunPtr>& runs,
                                                          int64_t expire_before_ms) const {
  std::vector<RunPtr> out;
  for (const auto& run : runs)
    if (run->max_accepted_ms() < expire_before_ms) out.push_back(run);
  return out;
}

std::optional<FinishedStore::FilterBuild> FinishedStore::build_filter(const RunSet& set,
                                                                       const std::function<bool()>& keep_going) {
  std::erase_if(unfilterable_, [&](const fs::path& p) {
    return std::none_of(set.runs.begin(), set.runs.end(), [&](const RunPtr& r) { return r->path() == p; });
  });
  uint64_t keys = 0, uncovered = 0;
  bool large = false;
  std::vector<RunPtr> eligible;  // under the store's seed (the filter's)
  for (size_t j = 0; j < set.runs.size(); ++j) {
    const RunPtr& run = set.runs[j];
    if (run->seed() != seed_) continue;
    eligible.push_back(run);
    large = large || tier(*run) > 0;
    keys += run->records();
    if ((!set.filter || !set.covered[j]) && !unfilterable(*run)) uncovered += run->records();
  }
  if (eligible.empty()) {
    if (!set.filter) return std::nullopt;
    return FilterBuild{};  // its runs are gone: so is its memory
  }
  const bool due = set.filter ? set.filter->added() > set.filter->capacity() || uncovered * 8 > keys : large;
  if (!due) return std::nullopt;
  FilterBuild build{std::make_shared<FinishedFilter>(std::max(2 * keys, min_filter_keys_), seed_), {}};
  FinishedFilter::Feed feed(build.filter.get());
  for (const auto& run : eligible)
    if (!keep_going() || !add_keys(run, feed, build, keep_going)) return std::nullopt;
  feed.flush();
  return build;
}

size_t FinishedStore::cover_new_runs(FilterBuild& build, const RunSet& now, const std::function<bool()>& keep_going) {
  if (!build.filter) return 0;
  size_t added = 0;
  FinishedFilter::Feed feed(build.filter.get());
  for (const RunPtr& run : now.runs) {
    if (run->seed() != seed_ || std::find(build.covered.begin(), build.covered.end(), run) != build.covered.end() ||
        unfilterable(*run))
      continue;
    if (!keep_going()) break;
    const size_t covered = build.covered.size();
    if (!add_keys(run, feed, build, keep_going)) break;
    added += build.covered.size() - covered;
  }
  feed.flush();
  return added;
}

bool FinishedStore::RunSet::covers_all(const std::vector<RunPtr>& some) const {
  if (some.empty() || !filter) return false;
  for (const RunPtr& r : some) {
    const size_t at = static_cast<size_t>(std::find(runs.begin(), runs.end(), r) - runs.begin());
    if (at == runs.size() || !covered[at]) return false;
  }
  return true;
}

bool FinishedStore::unfilterable(const FinishedRun& run) const {
  return std::find(unfilterable_.begin(), unfilterable_.end(), run.path()) != unfilterable_.end();
}

bool FinishedStore::add_keys(const RunPtr& run, FinishedFilter::Feed& feed, FilterBuild& build,
                             const std::function<bool()>& keep_going) {
  FinishedRun::Cursor cursor(*run);
  FinishedRecord r;
  while (cursor.next(r))
    if (feed.push(r.hash) && !keep_going()) return false;
  // A damaged block's keys are not all in: the run stays tested on its own.
  if (!cursor.damaged()) build.covered.push_back(run);
  else if (!unfilterable(*run)) unfilterable_.push_back(run->path());
  return true;
}

void FinishedStore::publish(RunPtr added, const std::vector<RunPtr>& removed, const FinishedFilter* covered_by) {
  const RunList now = snapshot();
  auto next = std::make_shared<RunSet>();
  next->filter = now->filter;
  for (size_t j = 0; j < now->runs.size(); ++j) {
    if (std::find(removed.begin(), removed.end(), now->runs[j]) != removed.end()) continue;
    next->runs.push_back(now->runs[j]);
    next->covered.push_back(now->covered[j]);
  }
  if (added) {
    // A merge's output (it replaces its inputs) holds a subset of their
    // keys: covered when they all were, also by a filter built while it
    // was being written (which read the inputs).
    const bool inputs_covered = now->covers_all(removed);
    next->runs.push_back(std::move(added));
    next->covered.push_back(inputs_covered || (covered_by && covered_by == next->filter.get()));
  }
  set_runs(next);
  std::lock_guard lock(damaged_mutex_);
  std::erase_if(damaged_logged_, [&](const fs::path& p) {
    return std::none_of(next->runs.begin(), next->runs.end(), [&](const RunPtr& x) { return x->path() == p; });
  });
}

FinishedStore::RunSet FinishedStore::with_filter(const RunSet& set, FilterBuild build) {
  RunSet next;
  next.runs = set.runs;
  for (const auto& run : next.runs)
    next.covered.push_back(build.filter &&
                           std::find(build.covered.begin(), build.covered.end(), run) != build.covered.end());
  next.filter = std::move(build.filter);
  return next;
}

void FinishedStore::publish_filter(FilterBuild build) {
  set_runs(std::make_shared<const RunSet>(with_filter(*snapshot(), std::move(build))));
}

void FinishedStore::remove_files(const std::vector<RunPtr>& removed) {
  for (const auto& r : removed) {
    // The run goes along: shrinking it under a reader (an admission probing
    // an older snapshot of the runs) would cut its reads short.
    if (auto ec = remover_.remove(r->path(), r))
      log_.warn("cannot remove a finished-event run", {{"file", r->path().string()}, {"error", ec.message()}});
  }
}

void FinishedStore::set_runs(RunList next) {
  RunList old;  // the last reference to the old list may be this one: freed unlocked
  std::lock_guard lock(runs_mutex_);
  old = std::exchange(runs_, std::move(next));
}

uint64_t FinishedStore::records() const {
  uint64_t n = 0;
  for (const auto& r : snapshot()->runs) n += r->records();
  return n;
}

size_t FinishedStore::memory_bytes() const {
  const RunList now = snapshot();
  size_t n = 0;
  for (const auto& r : now->runs) n += r->memory_bytes();
  return n + (now->filter ? now->filter->memory_bytes() : 0);
}

}  // namespace herald
