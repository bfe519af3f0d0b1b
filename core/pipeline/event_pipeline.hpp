#pragma once
// EventPipeline: validated events → journal (durable) → match → render →
// dispatch, plus history.
//
// The ingest front-ends (HTTP now, Redis Streams later) hand it validated
// batches. accept() matches and renders each event against the current
// resource snapshot, commits the whole batch to the journal as one group
// (the caller answers 202/XACK only when that succeeded), then records
// history and queues every message on the dispatcher of its channel. An id
// already accepted within the idempotency window returns the first result
// and sends nothing. resume() restarts the work recovery found unfinished.
// Both may run concurrently from any thread; they only read the snapshot.
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "core/delivery/dispatcher.hpp"
#include "core/history/history_log.hpp"
#include "core/ingest/event_decoder.hpp"
#include "core/journal/journal.hpp"
#include "core/match/rule_index.hpp"
#include "core/render/message_renderer.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

struct AcceptedEvent {
  std::string id;
  std::vector<std::string> message_ids;
  bool duplicate = false;  // answered from the idempotency index
};

struct AcceptResult {
  boost::system::error_code error;  // set: nothing was accepted (journal unavailable)
  std::vector<AcceptedEvent> events;
};

class EventPipeline final {
 public:
  EventPipeline(const SnapshotHolder& snapshots, const MessageRenderer& renderer, Journal& journal,
                HistoryLog& history, MetricsRegistry& metrics, Logger& log);

  // Routes messages of `channel` to `dispatcher` (owned elsewhere).
  void route(Channel channel, Dispatcher* dispatcher) { routes_[channel] = dispatcher; }

  // By value: a coroutine must not keep references to its caller's temporaries.
  // `recycle_to`: where the history hands `events` once it is done with
  // them (the decoder that made them), if anywhere.
  boost::asio::awaitable<AcceptResult> accept(std::vector<DocumentEvent> events, std::string source,
                                              std::shared_ptr<EventRecycler> recycle_to = {});

  // Re-renders recovered events and queues their unfinished messages, each at
  // its journaled next-attempt time. Messages the current resources no longer
  // produce are marked failed.
  boost::asio::awaitable<void> resume(std::vector<PendingEvent> pending);

  // Every message `event` would produce against `snapshot`, rendered but not
  // journaled, recorded or sent (POST /v1/preview).
  std::vector<std::shared_ptr<RenderedMessage>> preview(DocumentEvent event, const ResourceSnapshot& snapshot) {
    return render_all(std::make_shared<const DocumentEvent>(std::move(event)), snapshot);
  }

 private:
  void record_unroutable(const RenderedMessage& msg);
  Counter& received(std::string_view source);
  std::vector<std::shared_ptr<RenderedMessage>> render_all(const std::shared_ptr<const DocumentEvent>& event,
                                                          const ResourceSnapshot& snapshot);
  std::vector<std::shared_ptr<RenderedMessage>> render_matches(const std::shared_ptr<const DocumentEvent>& event,
                                                              const std::vector<MatchedAction>& matches,
                                                              const ResourceSnapshot& snapshot, EventContext& context);
  // A fresh event of accept(), matched, rendered and staged in `admission`.
  struct Prepared {
    const DocumentEvent* event;  // in accept()'s batch, or in `owned`
    // Held here too: the messages leave for delivery, and a delivery may
    // finish (and drop its message) before accept() resumes.
    std::shared_ptr<const DocumentEvent> owned;
    std::vector<std::shared_ptr<RenderedMessage>> messages;
  };
  // Not a coroutine (nothing in it waits): its EventContext, a 4 KB arena,
  // lives on the stack instead of in accept()'s frame, of which there is
  // one per request in flight (256 under bench/http.sh: 5.7 KB frames,
  // ~1.5 MB cycling through the cache).
  Prepared prepare(DocumentEvent& event, const ResourceSnapshot& snapshot, Admission& admission,
                   const std::string& source, std::vector<MatchedAction>& matches, std::vector<PlannedMessage>& planned,
                   AcceptedEvent& out);

  const SnapshotHolder& snapshots_;
  const MessageRenderer& renderer_;
  Journal& journal_;
  HistoryLog& history_;
  MetricsRegistry& metrics_;
  Logger& log_;
  std::map<Channel, Dispatcher*> routes_;
  Counter& unroutable_;
  Counter& resumed_;
  Counter& duplicates_;
  // herald_events_received_total of the sources that come every request,
  // looked up once (the registry's lookup builds a label set and takes its
  // lock: ~800 instructions per request). Accepts run on every io thread.
  std::atomic<Counter*> received_http_{nullptr};
  std::atomic<Counter*> received_redis_{nullptr};
};

}  // namespace herald
