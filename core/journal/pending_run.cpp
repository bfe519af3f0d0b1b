#include "core/journal/pending_run.hpp"

#include <algorithm>
#include <cassert>

#include "core/util/varint.hpp"

namespace herald {

namespace {
// Batches under this size join the last piece; larger ones (a bulk
// request's) become a piece of their own, without a copy.
constexpr size_t kOwnPiece = 4096;
// Pieces of 64 KB: a small allocation under the lock, its pages touched a
// hundred bytes at a time by the records appended to it. (One string grown
// by reallocation copied up to ~15 MB under the lock.)
constexpr size_t kPiece = 64 * 1024;
}  // namespace

PendingRun::PendingRun()
    : pieces_(std::make_unique<std::vector<std::string>>()), index_(0, SlotHash{}, SlotEqual{pieces_.get()}) {}

void PendingRun::swap(PendingRun& other) noexcept {
  pieces_.swap(other.pieces_);
  index_.swap(other.index_);  // with the SlotEqual pointing to its pieces
  std::swap(records_, other.records_);
}

size_t PendingRun::encoded_size(std::string_view key, int64_t accepted_ms, size_t value_body_size) {
  return text_size(key) + varint_size(static_cast<uint64_t>(std::max<int64_t>(accepted_ms, 0))) + 1 +
         varint_size(value_body_size) + value_body_size;
}

void PendingRun::encode_head(std::string& out, std::string_view key, int64_t accepted_ms, size_t body_size) {
  // Sized once and written in place: appended byte by byte, this was ~100
  // instructions per NDJSON event on the HTTP thread.
  const auto at = static_cast<uint64_t>(std::max<int64_t>(accepted_ms, 0));
  const size_t start = out.size();
  out.resize(start + text_size(key) + varint_size(at) + 1 + varint_size(body_size));
  char* p = out.data() + start;
  put_text(p, key);
  put_varint(p, at);
  *p++ = '\0';
  put_varint(p, body_size);
  assert(p == out.data() + out.size());
}

PendingRun::Record PendingRun::decode(const char*& p) {
  Record r;
  const size_t klen = get_varint(p);
  r.key = {p, klen};
  p += klen;
  r.accepted_ms = static_cast<int64_t>(get_varint(p));
  const char* const value = p;
  ++p;  // the run value's 0
  const size_t n = get_varint(p);
  p += n;
  r.value = {value, static_cast<size_t>(p - value)};
  return r;
}

std::string_view PendingRun::SlotEqual::key(const Slot& s) const {
  const char* p = (*pieces)[s.piece].data() + s.offset;
  const size_t klen = get_varint(p);
  return {p, klen};
}

void PendingRun::index(uint64_t hash, uint32_t piece, uint32_t offset, bool replace) {
  auto [it, inserted] = index_.insert(Slot{hash, piece, offset});
  if (!inserted && replace) {
    it->piece = piece;
    it->offset = offset;
  }
}

std::string& PendingRun::tail(size_t bytes) {
  auto& pieces = *pieces_;
  if (pieces.empty() || pieces.back().size() + bytes > pieces.back().capacity())
    pieces.emplace_back().reserve(std::max(kPiece, bytes));
  return pieces.back();
}

void PendingRun::add(std::string&& encoded, std::span<const Placed> placed) {
  if (encoded.empty()) return;
  auto& pieces = *pieces_;
  uint32_t base = 0;
  if (encoded.size() >= kOwnPiece) {
    pieces.push_back(std::move(encoded));
  } else {
    std::string& t = tail(encoded.size());
    base = static_cast<uint32_t>(t.size());
    t.append(encoded);
  }
  const auto piece = static_cast<uint32_t>(pieces.size() - 1);
  for (const Placed& p : placed) index(p.hash, piece, base + p.offset);
  records_ += placed.size();
}

void PendingRun::added_one(uint64_t hash, uint32_t offset) {
  index(hash, static_cast<uint32_t>(pieces_->size() - 1), offset);
  ++records_;
}

std::optional<PendingRun::Record> PendingRun::find(std::string_view key, uint64_t hash) const {
  if (index_.empty()) return std::nullopt;
  auto it = index_.find(Probe{key, hash});
  if (it == index_.end()) return std::nullopt;
  const char* p = (*pieces_)[it->piece].data() + it->offset;
  return decode(p);
}

void PendingRun::absorb(PendingRun& older) {
  auto& pieces = *pieces_;
  const auto base = static_cast<uint32_t>(pieces.size());
  for (std::string& piece : *older.pieces_) pieces.push_back(std::move(piece));
  // Its newest record of each key, unless this one has a record of it.
  for (const Slot& s : older.index_) index(s.hash, base + s.piece, s.offset, false);
  records_ += older.records_;
  older.clear();
}

std::vector<std::string> PendingRun::clear() {
  std::vector<std::string> bytes;
  bytes.swap(*pieces_);
  index_.clear();
  records_ = 0;
  return bytes;
}

}  // namespace herald
