#pragma once
// EventRecycler: vectors of DocumentEvents handed back once their batch is
// done with, for the decoder to validate new events into.
//
// A bulk request's 500 events cost the decoder an allocation per long
// string and a table per `data` object, and the history's encoder (which
// frees a batch on its own thread) as many frees and the destruction of
// some thirty strings per event. Events validated into a vector given back
// keep those buffers. The decoder resets every field of an event it
// validates into (EventValidator::validate), so nothing of an earlier
// event survives into a later one.
#include <iterator>
#include <mutex>
#include <vector>

#include "core/model/document_event.hpp"

namespace herald {

class EventRecycler final {
 public:
  // Any thread. Keeps the newest vectors, at most kMaxSpare of them and
  // kMaxKeptTotal events in all, and only vectors of at most kMaxKeptEvents
  // events holding no large buffers (an event's own text, attachments), so
  // what it keeps stays within ~5 MB; the others are freed here.
  //
  // Batches of one event (single-event requests) are kept apart, up to
  // kMaxSingles (~0.4 MB): requests on many connections are in flight at
  // once and a group commit's answers give back their batches together, so
  // with them among the eight, under wrk's 256 connections three requests
  // in four allocated their batch and their event's strings anew (a uprobe
  // on the batch's growth: 0.76 calls per request; none with the singles).
  //
  // Eight, not two: the history's encoder gives back the batches of several
  // requests at once, while the HTTP thread takes one per request. Keeping
  // two, under NDJSON ingest on 16 connections the encoder still freed every
  // other batch (and the HTTP thread allocated one): `~vector` was 1.3-1.5 %
  // of heraldd's samples; with eight, 0.6-0.7 %.
  void give_back(std::vector<DocumentEvent>&& events) {
    if (events.empty() || !worth_keeping(events)) return;
    std::vector<std::vector<DocumentEvent>> surplus;  // declared first: freed after the lock is released
    std::lock_guard lock(mutex_);
    if (events.size() == 1) {
      if (singles_.size() < kMaxSingles) singles_.push_back(std::move(events));
      else surplus.push_back(std::move(events));
      return;
    }
    size_t total = events.size();
    for (const auto& v : spare_) total += v.size();
    size_t drop = 0;  // the oldest go: traffic changes shape
    while (drop < spare_.size() && (spare_.size() - drop >= kMaxSpare || total > kMaxKeptTotal))
      total -= spare_[drop++].size();
    surplus.assign(std::make_move_iterator(spare_.begin()), std::make_move_iterator(spare_.begin() + drop));
    spare_.erase(spare_.begin(), spare_.begin() + static_cast<std::ptrdiff_t>(drop));
    spare_.push_back(std::move(events));
  }

  // The largest vector given back (its events' contents stale) of at most
  // about twice `events`, or an empty one: the decoder drops the spares it
  // does not use, and a single-event request must not pay for dropping a
  // bulk request's. Of equal ones the newest, whose memory is likeliest
  // still in cache.
  std::vector<DocumentEvent> take(size_t events) {
    std::lock_guard lock(mutex_);
    if (events == 1 && !singles_.empty()) {
      std::vector<DocumentEvent> v = std::move(singles_.back());
      singles_.pop_back();
      return v;
    }
    size_t best = spare_.size();
    for (size_t i = 0; i < spare_.size(); ++i)
      if (spare_[i].size() <= 2 * events + 2 && (best == spare_.size() || spare_[i].size() >= spare_[best].size()))
        best = i;
    if (best == spare_.size()) return {};
    std::vector<DocumentEvent> v = std::move(spare_[best]);
    spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(best));
    return v;
  }

  static constexpr size_t kMaxSpare = 8;
  static constexpr size_t kMaxSingles = 256;
  static constexpr size_t kMaxKeptEvents = 1024;
  static constexpr size_t kMaxKeptTotal = 4096;  // ~1.2 KB each
  static constexpr size_t kMaxKeptTextBytes = 4096;

 private:
  static bool worth_keeping(const std::vector<DocumentEvent>& events) {
    if (events.capacity() > kMaxKeptEvents) return false;
    for (const auto& e : events)
      if (e.json.capacity() > kMaxKeptTextBytes || (e.document && !e.document->attachments.empty())) return false;
    return true;
  }

  std::mutex mutex_;
  std::vector<std::vector<DocumentEvent>> spare_;
  std::vector<std::vector<DocumentEvent>> singles_;  // batches of one event, newest last
};

}  // namespace herald
