#pragma once
// The invoice.posted event the HTTP load generators post (the same as
// bench/wrk/events.lua's), with its id given separately so a generator can
// build the text once and rewrite only the id per request.
#include <string>
#include <string_view>

namespace herald::bench {

// The event's text before and after its id.
inline std::string event_head() { return R"({"id":")"; }
inline std::string event_tail(std::string_view partner) {
  return std::string(
             R"(","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00","actor":{"id":"u17","name":"Jana Nová"},)"
             R"("partner":{"id":")") +
         std::string(partner) +
         R"(","name":"Bench s.r.o."},"document":{"kind":"invoice","number":"FV-2026-0042","total":"1249.90",)"
         R"("currency":"EUR","due_date":"2026-12-04"},"data":{"order_ref":"OBJ-881"}})";
}

inline std::string event_json(std::string_view id, std::string_view partner) {
  return event_head() + std::string(id) + event_tail(partner);
}

}  // namespace herald::bench
