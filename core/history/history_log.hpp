#pragma once
// HistoryLog: the append-only communication history (SPEC §6).
//
// Every event received and every message outcome becomes one HistoryRecord.
// A seam: SegmentHistoryLog stores records in the CRC-framed segment log;
// tests use an in-memory log. append() is thread-safe and never throws; an
// I/O error is logged and counted, never propagated into delivery.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/event_recycler.hpp"
#include "core/model/message.hpp"

namespace herald {

struct HistoryRecord {
  std::string kind;       // event | email | sms | webhook | call | meeting | note
  std::string direction;  // inbound | outbound
  std::string at;         // when it happened (RFC 3339)
  std::string tenant;
  std::string partner;
  std::string contact;
  std::string document;
  std::string actor;
  std::string on_behalf_of;
  std::string event_id;
  std::string event_type;
  std::string message_id;
  std::string template_id;
  std::string recipient;
  std::string transport;
  std::string subject;
  std::string status;  // received | delivered | deferred | failed | expired
  std::string error;
  int attempt = 0;
};

// The fields every outbound-message record shares (kind, parties, event,
// message, recipients, subject, attempt); callers add status and error.
HistoryRecord outbound_record(const RenderedMessage& msg);

// A record's fields as views, what encoders read: those of a HistoryRecord,
// or those of an event received, read straight from the event (one per
// ingested event: no eighteen strings built and freed for it).
struct HistoryFields {
  std::string_view kind, direction, at, tenant, partner, contact, document, actor, on_behalf_of, event_id,
      event_type, message_id, template_id, recipient, transport, subject, status, error;
  int attempt = 0;
  // The fields (bits below) whose values need no JSON escaping whatever
  // they hold: constants, and values EventDecoder validated to plain ASCII
  // (a timestamp, a tenant, an event type). The encoder tests the others
  // only: a received event's record had thirteen values scanned, ~640
  // instructions of its ~1 600 (callgrind, NDJSON ingest).
  uint32_t known_plain = 0;
  enum Bit : uint32_t {
    kKind = 1u << 0,
    kDirection = 1u << 1,
    kAt = 1u << 2,
    kTenant = 1u << 3,
    kEventType = 1u << 4,
    kMessageId = 1u << 5,
    kTransport = 1u << 6,
    kStatus = 1u << 7,
  };
};
HistoryFields fields_of(const HistoryRecord& r);
// outbound_record's fields as views of `msg` (one per delivery attempt: no
// dozen strings copied and freed for it). Several recipients are joined
// into `recipients`, which must outlive the fields.
HistoryFields outbound_fields(const RenderedMessage& msg, std::string& recipients);
// The record of an accepted event: kind "event", inbound, status
// "received", the transport being the source it came by (http, redis).
HistoryFields received_fields(const DocumentEvent& e, std::string_view source);
HistoryRecord to_record(const HistoryFields& f);

// An accepted batch handed to the history whole, so that the history may
// encode its records and free its events on a thread of its own (a bulk
// request's 500 events are the HTTP thread's to decode, not to encode
// again and free). `received` points into `events` (the decoded request,
// the events that produce messages moved out of it) or into `shared` (those).
struct ReceivedBatch {
  std::vector<DocumentEvent> events;
  std::vector<std::shared_ptr<const DocumentEvent>> shared;
  std::vector<const DocumentEvent*> received;  // the accepted ones, in order
  std::string source;
  // Where `events` go once their records are encoded (the decoder that
  // made them validates new events into them), if anywhere.
  std::shared_ptr<EventRecycler> recycle_to;
  // Hands `events` to recycle_to (after which `received` must not be read).
  void recycle() {
    if (recycle_to) recycle_to->give_back(std::move(events));
  }
};

class HistoryLog {
 public:
  virtual ~HistoryLog() = default;
  virtual void append(const HistoryRecord& record) = 0;
  // One record from views (outbound_fields, received_fields).
  virtual void append_fields(const HistoryFields& fields) { append(to_record(fields)); }
  // Several records at once (an ingest batch): one write request instead of
  // one per record.
  virtual void append_all(const std::vector<HistoryRecord>& records) {
    for (const auto& r : records) append(r);
  }
  // The received-event records of an accepted batch.
  virtual void append_received(std::span<const DocumentEvent* const> events, std::string_view source) {
    std::vector<HistoryRecord> records;
    records.reserve(events.size());
    for (const DocumentEvent* e : events) records.push_back(to_record(received_fields(*e, source)));
    append_all(records);
  }
  // The same for a batch given away: the records are those append_received
  // writes, in order with every append before and after it.
  virtual void append_received_batch(ReceivedBatch&& batch) {
    append_received(batch.received, batch.source);
    batch.recycle();
  }
  virtual void flush() = 0;
};

}  // namespace herald
