#include "core/pipeline/event_pipeline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/container/small_vector.hpp>

#include <cassert>

namespace herald {

namespace net = boost::asio;
using Clock = std::chrono::system_clock;

EventPipeline::EventPipeline(const SnapshotHolder& snapshots, const MessageRenderer& renderer, Journal& journal,
                             HistoryLog& history, MetricsRegistry& metrics, Logger& log)
    : snapshots_(snapshots),
      renderer_(renderer),
      journal_(journal),
      history_(history),
      metrics_(metrics),
      log_(log),
      unroutable_(metrics.counter("herald_messages_unroutable_total",
                                  "Messages whose channel has no configured transport")),
      resumed_(metrics.counter("herald_messages_resumed_total", "Unfinished messages resumed after a restart")),
      duplicates_(metrics.counter("herald_events_duplicate_total",
                                  "Events answered from the idempotency index instead of being processed again")) {}

void EventPipeline::record_unroutable(const RenderedMessage& msg) {
  unroutable_.inc();
  std::string reason = std::string("no transport configured for channel ") + msg.channel;
  std::string recipients;
  HistoryFields f = outbound_fields(msg, recipients);
  f.status = "failed";
  f.error = reason;
  history_.append_fields(f);
  journal_.record_attempt(msg, MessageState::failed, reason, Clock::now());
  log_.warn("message not routable", {{"message_id", msg.message_id}, {"channel", msg.channel}});
}

Counter& EventPipeline::received(std::string_view source) {
  auto lookup = [&] {
    return &metrics_.counter("herald_events_received_total", "Events accepted by source",
                             {{"source", std::string(source)}});
  };
  std::atomic<Counter*>* slot = source == "http" ? &received_http_ : source == "redis" ? &received_redis_ : nullptr;
  if (!slot) return *lookup();
  Counter* c = slot->load(std::memory_order_acquire);
  if (!c) {
    c = lookup();  // the registry returns the same counter to every thread
    slot->store(c, std::memory_order_release);
  }
  return *c;
}

std::vector<std::shared_ptr<RenderedMessage>> EventPipeline::render_all(
    const std::shared_ptr<const DocumentEvent>& event, const ResourceSnapshot& snapshot) {
  std::vector<MatchedAction> matches;
  EventContext context(*event);
  snapshot.index.match(*event, context, matches);
  return render_matches(event, matches, snapshot, context);
}

std::vector<std::shared_ptr<RenderedMessage>> EventPipeline::render_matches(
    const std::shared_ptr<const DocumentEvent>& event, const std::vector<MatchedAction>& matches,
    const ResourceSnapshot& snapshot, EventContext& context) {
  std::vector<std::shared_ptr<RenderedMessage>> out;
  out.reserve(matches.size());
  for (const auto& m : matches) {
    // Two rules (or a rule and a group) naming the same recipient with the
    // same template make one message, not two.
    auto msg = std::make_shared<RenderedMessage>(renderer_.render(event, m, snapshot.resources, context));
    if (std::any_of(out.begin(), out.end(), [&](const auto& o) { return o->message_id == msg->message_id; })) continue;
    out.push_back(std::move(msg));
  }
  return out;
}

namespace {
// accept()'s per-event arrays, inline for a single-event request (most
// requests): in vectors they were five allocations of each.
template <class T>
using PerEvent = boost::container::small_vector<T, 1>;
}  // namespace

EventPipeline::Prepared EventPipeline::prepare(DocumentEvent& event, const ResourceSnapshot& snapshot,
                                               Admission& admission, const std::string& source,
                                               std::vector<MatchedAction>& matches,
                                               std::vector<PlannedMessage>& planned, AcceptedEvent& out) {
  // Most events match nothing: those stay where the decoder put them.
  // One that produces messages moves into a shared_ptr they all hold.
  Prepared p{&event, nullptr, {}};
  EventContext context(event);
  matches.clear();
  snapshot.index.match(event, context, matches);
  if (!matches.empty()) {
    // It outlives the request (its messages hold it): its text is copied
    // out of the body it may have been left in.
    if (event.json.empty()) event.json.assign(event.json_view);
    event.json_view = {};
    p.owned = std::make_shared<const DocumentEvent>(std::move(event));
    p.event = p.owned.get();
    context.rebind(*p.event);
    p.messages = render_matches(p.owned, matches, snapshot, context);
  }
  planned.clear();
  for (const auto& m : p.messages) {
    out.message_ids.push_back(m->message_id);
    planned.push_back({m->message_id, m->channel});
  }
  journal_.stage(admission, *p.event, source, planned);
  if (!p.owned) event.json_view = {};  // the body it points into goes with the request
  return p;
}

net::awaitable<AcceptResult> EventPipeline::accept(std::vector<DocumentEvent> events, std::string source,
                                                  std::shared_ptr<EventRecycler> recycle_to) {
  auto snapshot = snapshots_.get();
  AcceptResult result;
  result.events.resize(events.size());
  PerEvent<Prepared> prepared;
  std::vector<MatchedAction> matches;
  std::vector<std::pair<size_t, std::string>> in_flight;
  std::vector<PlannedMessage> planned;
  Admission admission;

  // One journal lock for the whole batch's reservations (two threads
  // ingesting batches contended per event before).
  PerEvent<std::string> keys;
  keys.reserve(events.size());
  for (const auto& e : events) keys.push_back(Journal::key(e.tenant, e.id));
  PerEvent<Reservation> reservations(events.size());
  std::vector<std::pair<size_t, EventStatus>> duplicates;
  journal_.reserve_all(admission, keys, reservations, duplicates);
  auto duplicate = duplicates.begin();  // in index order

  prepared.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    auto& out = result.events[i];
    out.id = events[i].id;
    switch (reservations[i]) {
      case Reservation::duplicate:
        duplicates_.inc();
        out.duplicate = true;
        assert(duplicate != duplicates.end() && duplicate->first == i);
        for (const auto& m : duplicate++->second.messages) out.message_ids.push_back(m.id);
        continue;
      case Reservation::in_flight:
        in_flight.emplace_back(i, std::move(keys[i]));
        continue;
      case Reservation::fresh: break;
    }
    prepared.push_back(prepare(events[i], *snapshot, admission, source, matches, planned, out));
  }

  // One group commit for the whole batch; 202 only after it is durable.
  auto [ec] = co_await journal_.async_commit(admission, net::as_tuple(net::use_awaitable));
  if (ec) {
    result.error = ec;
    co_return result;
  }
  // The same id sent concurrently (or twice in this batch): the commit above
  // was a barrier behind the other admission, whose outcome is now known.
  for (auto& [i, key] : in_flight) {
    auto status = journal_.status(key);
    if (!status) {
      result.error = make_error_code(boost::system::errc::resource_unavailable_try_again);
      co_return result;
    }
    duplicates_.inc();
    result.events[i].duplicate = true;
    for (const auto& m : status->messages) result.events[i].message_ids.push_back(m.id);
  }

  received(source).inc(prepared.size());
  // The events go to the history whole: it may encode their records and
  // free them on its own thread, so none is touched after this. (The
  // debug line read a freed event when it came after the submits and only
  // the messages owned the event: a SIGSEGV under a loaded CI.)
  ReceivedBatch batch;
  batch.received.reserve(prepared.size());
  for (const auto& p : prepared) {
    if (log_.enabled(LogLevel::debug))
      log_.debug("event accepted", {{"event_id", p.event->id},
                                    {"type", p.event->type},
                                    {"messages", static_cast<unsigned long>(p.messages.size())}});
    batch.received.push_back(p.event);
    if (p.owned) batch.shared.push_back(p.owned);
  }
  batch.events = std::move(events);
  batch.source = source;
  batch.recycle_to = std::move(recycle_to);
  history_.append_received_batch(std::move(batch));
  for (auto& p : prepared) {
    for (auto& msg : p.messages) {
      auto route = routes_.find(channel_from_string(msg->channel));
      if (route == routes_.end()) {
        record_unroutable(*msg);
        continue;
      }
      if (msg->delay.count() > 0) {
        // A rule's delay: journaled as the first attempt's time, so a restart
        // keeps it (resume() schedules from the journal).
        const auto delay = msg->delay;
        journal_.record_attempt(*msg, MessageState::deferred, "delayed by rule " + msg->rule_id, Clock::now() + delay);
        route->second->schedule(std::move(msg), delay);
        continue;
      }
      if (!route->second->try_submit(msg)) co_await route->second->submit(std::move(msg));
    }
  }
  co_return result;
}

net::awaitable<void> EventPipeline::resume(std::vector<PendingEvent> pending) {
  auto snapshot = snapshots_.get();
  EventDecoder decoder;
  const auto now = Clock::now();
  size_t resumed = 0, dropped = 0;
  for (auto& p : pending) {
    DecodeResult decoded = decoder.decode(p.event_json, BodyFormat::json);
    std::shared_ptr<const DocumentEvent> event;
    if (decoded.ok() && decoded.events.size() == 1) {
      event = std::make_shared<const DocumentEvent>(std::move(decoded.events[0]));
    } else {
      // Should not happen (it was validated on the way in); fail its
      // messages so the event does not stay unfinished forever.
      log_.error("journaled event unreadable; failing its messages", {{"event_id", p.id}});
      // Only its key is known: enough to journal the failures.
      DocumentEvent unreadable;
      unreadable.tenant = p.tenant;
      unreadable.id = p.id;
      event = std::make_shared<const DocumentEvent>(std::move(unreadable));
    }
    auto messages = render_all(event, *snapshot);
    for (const auto& want : p.messages) {
      auto it = std::find_if(messages.begin(), messages.end(), [&](auto& m) { return m && m->message_id == want.id; });
      if (it == messages.end()) {
        RenderedMessage gone;
        gone.message_id = want.id;
        gone.channel = want.channel;
        gone.event = event;
        gone.attempt = want.attempts;
        journal_.record_attempt(gone, MessageState::failed,
                                "not produced by the current resources when resumed after a restart", now);
        ++dropped;
        continue;
      }
      auto msg = std::move(*it);
      msg->attempt = want.attempts;
      auto route = routes_.find(channel_from_string(msg->channel));
      if (route == routes_.end()) {
        record_unroutable(*msg);
        continue;
      }
      auto due = Clock::time_point(std::chrono::milliseconds(want.next_attempt_ms));
      route->second->schedule(std::move(msg), std::chrono::duration_cast<std::chrono::milliseconds>(due - now));
      ++resumed;
    }
  }
  resumed_.inc(resumed);
  log_.info("recovered work resumed", {{"events", static_cast<unsigned long>(pending.size())},
                                       {"messages", static_cast<unsigned long>(resumed)},
                                       {"dropped", static_cast<unsigned long>(dropped)}});
  co_return;
}

}  // namespace herald
