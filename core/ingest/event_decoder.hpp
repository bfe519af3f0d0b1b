#pragma once
// EventDecoder: request body bytes → validated DocumentEvents (SPEC §3).
//
// Parses with simdjson (the ingest hot path) and validates every field before
// anything is accepted. A batch is all-or-nothing: if any item is invalid the
// result holds no events and one FieldError per problem, so the caller can
// answer 400 naming each bad index/field. Not thread-safe: each HTTP session or
// Redis consumer owns one decoder (it reuses simdjson's parse buffers).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/document_event.hpp"
#include "core/model/event_recycler.hpp"

namespace herald {

enum class BodyFormat { json, ndjson };

// Readable bytes past a body's end that let decode() parse it in place
// (simdjson reads up to this many past a document; at least its
// SIMDJSON_PADDING, checked where simdjson is included).
inline constexpr size_t kDecoderPadding = 64;

struct DecoderLimits {
  size_t max_batch_events = 10000;
  size_t max_id_bytes = 128;
  size_t max_text_bytes = 1024;  // names, numbers, statuses
  size_t max_attachments = 32;
  size_t max_depth = 64;  // nesting of `data`
};

struct FieldError {
  size_t index = 0;   // position in the batch (0 for a single object)
  std::string field;  // dotted path, e.g. "document.attachments[0].filename"
  std::string reason;
};

struct DecodeResult {
  std::vector<DocumentEvent> events;
  // Set when the body is not JSON at all (syntax, bad UTF-8, too deep);
  // `malformed_reason` says why and `errors` is empty.
  bool malformed = false;
  std::string malformed_reason;
  std::vector<FieldError> errors;
  bool ok() const { return !malformed && errors.empty(); }
};

class EventDecoder final {
 public:
  explicit EventDecoder(DecoderLimits limits = {});
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // `body` holds one JSON object or a JSON array of objects (json), or one
  // object per line (ndjson). `padded`: kDecoderPadding readable bytes follow
  // it (their values do not matter), so it is parsed where it is; otherwise
  // it is first copied into a padded buffer. `borrow_text` (with `padded`):
  // each event's text is left in `body`, as DocumentEvent::json_view, not
  // copied into `json`; the caller keeps `body` until the events are staged
  // (an NDJSON request's 500 copies and frees of ~330 bytes).
  DecodeResult decode(std::string_view body, BodyFormat format, bool padded = false, bool borrow_text = false);
  // decode() appending to `out.events`, which may already hold events (a
  // Redis batch decodes entry by entry into one vector). `out`'s malformed
  // flag and errors describe this body only; an invalid body appends nothing.
  // Returns out.ok().
  bool decode_append(std::string_view body, BodyFormat format, DecodeResult& out, bool padded = false,
                     bool borrow_text = false);

  const DecoderLimits& limits() const { return limits_; }

  // Where batches this decoder made may be given back once done with
  // (EventPipeline::accept's `recycle_to`): decode() validates new events
  // into a vector given back, reusing their buffers. Thread-safe.
  const std::shared_ptr<EventRecycler>& recycler() const { return recycler_; }

 private:
  // decode_append() with out.events[start, size) spare events from the
  // recycler, validated into (and reset) before new ones are added; the
  // spares left over are dropped. `lines`: an NDJSON body's line count, if
  // already counted (0: counted here).
  bool decode_into(std::string_view body, BodyFormat format, DecodeResult& out, size_t start, bool padded,
                   bool borrow_text, size_t lines = 0);

  struct Impl;
  DecoderLimits limits_;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<EventRecycler> recycler_ = std::make_shared<EventRecycler>();
};

// Field-level validators, shared with resource loading (contacts, senders).
bool is_valid_event_id(std::string_view s, size_t max_bytes);
bool is_valid_event_type(std::string_view s);
bool is_valid_rfc3339(std::string_view s);
bool is_valid_date(std::string_view s);  // YYYY-MM-DD
bool is_valid_email_address(std::string_view s);
bool is_valid_phone(std::string_view s);
bool is_valid_locale(std::string_view s);

}  // namespace herald
