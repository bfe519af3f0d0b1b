#include "core/storage/segment_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "core/storage/file_io.hpp"
#include "core/storage/gradual_removal.hpp"
#include "core/util/threads.hpp"

namespace herald {

namespace fs = std::filesystem;
namespace sys = boost::system;

namespace {

sys::error_code to_sys(std::error_code e) { return {e.value(), sys::generic_category()}; }
sys::error_code errno_sys(int e) { return {e, sys::generic_category()}; }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string() + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void cut_tail(const fs::path& path, uint64_t keep) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, off_t(keep)) != 0 || ::fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot truncate the tail of " + path.string() + ": " + std::strerror(e));
  }
  ::close(fd);
}

// The header of a segment that replay found valid.
SegmentHeader read_header(const fs::path& p) {
  std::string head(kSegmentHeaderSize, '\0');
  std::ifstream in(p, std::ios::binary);
  if (!in.read(head.data(), std::streamsize(head.size())))
    throw std::runtime_error("cannot read the header of " + p.string());
  auto h = decode_segment_header(head);
  if (!h) throw std::runtime_error("bad header in " + p.string());
  return *h;
}

}  // namespace

SegmentLog::SegmentLog(SegmentLogOptions options, std::unique_ptr<LogIo> io, Logger& log, MetricsRegistry& metrics)
    : options_(std::move(options)),
      io_(std::move(io)),
      log_(log),
      sync_seconds_(metrics.histogram("herald_journal_fsync_seconds",
                                      "Duration of one group commit's write + fdatasync (or of a deferred fdatasync)",
                                      {{"log", options_.name}})),
      batches_(metrics.counter("herald_log_group_commits_total",
                               "Group commits written (each synced, or by a later sync with sync_interval)",
                               {{"log", options_.name}})),
      records_(metrics.counter("herald_log_records_total", "Records written by group commits", {{"log", options_.name}})),
      bytes_(metrics.counter("herald_log_bytes_total", "Bytes written by group commits", {{"log", options_.name}})),
      write_errors_(metrics.counter("herald_log_write_errors_total", "Batches that failed to write or sync",
                                    {{"log", options_.name}})),
      detached_lost_(metrics.counter("herald_log_detached_failed_total",
                                     "Fire-and-forget records whose batch failed", {{"log", options_.name}})),
      fenced_gauge_(metrics.gauge("herald_log_fenced", "1 when the log is fenced after a failed fdatasync",
                                  {{"log", options_.name}})),
      segments_gauge_(metrics.gauge("herald_log_segments", "Segment files on disk", {{"log", options_.name}})),
      spares_gauge_(metrics.gauge("herald_log_spare_segments", "Removed segment files kept for reuse",
                                  {{"log", options_.name}})),
      commit_interval_gauge_(metrics.gauge("herald_log_commit_interval_us",
                                           "Least time between the starts of two group commits (CommitPacer)",
                                           {{"log", options_.name}})),
      prepared_(metrics.counter("herald_log_prepared_segments_total",
                                "Segment files written ahead in the background (prepare_segments)",
                                {{"log", options_.name}})),
      remover_(options_.name + "-rm", options_.name + " segment", log_, options_.background_nice) {
  pending_.emplace_back();
  set_min_commit_interval(options_.min_commit_interval);
  if (options_.prepare_segments)
    preparer_ = std::make_unique<SegmentPreparer>(
        SegmentPreparer::Options{options_.dir, options_.name + "-prep", options_.name + " segment",
                                 options_.segment_bytes, options_.prepare_bytes_per_second,
                                 options_.background_nice},
        log_, [this](const fs::path& path, uint64_t bytes) {
          prepared_.inc();
          add_spares({{path, bytes}});
        });
}

SegmentLog::~SegmentLog() {
  close();
  if (cur_fd_ >= 0) ::close(cur_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);  // also releases the flock
}

RecoveryReport SegmentLog::open(const ReplayVisitor& visit) {
  fs::create_directories(options_.dir);
  dir_fd_ = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) throw std::runtime_error("cannot open " + options_.dir.string() + ": " + std::strerror(errno));
  // Two daemons appending to one log would interleave records.
  if (::flock(dir_fd_, LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error(options_.dir.string() + " is in use by another heraldd process");
  remove_leftovers(options_.dir);  // segments whose removal a crash cut short
  SegmentPreparer::discard_unfinished(options_.dir);
  for (const auto& entry : fs::directory_iterator(options_.dir))
    if (entry.is_regular_file() && entry.path().extension() == ".spare")
      spares_.push_back({entry.path(), entry.file_size()});
  std::sort(spares_.begin(), spares_.end(), Spare::smaller);
  const size_t limit = options_.spare_segments + (preparer_ ? 1 : 0);
  const size_t extra = spares_.size() - std::min(spares_.size(), limit);
  for (size_t i = 0; i < extra; ++i) (void)remover_.remove(spares_[i].path);  // the smallest
  spares_.erase(spares_.begin(), spares_.begin() + ptrdiff_t(extra));
  spares_gauge_.set(int64_t(spares_.size()));

  std::vector<uint64_t> numbers;
  for (const auto& entry : fs::directory_iterator(options_.dir)) {
    if (!entry.is_regular_file()) continue;
    if (auto n = parse_segment_file_name(entry.path().filename().string())) numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());

  RecoveryReport report;
  for (size_t i = 0; i < numbers.size(); ++i) replay_segment(numbers[i], i + 1 == numbers.size(), visit, report);

  // Continue the newest segment (its torn tail is gone), or start the first.
  // The flusher is not running yet, so nothing else touches this state.
  closed_.clear();
  for (const auto& entry : fs::directory_iterator(options_.dir)) {
    auto n = parse_segment_file_name(entry.path().filename().string());
    if (!n || !entry.is_regular_file()) continue;
    auto end = record_end_.find(*n);
    closed_.push_back({*n, end == record_end_.end() ? entry.file_size() : end->second, entry.last_write_time()});
  }
  std::sort(closed_.begin(), closed_.end(), [](auto& a, auto& b) { return a.number < b.number; });
  if (closed_.empty()) {
    cur_segment_ = 0;
    if (auto ec = rotate()) throw std::runtime_error("cannot create the first segment in " + options_.dir.string() +
                                                     ": " + ec.message());
  } else {
    SegmentInfo last = closed_.back();
    closed_.pop_back();
    cur_fd_ = ::open(segment_path(last.number).c_str(), O_WRONLY | O_CLOEXEC);
    if (cur_fd_ < 0) throw std::runtime_error("cannot open " + segment_path(last.number).string() + ": " +
                                              std::strerror(errno));
    cur_segment_ = last.number;
    cur_size_ = last.bytes;
    filled_end_ = fs::file_size(segment_path(last.number));
    cur_salt_ = read_header(segment_path(last.number)).salt();
  }
  record_end_.clear();
  segments_gauge_.set(int64_t(closed_.size() + 1));
  flusher_ = std::thread([this] {
    name_this_thread(options_.name + "-sync");
    run_flusher();
  });
  return report;
}

void SegmentLog::replay_segment(uint64_t number, bool last, const ReplayVisitor& visit, RecoveryReport& report) {
  const fs::path path = segment_path(number);
  std::string data = read_file(path);
  auto header = decode_segment_header(data);
  if (!header || header->number != number) {
    // A newest segment without a complete header was cut while being created
    // (rotate() writes and syncs the header before any record goes in).
    bool blank = std::all_of(data.begin(), data.end(), [](char c) { return c == 0; });
    if (last && (data.size() < kSegmentHeaderSize || blank)) {
      fs::remove(path);
      report.truncated_bytes += data.size();
      report.notes.push_back(path.filename().string() + ": incomplete header removed");
      return;
    }
    fs::rename(path, fs::path(path).concat(".corrupt"));
    ++report.corrupt_segments;
    report.notes.push_back(path.filename().string() + ": bad segment header; moved aside as .corrupt");
    return;
  }
  ++report.segments;
  auto scan = scan_records(std::string_view(data).substr(kSegmentHeaderSize), *header,
                           [&](uint8_t type, std::string_view payload, size_t) { visit(type, payload, number); });
  report.records += scan.records;
  if (scan.stop == ScanStop::end) return;
  const uint64_t keep = kSegmentHeaderSize + scan.valid_bytes;
  if (scan.stop == ScanStop::preallocated || (scan.stop == ScanStop::marked && !last)) {
    record_end_[number] = keep;
    return;
  }
  if (scan.stop == ScanStop::marked) {
    // A reused file's old bytes after the newest records: clean, but cut, so
    // that no later tear can ever join the new records to old ones.
    cut_tail(path, keep);
    report.reused_bytes_cut += data.size() - keep;
    return;
  }
  if (!last) {
    ++report.corrupt_segments;
    report.notes.push_back(path.filename().string() + ": " + scan.reason + " at offset " + std::to_string(keep) +
                           "; the rest of this segment is unreadable");
    return;
  }
  if (scan.stop == ScanStop::corrupt) {
    // Not a plain torn write: keep the bytes for forensics before cutting.
    std::ofstream(fs::path(path).concat(".tail-" + std::to_string(keep)), std::ios::binary)
        .write(data.data() + keep, std::streamsize(data.size() - keep));
  }
  cut_tail(path, keep);
  report.truncated_bytes += data.size() - keep;
  report.notes.push_back(path.filename().string() + ": " + scan.reason + "; cut " +
                         std::to_string(data.size() - keep) + " bytes at offset " + std::to_string(keep));
}

void SegmentLog::close() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  preparer_.reset();
}

void SegmentLog::enqueue(RecordBatch& batch, bool rotate_first, Waiter waiter) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    if (rotate_first) {
      const bool used = pending_.back().rotate_before || pending_.back().size() > 0 ||
                        (!waiters_.empty() && waiters_.back().chunk == pending_.size() - 1);
      if (used) pending_.emplace_back();
      pending_.back().rotate_before = true;
    }
    Chunk& chunk = pending_.back();
    const size_t size = batch.bytes_.size();
    if (chunk.size() == 0 && chunk.bytes.capacity() < size) {
      chunk.bytes.swap(batch.bytes_);  // common case with little load: no copy
    } else if (size >= kMoveBatchBytes) {
      chunk.moved.push_back({chunk.bytes.size(), std::move(batch.bytes_)});
    } else {
      chunk.bytes.append(batch.bytes_);
    }
    chunk.records += batch.count_;
    pending_bytes_ += size;
    waiter.chunk = pending_.size() - 1;
    waiters_.push_back(std::move(waiter));
    // A flusher gathering a delayed group commit is woken only when the
    // batch is full: waking it per record would cost a context switch each.
    wake = flusher_idle_ || pending_bytes_ >= options_.max_batch_bytes;
  }
  batch.clear();
  if (wake) cv_.notify_one();
}

void SegmentLog::append_detached(RecordBatch& batch) {
  if (batch.empty()) return;
  enqueue(batch, false, Waiter{});
}

void SegmentLog::append_callback(RecordBatch& batch, std::unique_ptr<AppendCompletion> done) {
  enqueue(batch, false, Waiter{std::move(done)});
}

std::future<AppendResult> SegmentLog::append_future(RecordBatch& batch, bool rotate_first) {
  auto promise = std::make_shared<Promise>();
  auto future = promise->get_future();
  enqueue(batch, rotate_first, Waiter{promise});
  return future;
}

void SegmentLog::complete(Waiter& w, const AppendResult& r, Resumes& resumes) {
  if (auto* p = std::get_if<std::shared_ptr<Promise>>(&w.target)) {
    (*p)->set_value(r);
  } else if (auto* c = std::get_if<std::unique_ptr<AppendCompletion>>(&w.target)) {
    (*c)->done(r);
    if (auto ex = (*c)->executor()) {
      auto group = std::find_if(resumes.begin(), resumes.end(), [&](const auto& g) { return g.first == *ex; });
      if (group == resumes.end()) {
        resumes.emplace_back(std::move(*ex), std::vector<std::unique_ptr<AppendCompletion>>{});
        group = std::prev(resumes.end());
      }
      group->second.push_back(std::move(*c));
    }
  }
}

void SegmentLog::post_resumes(Resumes& resumes) {
  // One post per executor and commit instead of one per waiter: under load a
  // commit answers ~90 HTTP requests, and each post took the io thread's
  // scheduler lock from this thread.
  for (auto& [ex, group] : resumes)
    boost::asio::post(ex, [group = std::move(group)]() mutable {
      for (auto& c : group) c->resume();
    });
  resumes.clear();
}

void SegmentLog::run_flusher() {
  std::vector<Chunk> chunks(1);
  std::vector<Waiter> waiters;
  std::vector<AppendResult> results;
  Resumes resumes;
  for (;;) {
    bool sync = true;
    {
      std::unique_lock lock(mutex_);
      auto has_work = [&] { return !waiters_.empty(); };
      flusher_idle_ = true;
      if (unsynced_)
        cv_.wait_until(lock, last_sync_ + options_.sync_interval, [&] { return stopping_ || has_work(); });
      else
        cv_.wait(lock, [&] { return stopping_ || has_work(); });
      flusher_idle_ = false;
      if (!has_work()) {  // stopping, or written records are due for their sync
        const bool stop = stopping_;
        lock.unlock();
        if (unsynced_) sync_written();
        if (stop) return;
        continue;
      }
      if (options_.max_batch_delay.count() > 0 && pending_bytes_ < options_.max_batch_bytes && !stopping_)
        cv_.wait_for(lock, options_.max_batch_delay,
                     [&] { return stopping_ || pending_bytes_ >= options_.max_batch_bytes; });
      if (const auto interval = min_commit_interval(); interval.count() > 0)
        cv_.wait_until(lock, last_commit_ + interval,
                       [&] { return stopping_ || pending_bytes_ >= options_.max_batch_bytes; });
      last_commit_ = std::chrono::steady_clock::now();
      chunks.swap(pending_);
      waiters.swap(waiters_);
      pending_bytes_ = 0;
      // `chunks` came back from the last round holding one emptied chunk:
      // its buffer capacity is reused by the writers.
      pending_.resize(1);
      if (options_.sync_interval.count() > 0 && !stopping_ && last_commit_ < last_sync_ + options_.sync_interval)
        sync = std::any_of(waiters.begin(), waiters.end(),
                           [](const Waiter& w) { return !std::holds_alternative<std::monostate>(w.target); });
    }
    results.assign(chunks.size(), AppendResult{});
    write_chunks(chunks, results, sync);
    for (auto& w : waiters) {
      const AppendResult& r = results[w.chunk];
      if (r.ec && std::holds_alternative<std::monostate>(w.target)) detached_lost_.inc();
      complete(w, r, resumes);
    }
    post_resumes(resumes);
    waiters.clear();
    chunks.resize(1);
    chunks[0].clear();
  }
}

void SegmentLog::set_min_commit_interval(std::chrono::microseconds interval) {
  min_commit_interval_us_.store(interval.count(), std::memory_order_relaxed);
  commit_interval_gauge_.set(interval.count());
}

void SegmentLog::sync_written() {
  unsynced_ = false;
  if (fenced()) return;
  const auto started = std::chrono::steady_clock::now();
  last_sync_ = started;
  if (auto ec = io_->sync(cur_fd_)) {
    write_errors_.inc();
    fence("fdatasync failed: " + ec.message());
    return;
  }
  sync_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void SegmentLog::write_chunks(std::vector<Chunk>& chunks, std::vector<AppendResult>& results, bool sync) {
  sys::error_code failed;
  for (size_t i = 0; i < chunks.size(); ++i) {
    Chunk& c = chunks[i];
    if (!failed && fenced()) failed = make_error_code(sys::errc::state_not_recoverable);
    if (failed) {  // keep order: nothing after a failed chunk is written
      results[i].ec = failed;
      continue;
    }
    const size_t record_bytes = c.size();
    const bool full =
        cur_size_ > kSegmentHeaderSize && cur_size_ + record_bytes + kRecordHeaderSize > options_.segment_bytes;
    if (c.rotate_before || full || rotate_instead_of_filling(record_bytes + kRecordHeaderSize)) {
      // The old segment's records must be durable before it is closed:
      // recovery reads a bad frame in an older segment as corruption.
      if (unsynced_) sync_written();
      if (fenced()) {
        results[i].ec = failed = make_error_code(sys::errc::state_not_recoverable);
        continue;
      }
      if (auto ec = rotate()) {
        results[i].ec = failed = ec;
        write_errors_.inc();
        continue;
      }
    }
    results[i].segment = cur_segment_;
    if (record_bytes == 0) continue;
    auto started = std::chrono::steady_clock::now();
    const IoSlices slices = seal_chunk(c);
    const size_t written = record_bytes + kRecordHeaderSize;
    if (cur_size_ + written > filled_end_) fill_ahead(cur_size_ + written);
    LogWriteResult r;
    if (sync)
      r = io_->write_and_sync(cur_fd_, slices, off_t(cur_size_));
    else
      r.write = io_->write(cur_fd_, slices, off_t(cur_size_));
    if (r.write) {
      write_errors_.inc();
      filled_end_ = cur_size_;  // the cut below takes the zeros too
      // Cut partial bytes so the next batch appends right after the last
      // durable record. Failing that, the file state is unknown: fence.
      if (::ftruncate(cur_fd_, off_t(cur_size_)) != 0) {
        fence("write failed (" + r.write.message() + ") and the partial batch could not be cut: " +
              std::strerror(errno));
      }
      log_.error("log write failed; batch rejected", {{"log", options_.name},
                                                      {"error", r.write.message()},
                                                      {"records", static_cast<unsigned long>(c.records)}});
      results[i].ec = failed = to_sys(r.write);
      continue;
    }
    if (r.sync) {
      write_errors_.inc();
      fence("fdatasync failed: " + r.sync.message());
      results[i].ec = failed = make_error_code(sys::errc::state_not_recoverable);
      continue;
    }
    if (sync) {
      sync_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      unsynced_ = false;
      last_sync_ = started;
    } else {
      unsynced_ = true;
    }
    {
      std::lock_guard lock(mutex_);  // segments() reads it
      cur_size_ += record_bytes;
    }
    batches_.inc();
    records_.inc(c.records);
    bytes_.inc(record_bytes);
  }
}

IoSlices SegmentLog::seal_chunk(Chunk& c) {
  // Sealed here, once the segment is known (log_format.hpp), and followed
  // by the end marker, which the next commit overwrites. Every slice holds
  // whole records: each batch's, or small batches' one after the other.
  static constexpr char kEndMarker[kRecordHeaderSize] = {};
  slices_.clear();
  auto add = [&](char* data, size_t n, bool records) {
    if (n == 0) return;
    if (records) seal_records(data, n, cur_salt_);
    slices_.push_back({data, n});
  };
  size_t from = 0;
  for (auto& m : c.moved) {
    add(c.bytes.data() + from, m.at - from, true);
    add(m.bytes.data(), m.bytes.size(), true);
    from = m.at;
  }
  add(c.bytes.data() + from, c.bytes.size() - from, true);
  add(const_cast<char*>(kEndMarker), sizeof kEndMarker, false);
  return slices_;
}

void SegmentLog::fill_ahead(uint64_t end) {
  // The batch about to be written covers [cur_size_, end). The zeros after
  // it become durable with the batch's own fdatasync: one size change per
  // fill_ahead_bytes instead of one per group commit. A failed zero write
  // (disk full) only means the batch extends the file itself.
  static constexpr char kZeros[64 * 1024] = {};
  uint64_t target = end + options_.fill_ahead_bytes;
  if (target > options_.segment_bytes) target = std::max(end, options_.segment_bytes);
  uint64_t at = std::max(filled_end_, end);
  while (at < target) {
    const size_t n = size_t(std::min<uint64_t>(sizeof kZeros, target - at));
    const ssize_t w = ::pwrite(cur_fd_, kZeros, n, off_t(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    at += uint64_t(w);
  }
  filled_end_ = std::max(at, end);
}

bool SegmentLog::rotate_instead_of_filling(uint64_t bytes) {
  if (!preparer_ || cur_size_ + bytes <= filled_end_) return false;
  {
    std::lock_guard lock(mutex_);
    if (!spares_.empty()) return cur_size_ > kSegmentHeaderSize;
  }
  // Not for a segment's first fill: a log that writes little (or has
  // only just started) never needs a whole segment written for it.
  if (cur_size_ >= options_.fill_ahead_bytes) preparer_->request();
  return false;
}

sys::error_code SegmentLog::rotate() {
  uint64_t next;
  {
    std::lock_guard lock(mutex_);
    next = cur_segment_ + 1;
  }
  const fs::path path = segment_path(next);
  uint64_t filled = kSegmentHeaderSize;
  int fd = reuse_spare(next);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) filled = std::max<uint64_t>(filled, uint64_t(st.st_size));
    // The last spare taken: the next is prepared now, while this one fills.
    // Asked for only at the next fill, it would come a preparation's time
    // late, and the log would fill zeros ahead meanwhile (the history, whose
    // spares are all prepared: ~36 MB of every second segment at 5 000
    // events/s).
    if (preparer_ && spare_segments() == 0) preparer_->request();
  } else {
    fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) return errno_sys(errno);
    std::string header;
    encode_segment_header(header, next);
    LogWriteResult r = io_->write_and_sync(fd, header, 0);
    if (r.write || r.sync) {
      ::close(fd);
      ::unlink(path.c_str());
      return to_sys(r.write ? r.write : r.sync);
    }
  }
  // The new name must be durable before records in it are acknowledged.
  if (::fsync(dir_fd_) != 0) {
    int e = errno;
    ::close(fd);
    fence(std::string("directory fsync failed after creating a segment: ") + std::strerror(e));
    return make_error_code(sys::errc::state_not_recoverable);
  }
  std::lock_guard lock(mutex_);
  if (cur_fd_ >= 0) {
    ::close(cur_fd_);
    closed_.push_back({cur_segment_, cur_size_, fs::file_time_type::clock::now()});
  }
  cur_fd_ = fd;
  cur_segment_ = next;
  cur_size_ = kSegmentHeaderSize;
  filled_end_ = filled;
  cur_salt_ = SegmentHeader{next}.salt();
  segments_gauge_.set(int64_t(closed_.size() + 1));
  return {};
}

int SegmentLog::reuse_spare(uint64_t next) {
  fs::path spare;
  {
    std::lock_guard lock(mutex_);
    if (spares_.empty()) return -1;
    spare = std::move(spares_.back().path);  // the largest: the most space written already
    spares_.pop_back();
    spares_gauge_.set(int64_t(spares_.size()));
  }
  // The new header and an end marker (no records yet) are durable before
  // the file takes the segment's name: a crash in between leaves a spare.
  std::string head;
  encode_segment_header(head, next);
  head.append(kRecordHeaderSize, '\0');
  const int fd = ::open(spare.c_str(), O_WRONLY | O_CLOEXEC);
  std::string failed;
  if (fd < 0) {
    failed = std::string("open: ") + std::strerror(errno);
  } else if (LogWriteResult r = io_->write_and_sync(fd, head, 0); r.write || r.sync) {
    failed = "header: " + (r.write ? r.write : r.sync).message();
  } else if (!rename_no_replace(spare, segment_path(next))) {
    failed = std::string("rename: ") + std::strerror(errno);
  } else {
    return fd;
  }
  if (fd >= 0) ::close(fd);
  log_.warn("cannot reuse a spare segment; creating a new one",
            {{"log", options_.name}, {"spare", spare.string()}, {"error", failed}});
  (void)remover_.remove(spare);
  return -1;
}

fs::path SegmentLog::spare_path(uint64_t n) const {
  fs::path p = segment_path(n);
  p.replace_extension(".spare");
  return p;
}

size_t SegmentLog::spare_segments() const {
  std::lock_guard lock(mutex_);
  return spares_.size();
}

void SegmentLog::fence(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (fenced_) return;
    fenced_ = true;
    fence_reason_ = reason;
  }
  fenced_gauge_.set(1);
  log_.error("log fenced: nothing more is acknowledged until restart and replay",
             {{"log", options_.name}, {"reason", reason}});
  if (on_fenced_) on_fenced_(reason);
}

bool SegmentLog::fenced() const {
  std::lock_guard lock(mutex_);
  return fenced_;
}

std::string SegmentLog::fence_reason() const {
  std::lock_guard lock(mutex_);
  return fence_reason_;
}

size_t SegmentLog::remove_segments_before(uint64_t segment) {
  std::vector<uint64_t> doomed;
  size_t room = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = std::partition_point(closed_.begin(), closed_.end(), [&](auto& s) { return s.number < segment; });
    for (auto p = closed_.begin(); p != it; ++p) doomed.push_back(p->number);
    closed_.erase(closed_.begin(), it);
    segments_gauge_.set(int64_t(closed_.size() + 1));
    room = options_.spare_segments - std::min(options_.spare_segments, spares_.size());
  }
  // The largest are kept, none under half a segment: a checkpoint cuts its
  // segment short, and a spare is worth keeping for the space it has.
  std::vector<Spare> candidates;
  for (auto n : doomed) {
    std::error_code ec;
    const uint64_t bytes = fs::file_size(segment_path(n), ec);
    if (!ec && bytes >= options_.segment_bytes / 2) candidates.push_back({segment_path(n), bytes});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Spare& a, const Spare& b) { return Spare::smaller(b, a); });
  candidates.resize(std::min(candidates.size(), room));
  std::vector<Spare> kept;
  for (auto n : doomed) {
    auto c = std::find_if(candidates.begin(), candidates.end(), [&](const Spare& s) { return s.path == segment_path(n); });
    if (c != candidates.end()) {
      if (::rename(segment_path(n).c_str(), spare_path(n).c_str()) == 0) {
        kept.push_back({spare_path(n), c->bytes});
        continue;
      }
      log_.warn("cannot keep a segment as a spare", {{"log", options_.name}, {"segment", segment_path(n).string()},
                                                      {"error", std::string(std::strerror(errno))}});
    }
    // Gradually, on the remover's thread: a whole segment at once is one big
    // discard that the journal's commits would queue behind, and shrinking
    // it here would hold up the caller (gradual_removal.hpp).
    const std::error_code ec = remover_.remove(segment_path(n));
    if (ec) log_.warn("cannot remove segment", {{"log", options_.name}, {"segment", segment_path(n).string()},
                                                {"error", ec.message()}});
  }
  if (!kept.empty()) {
    // Gone under their names before the caller goes on (a crash must not
    // replay them), as remover_.remove() does for the others.
    if (const std::error_code ec = fsync_directory(options_.dir))
      log_.warn("cannot sync the directory of spare segments", {{"log", options_.name}, {"error", ec.message()}});
    add_spares(std::move(kept));
  }
  return doomed.size();
}

void SegmentLog::add_spares(std::vector<Spare> spares) {
  std::lock_guard lock(mutex_);
  for (auto& s : spares) spares_.push_back(std::move(s));
  std::sort(spares_.begin(), spares_.end(), Spare::smaller);
  spares_gauge_.set(int64_t(spares_.size()));
}

std::vector<SegmentInfo> SegmentLog::segments() const {
  std::lock_guard lock(mutex_);
  auto out = closed_;
  out.push_back({cur_segment_, cur_size_, fs::file_time_type::clock::now()});
  return out;
}

uint64_t SegmentLog::current_segment() const {
  std::lock_guard lock(mutex_);
  return cur_segment_;
}

}  // namespace herald
