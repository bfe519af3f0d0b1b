#include "core/journal/finished_run.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/journal/blocked_bloom.hpp"
#include "core/storage/crc32c.hpp"
#include "core/storage/file_io.hpp"
#include "core/util/fixed_width.hpp"
#include "core/util/hash.hpp"
#include "core/util/varint.hpp"

namespace herald {

namespace {

// The magic's last character is the format version, which fixes the
// filter's probes: version 1 (12 bits, 6 probes per key) is still read;
// version 2 (16 bits, 7 probes) is written (finished_run.hpp).
constexpr char kMagic[7] = {'H', 'R', 'L', 'D', 'R', 'U', 'N'};
constexpr size_t kHeaderSize = 16;
constexpr size_t kIndexEntrySize = 24;
constexpr size_t kFooterSize = 7 * 8 + 4 + 4;
constexpr char kFooterMagic[4] = {'H', 'R', 'U', 'N'};
constexpr size_t kBlockTarget = 4096;
constexpr size_t kWriteBuffer = 1u << 20;
// Runs and merges are megabytes written at once. Handed to the disk whole and
// then fdatasynced, a 9 MB merge held this VM's disk for 20-30 ms, and the
// journal's group commits (the 202s) waited behind it. So a run goes out in
// pieces, each written back (sync_file_range) before the next, with a pause
// between them that lets commits through; the final fdatasync finds little
// left to write. A 2.4 MB run takes ~20 ms longer, on the maintenance thread.
constexpr size_t kWritebackPiece = 256u << 10;
constexpr auto kWritebackPause = std::chrono::milliseconds(2);
constexpr BloomShape bloom_shape(FinishedRunFormat f) {
  return f == FinishedRunFormat::v1 ? BloomShape{12, 6} : BloomShape{16, 7};
}

std::error_code errno_code() { return {errno, std::generic_category()}; }

bool pread_all(int fd, char* buf, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

bool decode_finished_record(const char*& p, const char* end, FinishedRecord& r) {
  if (end - p < 8) return false;
  r.hash = get_u64(p);
  p += 8;
  uint64_t at = 0;
  return get_text_bounded(p, end, r.key) && get_varint_bounded(p, end, at) &&
         (r.accepted_ms = static_cast<int64_t>(at), get_text_bounded(p, end, r.value));
}

// ---------------------------------------------------------------- writer

FinishedRunWriter::FinishedRunWriter(std::filesystem::path path, uint64_t seed, uint64_t expected_records,
                                     FinishedRunFormat format)
    : path_(std::move(path)), tmp_(path_.string() + ".tmp"), seed_(seed), probes_(bloom_shape(format).probes) {
  bloom_.assign(bloom_words_for(expected_records, bloom_shape(format)), 0);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error_ = errno_code();
    return;
  }
  out_.reserve(kWriteBuffer + kBlockTarget * 2);
  out_.append(kMagic, sizeof kMagic);
  out_ += format == FinishedRunFormat::v1 ? '1' : '2';
  out_.append(8, '\0');
  offset_ = kHeaderSize;
}

FinishedRunWriter::~FinishedRunWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!done_) ::unlink(tmp_.c_str());
}

std::error_code FinishedRunWriter::write_out(std::string_view data) {
  while (!data.empty()) {
    const size_t piece = std::min(data.size(), kWritebackPiece);
    if (auto ec = pwrite_all(fd_, data.substr(0, piece), off_t(written_))) return ec;
    // Pacing only: finish()'s fdatasync is what makes the run durable, and
    // reports a failed write-back (so a filesystem without this call still works).
    (void)::sync_file_range(fd_, off_t(written_), off_t(piece),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    written_ += piece;
    data.remove_prefix(piece);
    if (!data.empty()) std::this_thread::sleep_for(kWritebackPause);
  }
  return {};
}

std::error_code FinishedRunWriter::cut_block() {
  if (block_.empty()) return {};
  put_u64(index_, block_hash_);
  put_u64(index_, offset_);
  put_u32(index_, static_cast<uint32_t>(block_.size()));
  put_u32(index_, crc32c(block_));
  ++blocks_;
  offset_ += block_.size();
  out_ += block_;
  block_.clear();
  if (out_.size() >= kWriteBuffer) {
    if (auto ec = write_out(out_)) return ec;
    out_.clear();
  }
  return {};
}

std::error_code FinishedRunWriter::add(const FinishedRecord& r) {
  if (error_) return error_;
  if (records_ > 0 && r.hash < last_hash_) return error_ = std::make_error_code(std::errc::invalid_argument);
  // A new hash may start a new block once this one is big enough.
  if (!block_.empty() && r.hash != last_hash_ && block_.size() >= kBlockTarget)
    if ((error_ = cut_block())) return error_;
  if (block_.empty()) block_hash_ = r.hash;
  put_u64(block_, r.hash);
  put_text(block_, r.key);
  put_varint(block_, static_cast<uint64_t>(std::max<int64_t>(r.accepted_ms, 0)));
  put_text(block_, r.value);
  const size_t words = bloom_.size();
  bloom_probe(words, probes_, r.hash, [&](size_t w, uint64_t bit) {
    bloom_[w] |= bit;
    return true;
  });
  last_hash_ = r.hash;
  min_at_ = std::min(min_at_, r.accepted_ms);
  max_at_ = std::max(max_at_, r.accepted_ms);
  ++records_;
  return {};
}

std::error_code FinishedRunWriter::finish() {
  if (error_) return error_;
  if ((error_ = cut_block())) return error_;
  if (records_ == 0) min_at_ = max_at_ = 0;
  const uint64_t index_offset = offset_;
  std::string tail = std::move(index_);
  for (uint64_t w : bloom_) put_u64(tail, w);
  std::string footer;
  for (uint64_t v : {index_offset, blocks_, uint64_t(bloom_.size()), records_, seed_, uint64_t(min_at_),
                     uint64_t(max_at_)})
    put_u64(footer, v);
  put_u32(footer, crc32c_extend(crc32c(tail), footer.data(), footer.size()));
  footer.append(kFooterMagic, 4);
  out_ += tail;
  out_ += footer;
  if ((error_ = write_out(out_))) return error_;
  out_.clear();
  if (::fdatasync(fd_) != 0) return error_ = errno_code();
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return error_ = errno_code();
  done_ = true;
  // The rename is durable only once the directory is.
  return error_ = fsync_directory(path_.parent_path());
}

// ---------------------------------------------------------------- reader

FinishedRun::~FinishedRun() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<FinishedRun> FinishedRun::open(const std::filesystem::path& path, std::string& error) {
  std::unique_ptr<FinishedRun> run(new FinishedRun());
  run->path_ = path;
  run->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (run->fd_ < 0) {
    error = std::string("cannot open: ") + std::strerror(errno);
    return nullptr;
  }
  const off_t size = ::lseek(run->fd_, 0, SEEK_END);
  char head[kHeaderSize];
  char foot[kFooterSize];
  if (size < off_t(kHeaderSize + kFooterSize) || !pread_all(run->fd_, head, kHeaderSize, 0) ||
      std::memcmp(head, kMagic, sizeof kMagic) != 0 || (head[7] != '1' && head[7] != '2') ||
      !pread_all(run->fd_, foot, kFooterSize, static_cast<uint64_t>(size) - kFooterSize) ||
      std::memcmp(foot + kFooterSize - 4, kFooterMagic, 4) != 0) {
    error = "not a finished-event run (bad header or footer)";
    return nullptr;
  }
  const uint64_t index_offset = get_u64(foot), blocks = get_u64(foot + 8), bloom_words = get_u64(foot + 16);
  run->probes_ = bloom_shape(head[7] == '1' ? FinishedRunFormat::v1 : FinishedRunFormat::v2).probes;
  run->records_ = get_u64(foot + 24);
  run->seed_ = get_u64(foot + 32);
  run->min_at_ = static_cast<int64_t>(get_u64(foot + 40));
  run->max_at_ = static_cast<int64_t>(get_u64(foot + 48));
  run->file_bytes_ = static_cast<uint64_t>(size);
  // The sizes must add up exactly before anything is allocated from them.
  const uint64_t tail_end = static_cast<uint64_t>(size) - kFooterSize;
  if (index_offset < kHeaderSize || index_offset > tail_end || blocks > (tail_end - index_offset) / kIndexEntrySize ||
      bloom_words == 0 || bloom_words % 8 != 0 ||
      (tail_end - index_offset - blocks * kIndexEntrySize) != bloom_words * 8) {
    error = "inconsistent footer";
    return nullptr;
  }
  std::string tail(tail_end - index_offset, '\0');
  if (!pread_all(run->fd_, tail.data(), tail.size(), index_offset) ||
      crc32c_extend(crc32c(tail), foot, 7 * 8) != get_u32(foot + 7 * 8)) {
    error = "index or filter checksum mismatch";
    return nullptr;
  }
  run->index_.resize(blocks);
  uint64_t expect = kHeaderSize;
  for (uint64_t i = 0; i < blocks; ++i) {
    const char* e = tail.data() + i * kIndexEntrySize;
    auto& ie = run->index_[i];
    ie = {get_u64(e), get_u64(e + 8), get_u32(e + 16), get_u32(e + 20)};
    if (ie.offset != expect || (i > 0 && ie.first_hash < run->index_[i - 1].first_hash)) {
      error = "block index out of order";
      return nullptr;
    }
    expect += ie.size;
  }
  if (expect != index_offset) {
    error = "block index does not cover the records";
    return nullptr;
  }
  run->bloom_.resize(bloom_words);
  for (uint64_t w = 0; w < bloom_words; ++w) run->bloom_[w] = get_u64(tail.data() + blocks * kIndexEntrySize + w * 8);
  return run;
}

void FinishedRun::prefetch(uint64_t hash) const {
  if (!bloom_.empty()) __builtin_prefetch(&bloom_[bloom_block_word(bloom_.size(), hash)]);
}

bool FinishedRun::may_contain(uint64_t hash) const {
  return bloom_contains(bloom_.size(), probes_, hash, [&](size_t w) { return bloom_[w]; });
}

bool FinishedRun::read_block(uint64_t i, std::string& out) const {
  const IndexEntry& ie = index_[i];
  out.resize(ie.size);
  return pread_all(fd_, out.data(), ie.size, ie.offset) && crc32c(out) == ie.crc;
}

FinishedRun::Find FinishedRun::find(uint64_t hash, std::string_view key, int64_t& accepted_ms,
                                    std::string& value) const {
  if (index_.empty() || !may_contain(hash)) return Find::absent;
  // The last block starting at or below `hash` holds all its records.
  auto it = std::upper_bound(index_.begin(), index_.end(), hash,
                             [](uint64_t h, const IndexEntry& e) { return h < e.first_hash; });
  if (it == index_.begin()) return Find::absent;
  std::string block;
  if (!read_block(static_cast<uint64_t>(it - index_.begin()) - 1, block)) return Find::damaged;
  const char* p = block.data();
  const char* const end = p + block.size();
  FinishedRecord r;
  while (p < end) {
    if (!decode_finished_record(p, end, r)) return Find::damaged;
    if (r.hash > hash) break;
    if (r.hash == hash && r.key == key) {
      accepted_ms = r.accepted_ms;
      value.assign(r.value);
      return Find::found;
    }
  }
  return Find::absent;
}

bool FinishedRun::Cursor::next_block() {
  const auto& index = run_.index_;
  if (damaged_ || block_ >= index.size()) return false;
  if (block_ >= read_end_) {
    // Blocks are written back to back: read as many as fit in one go.
    uint64_t last = block_ + 1;
    const uint64_t start = index[block_].offset;
    while (last < index.size() && index[last].offset + index[last].size - start <= kCursorRead) ++last;
    const uint64_t bytes = index[last - 1].offset + index[last - 1].size - start;
    data_.resize(bytes);
    if (!pread_all(run_.fd_, data_.data(), bytes, start)) {
      damaged_ = true;
      return false;
    }
    data_offset_ = start;
    read_end_ = last;
  }
  const IndexEntry& ie = index[block_++];
  const char* block = data_.data() + (ie.offset - data_offset_);
  if (ie.offset < data_offset_ || ie.offset - data_offset_ + ie.size > data_.size() ||
      crc32c(std::string_view(block, ie.size)) != ie.crc) {
    damaged_ = true;
    return false;
  }
  p_ = block;
  end_ = block + ie.size;
  return true;
}

bool FinishedRun::Cursor::next(FinishedRecord& r) {
  while (p_ == end_)
    if (!next_block()) return false;
  if (!decode_finished_record(p_, end_, r)) {
    damaged_ = true;
    return false;
  }
  return true;
}

}  // namespace herald
