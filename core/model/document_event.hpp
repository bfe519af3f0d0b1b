#pragma once
// The core event model (SPEC §3): a validated document event.
//
// Every DocumentEvent that exists has passed EventDecoder's validation: ids are
// bounded printable ASCII, names hold no control characters, attachments are
// decoded bytes. Downstream stages (match, render, deliver) rely on that and do
// not re-validate.
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

// A person or organisation named by an event: actor, on_behalf_of, partner.
struct Party {
  std::string id;
  std::string name;
  std::string email;
  std::string phone;
  std::string locale;
};

struct Attachment {
  std::string filename;
  std::string content_type;
  std::string content;  // decoded bytes
};

struct Document {
  std::string id;
  std::string kind;
  std::string number;
  std::string status;
  std::string previous_status;
  std::string total;  // decimal kept as text: money must not pass through double
  std::string currency;
  std::string due_date;
  std::vector<Attachment> attachments;
};

struct DocumentEvent {
  std::string id;
  std::string type;
  std::string occurred_at;
  std::string tenant = "default";
  std::optional<Party> actor;
  std::optional<Party> on_behalf_of;
  std::optional<Party> partner;
  std::optional<Document> document;
  // Free-form, usable in rules and templates: the "data" object as minified
  // JSON (validated by EventDecoder; empty if none or empty), which to_json
  // parses when a rule or template needs the event's fields.
  std::string data;
  // The event as received (its own text; re-serialized minified only for an
  // element of a JSON array); set by EventDecoder. The journal stores
  // it verbatim instead of serializing the fields again (empty: to_json).
  std::string json;
  // The same text left where it was received, instead of `json`, when the
  // decoder was told the body outlives the event's staging (an HTTP
  // request's body: EventDecoder::decode's borrow_text). Read only by
  // Journal::stage; EventPipeline clears it once the event is staged, or
  // copies it into `json` before the event outlives the request.
  std::string_view json_view;
  std::string_view text() const { return json.empty() ? json_view : std::string_view(json); }
};

// The event as a JSON object, in the shape of the API. Attachments carry their
// metadata and size; with `with_content`, `content_base64` instead of the size
// (the journal form, which EventDecoder accepts again). Every part is
// allocated from `sp` (default: the heap).
boost::json::object to_json(const DocumentEvent& event, bool with_content = false, boost::json::storage_ptr sp = {});

}  // namespace herald
