#pragma once
// The finished events the journal holds in memory until a flush writes them
// to a run on disk (FinishedStore), with an index by key.
#include <boost/unordered/unordered_flat_set.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

// Each entry is kept as the run will hold it: varint(key size), key,
// varint(accepted_ms), then the run value: 0, varint(n), n bytes (the packed
// entry without its names, see journal.cpp: packed_tail). The records sit
// in pieces (whole records each) and are indexed by key hash and location.
//
// Why not the journal's map of events: finished events are by far the most
// numerous, and only duplicates and GET /v1/events/{id} ask for them. In
// the map each cost a slot and a heap entry; a flush then erased
// them one by one under the journal lock (a cache miss or three each: 3 %
// of heraldd under NDJSON ingest), and with them in it, the map of open
// events fell out of the cache. Here a flush drops a whole batch at once,
// and an index slot is 16 bytes. (Boost's flat set: a lookup of a new key,
// which every accepted event is, reads only its metadata, a byte per slot
// that stays in cache; a hand-written linear-probing table of the same
// slots made that lookup a miss in the slots, +0.3 us per NDJSON event.)
//
// Not thread-safe: the journal's lock guards it. Readers may share it with
// no lock while nobody changes it (the flushing batch, see Journal).
class PendingRun {
 public:
  struct Record {
    std::string_view key;
    int64_t accepted_ms = 0;
    std::string_view value;  // the run value
  };
  // Where a record starts in encoded bytes, and its key's hash.
  struct Placed {
    uint64_t hash = 0;
    uint32_t offset = 0;
  };

  PendingRun();
  PendingRun(const PendingRun&) = delete;
  PendingRun& operator=(const PendingRun&) = delete;
  // Exchanges the contents, each index with the records it points to (and
  // its capacity: the journal's two batches take turns).
  void swap(PendingRun& other) noexcept;

  // The record's encoded size (`value_body_size`: the n bytes of the run
  // value), and the encoding appended to `out`, the value's body appended
  // by `write(out)`.
  static size_t encoded_size(std::string_view key, int64_t accepted_ms, size_t value_body_size);
  template <class Write>
  static void encode_with(std::string& out, std::string_view key, int64_t accepted_ms, size_t body_size,
                          Write&& write) {
    encode_head(out, key, accepted_ms, body_size);
    write(out);
  }
  // The record at `p` (bytes encode_with() wrote) and where the next one starts.
  static Record decode(const char*& p);

  // Adds the records encoded in `encoded` (a batch's, built before the
  // lock), placed as `placed` says, in order. A key added again is found
  // at its newest record.
  void add(std::string&& encoded, std::span<const Placed> placed);
  // Adds one record.
  void add(std::string_view key, uint64_t hash, int64_t accepted_ms, std::string_view value_body) {
    add_with(key, hash, accepted_ms, value_body.size(), [&](std::string& o) { o.append(value_body); });
  }
  // The same, the value's body appended by `write(out)`: `body_size` bytes.
  template <class Write>
  void add_with(std::string_view key, uint64_t hash, int64_t accepted_ms, size_t body_size, Write&& write) {
    std::string& t = tail(encoded_size(key, accepted_ms, body_size));
    const auto offset = static_cast<uint32_t>(t.size());
    encode_with(t, key, accepted_ms, body_size, write);
    added_one(hash, offset);
  }

  // The newest record of `key` (whose hash is `hash`).
  std::optional<Record> find(std::string_view key, uint64_t hash) const;

  // Room for `records` keys in the index before it grows.
  void reserve(size_t records) { index_.reserve(records); }
  // Records added (a key added twice counts twice).
  size_t size() const { return records_; }
  bool empty() const { return records_ == 0; }
  // Every record, in the order added.
  template <class F>
  void for_each(F&& f) const {
    for (const std::string& piece : *pieces_)
      for (const char* p = piece.data(); p < piece.data() + piece.size();) f(decode(p));
  }

  // Adds the records of `older`, an earlier batch, without hiding this
  // one's newer records of the same keys; `older` is left empty.
  void absorb(PendingRun& older);
  // Empties this; returns the record bytes, to be freed after the lock is
  // released. The index keeps its capacity.
  std::vector<std::string> clear();

 private:
  struct Slot {
    uint64_t hash;
    // Moved to a key's newest record in place: the key (its hash and
    // bytes) does not change, so the set's order holds.
    mutable uint32_t piece;
    mutable uint32_t offset;
  };
  struct Probe {
    std::string_view key;
    uint64_t hash;
  };
  struct SlotHash {
    using is_transparent = void;
    using is_avalanching = void;  // the journal's seeded hash
    size_t operator()(const Slot& s) const { return s.hash; }
    size_t operator()(const Probe& p) const { return p.hash; }
  };
  // Compares keys where the records hold them: through a pointer to the
  // pieces, which swap() exchanges along with the index.
  struct SlotEqual {
    using is_transparent = void;
    const std::vector<std::string>* pieces;
    std::string_view key(const Slot& s) const;
    bool operator()(const Slot& a, const Slot& b) const { return a.hash == b.hash && key(a) == key(b); }
    bool operator()(const Probe& a, const Slot& b) const { return a.hash == b.hash && a.key == key(b); }
    bool operator()(const Slot& a, const Probe& b) const { return (*this)(b, a); }
  };

  static void encode_head(std::string& out, std::string_view key, int64_t accepted_ms, size_t body_size);
  // Indexes the record at `offset` of piece `piece`: as its key's newest
  // record, or (`replace` false) only if the key has none here yet.
  void index(uint64_t hash, uint32_t piece, uint32_t offset, bool replace = true);
  std::string& tail(size_t bytes);
  void added_one(uint64_t hash, uint32_t offset);  // in the last piece

  std::unique_ptr<std::vector<std::string>> pieces_;
  boost::unordered_flat_set<Slot, SlotHash, SlotEqual> index_;
  size_t records_ = 0;
};

}  // namespace herald
