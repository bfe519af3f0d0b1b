#include "core/pipeline/event_pipeline.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace herald {

namespace net = boost::asio;

EventPipeline::EventPipeline(const SnapshotHolder& snapshots, const MessageRenderer& renderer, HistoryLog& history,
                             MetricsRegistry& metrics, Logger& log)
    : snapshots_(snapshots),
      renderer_(renderer),
      history_(history),
      metrics_(metrics),
      log_(log),
      unroutable_(metrics.counter("herald_messages_unroutable_total",
                                  "Messages whose channel has no configured transport")) {}

void EventPipeline::record_received(const DocumentEvent& e, const std::string& source) {
  HistoryRecord r;
  r.kind = "event";
  r.direction = "inbound";
  r.at = e.occurred_at;
  r.tenant = e.tenant;
  if (e.partner) r.partner = e.partner->id;
  if (e.document) r.document = e.document->number;
  if (e.actor) r.actor = e.actor->id;
  if (e.on_behalf_of) r.on_behalf_of = e.on_behalf_of->id;
  r.event_id = e.id;
  r.event_type = e.type;
  r.transport = source;
  r.status = "received";
  history_.append(r);
}

net::awaitable<std::vector<AcceptedEvent>> EventPipeline::accept(std::vector<DocumentEvent> events,
                                                                 const std::string& source) {
  auto snapshot = snapshots_.get();
  metrics_.counter("herald_events_received_total", "Events accepted by source", {{"source", source}})
      .inc(events.size());
  std::vector<AcceptedEvent> accepted;
  accepted.reserve(events.size());
  std::vector<MatchedAction> matches;
  for (auto& e : events) {
    record_received(e, source);
    auto event = std::make_shared<const DocumentEvent>(std::move(e));
    AcceptedEvent out{event->id, {}};
    matches.clear();
    snapshot->index.match(*event, matches);
    if (!matches.empty()) {
      auto context = MessageRenderer::make_context(*event);
      for (const auto& m : matches) {
        auto msg = std::make_shared<RenderedMessage>(renderer_.render(event, m, context));
        out.message_ids.push_back(msg->message_id);
        auto route = routes_.find(m.tmpl->channel);
        if (route == routes_.end()) {
          unroutable_.inc();
          HistoryRecord r;
          r.kind = msg->channel;
          r.direction = "outbound";
          r.tenant = msg->tenant;
          r.partner = msg->partner_id;
          r.contact = msg->contact_id;
          r.event_id = event->id;
          r.event_type = event->type;
          r.message_id = msg->message_id;
          r.template_id = msg->template_id;
          r.status = "failed";
          r.error = std::string("no transport configured for channel ") + msg->channel;
          history_.append(r);
          log_.warn("message not routable", {{"message_id", msg->message_id}, {"channel", msg->channel}});
          continue;
        }
        co_await route->second->submit(std::move(msg));
      }
    }
    log_.debug("event accepted", {{"event_id", event->id},
                                  {"type", event->type},
                                  {"messages", static_cast<unsigned long>(out.message_ids.size())}});
    accepted.push_back(std::move(out));
  }
  co_return accepted;
}

}  // namespace herald
