#include "core/journal/finished_store.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

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

FinishedStore::FinishedStore(fs::path dir, uint64_t base_records, Logger& log)
    : dir_(std::move(dir)),
      base_records_(std::max<uint64_t>(base_records, 1)),
      log_(log),
      remover_("finished-rm", "finished-event run", log) {
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
  runs_ = std::make_shared<const std::vector<RunPtr>>(std::move(loaded));
}

uint64_t FinishedStore::hash(std::string_view key) const { return hash_bytes(key, seed_); }

uint64_t FinishedStore::run_hash(const FinishedRun& run, std::string_view key, uint64_t h) const {
  return run.seed() == seed_ ? h : hash_bytes(key, run.seed());
}

std::optional<FinishedStore::Hit> FinishedStore::find_in(const std::vector<RunPtr>& runs, std::string_view key) const {
  const uint64_t h = hash(key);
  // Each run's filter block is a likely cache miss: fetch them all at once
  // before testing any.
  for (const auto& run : runs) run->prefetch(run_hash(*run, key, h));
  return find_hashed(runs, key, h);
}

void FinishedStore::find_all_in(const std::vector<RunPtr>& runs, std::span<const std::string> keys,
                                std::span<std::optional<Hit>> out) const {
  // The filter blocks of the key kAhead places on are fetched while this
  // one is tested, so the misses of a batch overlap instead of adding up.
  constexpr size_t kAhead = 8;
  assert(out.size() == keys.size());
  boost::container::small_vector<uint64_t, 16> h(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) h[i] = hash(keys[i]);
  auto prefetch = [&](size_t i) {
    for (const auto& run : runs) run->prefetch(run_hash(*run, keys[i], h[i]));
  };
  for (size_t i = 0; i < std::min(kAhead, keys.size()); ++i) prefetch(i);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i + kAhead < keys.size()) prefetch(i + kAhead);
    out[i] = find_hashed(runs, keys[i], h[i]);
  }
}

std::optional<FinishedStore::Hit> FinishedStore::find_hashed(const std::vector<RunPtr>& runs, std::string_view key,
                                                            uint64_t h) const {
  std::optional<Hit> best;
  Hit hit;
  // Every run is asked (a filter test each), not just the newest: an id
  // accepted again after its window lives in two runs, and the newer wins.
  for (const auto& run : runs) {
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
  std::sort(records.begin(), records.end(), [](const FinishedRecord& a, const FinishedRecord& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.key < b.key;
  });
  return records;
}

fs::path FinishedStore::next_path() {
  char name[40];
  std::snprintf(name, sizeof name, "finished-%020llu.run", static_cast<unsigned long long>(next_number_++));
  return dir_ / name;
}

FinishedStore::RunPtr FinishedStore::write(const std::vector<FinishedRecord>& sorted, std::error_code& ec) {
  const fs::path path = next_path();
  FinishedRunWriter w(path, seed_, sorted.size());
  for (const auto& r : sorted)
    if ((ec = w.add(r))) return nullptr;
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
                                           std::error_code& ec, const std::function<void()>& between) {
  if (inputs.empty()) return nullptr;
  uint64_t upper = 0;
  for (const auto& in : inputs) upper += in->records();
  const fs::path path = next_path();
  FinishedRunWriter w(path, inputs.front()->seed(), upper);

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
  auto less = [](const FinishedRecord& a, const FinishedRecord& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.key < b.key;
  };
  // A k-way merge over at most four cursors: a linear scan for the least
  // beats a heap at this width.
  for (uint64_t taken = 1;; ++taken) {
    if (between && taken % kMergeYieldRecords == 0) between();
    Source* least = nullptr;
    for (auto& s : src)
      if (s.live && (!least || less(s.rec, least->rec))) least = &s;
    if (!least) break;
    // The same key in several inputs: keep the newest.
    FinishedRecord best = least->rec;
    std::string best_key(best.key), best_value(best.value);  // cursors reuse their block buffers
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
    if (best.accepted_ms >= expire_before_ms)
      if ((ec = w.add(best))) return nullptr;
  }
  for (size_t i = 0; i < src.size(); ++i)
    if (src[i].cursor.damaged())
      log_.error("finished-event run has a damaged block; the merge leaves its remaining records out",
                 {{"file", inputs[i]->path().string()}});
  if (w.records() == 0) return nullptr;  // everything expired; the writer removes its file
  return finish(w, path, ec);
}

void FinishedStore::merge_tiers(const std::function<RunList()>& runs, const PublishFn& publish,
                                const std::function<bool()>& keep_going, int64_t expire_before_ms,
                                std::error_code& ec, unsigned below_tier) {
  while (!ec && keep_going()) {
    auto inputs = pick_merge(*runs(), below_tier);
    if (inputs.empty()) return;
    const unsigned t = tier(*inputs.front());
    std::error_code nested;  // a failed lower merge stops those, not this one
    RunPtr merged = merge(inputs, expire_before_ms, ec, [&] {
      if (!nested) merge_tiers(runs, publish, keep_going, expire_before_ms, nested, t);
    });
    if (ec) return;
    publish(std::move(merged), inputs);
    if ((ec = nested)) return;
  }
}

std::vector<FinishedStore::RunPtr> FinishedStore::expired(const std::vector<RunPtr>& runs,
                                                          int64_t expire_before_ms) const {
  std::vector<RunPtr> out;
  for (const auto& run : runs)
    if (run->max_accepted_ms() < expire_before_ms) out.push_back(run);
  return out;
}

void FinishedStore::publish(RunPtr added, const std::vector<RunPtr>& removed) {
  auto next = std::make_shared<std::vector<RunPtr>>(*runs_);
  std::erase_if(*next, [&](const RunPtr& r) { return std::find(removed.begin(), removed.end(), r) != removed.end(); });
  if (added) next->push_back(std::move(added));
  runs_ = std::move(next);
  std::lock_guard lock(damaged_mutex_);
  std::erase_if(damaged_logged_, [&](const fs::path& p) {
    return std::none_of(runs_->begin(), runs_->end(), [&](const RunPtr& x) { return x->path() == p; });
  });
}

void FinishedStore::remove_files(const std::vector<RunPtr>& removed) {
  for (const auto& r : removed) {
    // The run goes along: shrinking it under a reader (an admission probing
    // an older snapshot of the runs) would cut its reads short.
    if (auto ec = remover_.remove(r->path(), r))
      log_.warn("cannot remove a finished-event run", {{"file", r->path().string()}, {"error", ec.message()}});
  }
}

uint64_t FinishedStore::records() const {
  uint64_t n = 0;
  for (const auto& r : *runs_) n += r->records();
  return n;
}

size_t FinishedStore::memory_bytes() const {
  size_t n = 0;
  for (const auto& r : *runs_) n += r->memory_bytes();
  return n;
}

}  // namespace herald
