#pragma once
// EventPipeline: accepted events → history → match → render → dispatch.
//
// The ingest front-ends (HTTP now, Redis Streams later) hand it validated
// batches. accept() records each event in history, matches it against the
// current resource snapshot, renders every message and queues it on the
// dispatcher of its channel. It may be called concurrently from any thread;
// it only reads the immutable snapshot.
#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/delivery/dispatcher.hpp"
#include "core/history/history_log.hpp"
#include "core/match/rule_index.hpp"
#include "core/render/message_renderer.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

struct AcceptedEvent {
  std::string id;
  std::vector<std::string> message_ids;
};

class EventPipeline final {
 public:
  EventPipeline(const SnapshotHolder& snapshots, const MessageRenderer& renderer, HistoryLog& history,
                MetricsRegistry& metrics, Logger& log);

  // Routes messages of `channel` to `dispatcher` (owned elsewhere).
  void route(Channel channel, Dispatcher* dispatcher) { routes_[channel] = dispatcher; }

  boost::asio::awaitable<std::vector<AcceptedEvent>> accept(std::vector<DocumentEvent> events,
                                                            const std::string& source);

 private:
  void record_received(const DocumentEvent& e, const std::string& source);

  const SnapshotHolder& snapshots_;
  const MessageRenderer& renderer_;
  HistoryLog& history_;
  MetricsRegistry& metrics_;
  Logger& log_;
  std::map<Channel, Dispatcher*> routes_;
  Counter& unroutable_;
};

}  // namespace herald
