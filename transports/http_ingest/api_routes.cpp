#include "transports/http_ingest/api_routes.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/render/sms_text.hpp"
#include "core/util/log.hpp"
#include "core/util/percent_encoding.hpp"
#include "core/util/time_format.hpp"

namespace herald {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string journal_reason(const boost::system::error_code& ec, const Journal& journal) {
  if (journal.fenced())
    return "the journal is fenced after a failed fdatasync (" + journal.fence_reason() +
           "); herald restarts and replays it, retry shortly";
  if (ec == boost::system::errc::no_space_on_device) return "the journal disk is full; retry when space is freed";
  return "the journal could not make the events durable: " + ec.message();
}

// Splits the query of `target` into decoded key/value pairs; false when
// malformed.
bool parse_query(std::string_view target, std::vector<std::pair<std::string, std::string>>& out) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return true;
  for (std::string_view rest = target.substr(q + 1); !rest.empty();) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = pair.find('=');
    std::string key, value;
    if (eq == std::string_view::npos || !percent_decode(pair.substr(0, eq), key, true) ||
        !percent_decode(pair.substr(eq + 1), value, true))
      return false;
    out.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

HttpResponse method_not_allowed(unsigned version, const char* allow) {
  auto res = make_error_response(HttpStatus::method_not_allowed, version, "method_not_allowed",
                                 std::string("allowed: ") + allow);
  res.set(http::field::allow, allow);
  return res;
}

}  // namespace

void RequestFraming::add(http::field name, std::string_view value) {
  if (name == http::field::transfer_encoding) {
    ++te_count;
    te = value;
  } else if (name == http::field::content_length) {
    ++cl_count;
    cl_invalid = cl_invalid || value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos;
  }
}

std::optional<std::string> check_request_framing(const RequestFraming& f, unsigned version) {
  if (f.cl_invalid) return std::string("invalid Content-Length");
  if (f.cl_count > 1) return std::string("more than one Content-Length header");
  if (f.te_count > 1) return std::string("more than one Transfer-Encoding header");
  if (f.te_count == 1) {
    if (f.cl_count) return std::string("both Transfer-Encoding and Content-Length");
    if (version < 11) return std::string("Transfer-Encoding on HTTP/1.0");
    if (!boost::beast::iequals(trim(f.te), "chunked")) return std::string("unsupported Transfer-Encoding (only chunked)");
  }
  return std::nullopt;
}

std::optional<std::string> check_request_framing(const http::request_header<>& h) {
  RequestFraming framing;
  for (const auto& f : h) framing.add(f.name(), f.value());
  return check_request_framing(framing, h.version());
}

HttpResponse make_json_response(HttpStatus status, unsigned version, std::string body) {
  HttpResponse res{status, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;  // framed by HttpServer (Content-Length from the body)
}

HttpResponse make_error_response(HttpStatus status, unsigned version, std::string_view code, std::string_view reason) {
  json::object o;
  o["error"] = code;
  o["reason"] = reason;
  return make_json_response(status, version, json::serialize(o));
}

ApiRoutes::ApiRoutes(EventPipeline& pipeline, const Journal& journal, MetricsRegistry& metrics, Logger& log,
                     ResourceStore* store, std::vector<AccessToken> tokens)
    : pipeline_(pipeline),
      journal_(journal),
      metrics_(metrics),
      log_(log),
      store_(store),
      tokens_(std::move(tokens)),
      rejected_(metrics.counter("herald_events_rejected_total", "Event requests rejected as invalid",
                                {{"source", "http"}})) {}

void ApiRoutes::spread_bulk_decoding(const std::vector<boost::asio::any_io_executor>& threads, size_t min_bytes) {
  lanes_.clear();
  bulk_min_bytes_ = threads.size() > 1 ? min_bytes : 0;
  if (bulk_min_bytes_ == 0) return;
  for (const auto& ex : threads) lanes_.push_back({ex, std::make_unique<EventDecoder>()});
  bulk_moved_ = &metrics_.counter("herald_http_bulk_decodes_moved_total",
                                  "Event bodies decoded on another io thread than the one that read them");
}

namespace {
boost::asio::awaitable<HttpResponse> ready(HttpResponse res) { co_return res; }
}  // namespace

// Not a coroutine itself: an event post, nearly every request, goes
// straight to post_events()'s; the other answers are ready at once and
// wrapped. (A frame of handle's own cost every request ~1 100
// instructions: bench/callgrind.sh single.)
boost::asio::awaitable<HttpResponse> ApiRoutes::handle(HttpRequest& req, EventDecoder& decoder) {
  const AccessToken* token = nullptr;
  std::optional<HttpResponse> answer = answer_now(req, decoder, token);
  if (answer) return ready(std::move(*answer));
  return post_events(req, decoder, token);
}

std::optional<HttpResponse> ApiRoutes::answer_now(HttpRequest& req, EventDecoder& decoder, const AccessToken*& token) {
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  const auto method = req.method();
  const unsigned v = req.version();

  if (target == "/v1/events") {
    if (method != http::verb::post) return method_not_allowed(v, "POST");
    if (auto denied = authorize(req, kScopeEventsWrite, token)) return std::move(*denied);
    return std::nullopt;  // post_events()
  }
  if (target.starts_with("/v1/events/")) {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed(v, "GET, HEAD");
    if (auto denied = authorize(req, kScopeEventsWrite | kScopeHistoryRead, token)) return std::move(*denied);
    return get_event(req, target.substr(std::string_view("/v1/events/").size()), token);
  }
  if (target == "/readyz") {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed(v, "GET, HEAD");
    return readiness(v);
  }
  if (target == "/healthz") {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed(v, "GET, HEAD");
    return make_json_response(HttpStatus::ok, v, R"({"status":"ok"})");
  }
  if (target == "/metrics") {
    if (method != http::verb::get) return method_not_allowed(v, "GET");
    if (!tokens_.empty())
      if (auto denied = authorize(req, kScopeMetrics, token)) return std::move(*denied);
    HttpResponse res{HttpStatus::ok, v};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics_.render();
    return res;
  }
  if (store_ && target == "/v1/preview") {
    if (method != http::verb::post) return method_not_allowed(v, "POST");
    if (auto denied = authorize(req, kScopeAdmin, token)) return std::move(*denied);
    return preview(req, decoder);
  }
  if (store_ && target.starts_with("/v1/")) {
    std::string_view rest = target.substr(4);
    auto slash = rest.find('/');
    if (auto kind = resource_kind_from_plural(rest.substr(0, slash))) {
      if (auto denied = authorize(req, kScopeAdmin, token)) return std::move(*denied);
      return admin(req, *kind, slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1), token);
    }
  }
  return make_error_response(HttpStatus::not_found, v, "not_found", "no such endpoint");
}

std::optional<HttpResponse> ApiRoutes::authorize(const HttpRequest& req, uint32_t any_of,
                                                 const AccessToken*& token) const {
  const unsigned v = req.version();
  if (tokens_.empty()) {
    if (!(any_of & kScopeAdmin)) return std::nullopt;
    return make_error_response(HttpStatus::forbidden, v, "admin_disabled",
                               "the admin API needs a bearer token with the admin scope: configure [[http.tokens]]");
  }
  std::string_view auth = req[http::field::authorization];
  constexpr std::string_view bearer = "Bearer ";
  const AccessToken* found = nullptr;
  if (auth.size() > bearer.size() && boost::beast::iequals(auth.substr(0, bearer.size()), bearer)) {
    std::string_view secret = trim(auth.substr(bearer.size()));
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
    // Every configured token is compared, in constant time, whatever matches.
    for (const auto& t : tokens_)
      if (CRYPTO_memcmp(digest, t.sha256.data(), sizeof digest) == 0) found = &t;
  }
  if (!found) {
    auto res = make_error_response(HttpStatus::unauthorized, v, "unauthorized", "a valid bearer token is required");
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  if (!(found->scopes & any_of))
    return make_error_response(HttpStatus::forbidden, v, "forbidden", "the token lacks the scope this endpoint needs");
  token = found;
  return std::nullopt;
}

HttpResponse ApiRoutes::admin(const HttpRequest& req, ResourceKind kind, std::string_view raw_id,
                              const AccessToken* token) {
  const unsigned v = req.version();
  std::string tenant = "default", after;
  size_t limit = 1000;
  std::vector<std::pair<std::string, std::string>> query;
  if (!parse_query(req.target(), query))
    return make_error_response(HttpStatus::bad_request, v, "bad_query", "malformed query string");
  for (auto& [key, value] : query) {
    if (key == "tenant") {
      tenant = std::move(value);
    } else if (key == "after") {
      after = std::move(value);
    } else if (key == "limit") {
      if (value.empty() || value.size() > 6 || value.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(value) == 0)
        return make_error_response(HttpStatus::bad_request, v, "bad_query", "limit must be 1-999999");
      limit = std::stoul(value);
    } else {
      return make_error_response(HttpStatus::bad_request, v, "bad_query", "unknown parameter " + key);
    }
  }
  // A tenant's token manages that tenant's partners only; templates, rules,
  // groups and senders are shared by every tenant.
  if (token && !token->tenant.empty() && (kind != ResourceKind::partner || tenant != token->tenant))
    return make_error_response(HttpStatus::forbidden, v, "forbidden", "the token is bound to another tenant");
  std::string id;
  if (!percent_decode(raw_id, id, false) || id.find('/') != std::string::npos)
    return make_error_response(HttpStatus::bad_request, v, "bad_id", "malformed resource id");
  auto answer = [&](const ResourceStore::Answer& a) {
    if (a.status >= 400) return make_error_response(static_cast<HttpStatus>(a.status), v, a.error, a.reason);
    if (a.status == 204) {
      return HttpResponse{HttpStatus::no_content, v};
    }
    return make_json_response(static_cast<HttpStatus>(a.status), v, json::serialize(a.body));
  };
  const auto method = req.method();
  if (id.empty()) {
    if (method != http::verb::get) return method_not_allowed(v, "GET");
    return answer(store_->list(kind, tenant, limit, after));
  }
  if (method == http::verb::get) return answer(store_->get(kind, tenant, id));
  if (method == http::verb::delete_) {
    auto a = store_->remove(kind, tenant, id);
    if (a.status < 400) log_.info("resource deleted", {{"kind", to_string(kind)}, {"id", id}});
    return answer(a);
  }
  if (method == http::verb::put) {
    boost::system::error_code ec;
    json::value body = json::parse(req.body().view(), ec);
    if (ec) return make_error_response(HttpStatus::bad_request, v, "malformed_json", ec.message());
    auto a = store_->put(kind, tenant, id, body);
    if (a.status < 400) log_.info("resource saved", {{"kind", to_string(kind)}, {"id", id}});
    return answer(a);
  }
  return method_not_allowed(v, "GET, PUT, DELETE");
}

HttpResponse ApiRoutes::preview(const HttpRequest& req, EventDecoder& decoder) {
  const unsigned v = req.version();
  boost::system::error_code ec;
  json::value body = json::parse(req.body().view(), ec);
  if (ec) return make_error_response(HttpStatus::bad_request, v, "malformed_json", ec.message());
  const json::object* o = body.if_object();
  const json::value* ev = o ? o->if_contains("event") : nullptr;
  if (!ev) return make_error_response(HttpStatus::bad_request, v, "bad_request", "expected {\"event\": {...}}");
  for (const auto& [k, _] : *o)
    if (k != "event" && k != "resources")
      return make_error_response(HttpStatus::bad_request, v, "bad_request", "unknown field " + std::string(k));
  DecodeResult decoded = decoder.decode(json::serialize(*ev), BodyFormat::json);
  if (decoded.malformed || !decoded.errors.empty() || decoded.events.size() != 1) {
    std::string why = decoded.malformed ? decoded.malformed_reason
                      : decoded.errors.empty() ? std::string("expected one event")
                                               : "event." + decoded.errors[0].field + ": " + decoded.errors[0].reason;
    return make_error_response(HttpStatus::bad_request, v, "invalid_event", why);
  }
  std::shared_ptr<const ResourceSnapshot> snapshot;
  if (const auto* extra = o->if_contains("resources")) {
    if (!extra->is_object())
      return make_error_response(HttpStatus::bad_request, v, "bad_request", "resources must be an object");
    std::string error;
    snapshot = store_->candidate(extra->get_object(), error);
    if (!snapshot) return make_error_response(HttpStatus::unprocessable_entity, v, "invalid_resource", error);
  } else {
    snapshot = store_->snapshots().get();
  }
  auto messages = pipeline_.preview(std::move(decoded.events[0]), *snapshot);
  json::array out;
  auto mailbox = [](const Mailbox& m) { return json::object{{"address", m.address}, {"name", m.name}}; };
  for (const auto& m : messages) {
    json::object mo{{"id", m->message_id}, {"channel", m->channel}, {"template", m->template_id},
                    {"locale", m->locale}, {"from", mailbox(m->from)}};
    if (!m->rule_id.empty()) mo["rule"] = m->rule_id;
    if (!m->partner_id.empty()) mo["partner"] = m->partner_id;
    if (!m->contact_id.empty()) mo["contact"] = m->contact_id;
    if (m->reply_to) mo["reply_to"] = mailbox(*m->reply_to);
    json::array to;
    for (const auto& t : m->to) to.push_back(mailbox(t));
    mo["to"] = std::move(to);
    if (m->channel == "sms") {
      SmsInfo info = analyze_sms(m->text);
      mo["sms"] = m->text;
      mo["encoding"] = to_string(info.encoding);
      mo["segments"] = info.segments;
    } else {
      mo["subject"] = m->subject;
      mo["text"] = m->text;
      if (!m->html.empty()) mo["html"] = m->html;
    }
    if (m->delay.count() > 0) mo["delay_ms"] = m->delay.count();
    if (m->attach && m->event && m->event->document) {
      json::array names;
      for (const auto& a : m->event->document->attachments) names.push_back(json::value(a.filename));
      mo["attachments"] = std::move(names);
    }
    out.push_back(std::move(mo));
  }
  return make_json_response(HttpStatus::ok, v,
                            json::serialize(json::object{{"generation", snapshot->generation}, {"messages", std::move(out)}}));
}

// {"accepted":N,"events":[{"id":..,"messages":[..],"duplicate":true}]}, by
// hand: a 500-event NDJSON answer built as a json::object cost a tenth of
// the whole request.
static std::string accepted_body(const AcceptResult& accepted) {
  std::string out;
  size_t size = 40;
  for (const auto& a : accepted.events) size += a.id.size() + 40 + a.message_ids.size() * 48;
  out.reserve(size);
  out += "{\"accepted\":";
  out += std::to_string(accepted.events.size());
  out += ",\"events\":[";
  for (size_t i = 0; i < accepted.events.size(); ++i) {
    const auto& a = accepted.events[i];
    out += i ? ",{\"id\":" : "{\"id\":";
    append_json_quoted(out, a.id);
    out += ",\"messages\":[";
    for (size_t m = 0; m < a.message_ids.size(); ++m) {
      if (m) out += ',';
      append_json_quoted(out, a.message_ids[m]);
    }
    out += a.duplicate ? "],\"duplicate\":true}" : "]}";
  }
  out += "]}";
  return out;
}

boost::asio::awaitable<HttpResponse> ApiRoutes::post_events(HttpRequest& req, EventDecoder& decoder,
                                                           const AccessToken* token) {
  const unsigned v = req.version();
  BodyFormat format = BodyFormat::json;
  // Compared case-insensitively in place: lowering a copy was an
  // allocation on every request.
  std::string_view media = trim(req[http::field::content_type]);
  if (auto semi = media.find(';'); semi != std::string_view::npos) media = trim(media.substr(0, semi));
  if (boost::beast::iequals(media, "application/x-ndjson") || boost::beast::iequals(media, "application/ndjson")) {
    format = BodyFormat::ndjson;
  } else if (!media.empty() && !boost::beast::iequals(media, "application/json")) {
    rejected_.inc();
    co_return make_error_response(HttpStatus::unsupported_media_type, v, "unsupported_media_type",
                                  "use Content-Type application/json or application/x-ndjson");
  }

  if (bulk_min_bytes_ != 0 && req.body().size() >= bulk_min_bytes_) {
    DecodeLane& lane = lanes_[next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size()];
    if (lane.executor != co_await boost::asio::this_coro::executor) {
      bulk_moved_->inc();
      // The session waits here, so `req` and its socket stay put; its
      // coroutine resumes on its own thread when the other one is done.
      co_return co_await boost::asio::co_spawn(lane.executor, decode_and_accept(req, *lane.decoder, format, token),
                                               boost::asio::use_awaitable);
    }
  }
  co_return co_await decode_and_accept(req, decoder, format, token);
}

boost::asio::awaitable<HttpResponse> ApiRoutes::decode_and_accept(HttpRequest& req, EventDecoder& decoder,
                                                                 BodyFormat format, const AccessToken* token) {
  const unsigned v = req.version();
  // The events' text stays in the body: `req` outlives their staging.
  const bool padded = has_decoder_padding(req.body());
  DecodeResult result = decoder.decode(req.body(), format, padded, padded);
  if (result.malformed) {
    rejected_.inc();
    co_return make_error_response(HttpStatus::bad_request, v, "malformed_json", result.malformed_reason);
  }
  if (!result.errors.empty()) {
    rejected_.inc();
    json::object o;
    o["error"] = "validation_failed";
    o["reason"] = "the request holds invalid events; nothing was accepted";
    json::array errs;
    for (const auto& e : result.errors) {
      errs.push_back(json::object{{"index", e.index}, {"field", e.field}, {"reason", e.reason}});
    }
    o["errors"] = std::move(errs);
    co_return make_json_response(HttpStatus::bad_request, v, json::serialize(o));
  }

  if (token && !token->tenant.empty()) {
    for (const auto& e : result.events) {
      if (e.tenant != token->tenant) {
        rejected_.inc();
        co_return make_error_response(HttpStatus::forbidden, v, "forbidden",
                                      "event " + e.id + " is for tenant " + e.tenant + "; the token is bound to " +
                                          token->tenant);
      }
    }
  }
  auto accepted = co_await pipeline_.accept(std::move(result.events), "http", decoder.recycler());
  if (accepted.error) {
    // Nothing of this request is acknowledged; the client retries (with the
    // same ids, so a retry after a partial failure is still exactly-once).
    log_.warn("events not accepted: journal unavailable", {{"error", accepted.error.message()}});
    auto res = make_error_response(HttpStatus::service_unavailable, v, "journal_unavailable",
                                   journal_reason(accepted.error, journal_));
    res.set(http::field::retry_after, "1");
    co_return res;
  }
  co_return make_json_response(HttpStatus::accepted, v, accepted_body(accepted));
}

HttpResponse ApiRoutes::get_event(const HttpRequest& req, std::string_view id, const AccessToken* token) const {
  const unsigned v = req.version();
  std::string tenant = "default";
  std::vector<std::pair<std::string, std::string>> query;
  if (!parse_query(req.target(), query))
    return make_error_response(HttpStatus::bad_request, v, "bad_query", "malformed query string");
  for (auto& [key, value] : query) {
    if (key != "tenant") return make_error_response(HttpStatus::bad_request, v, "bad_query", "unknown parameter " + key);
    tenant = std::move(value);
  }
  // Another tenant's events do not exist for a tenant's token.
  if (token && !token->tenant.empty() && tenant != token->tenant)
    return make_error_response(HttpStatus::not_found, v, "not_found", "no event with this id");
  std::string decoded_id;
  if (!percent_decode(id, decoded_id, false))
    return make_error_response(HttpStatus::bad_request, v, "bad_id", "malformed percent-encoding in the event id");
  auto status = journal_.status(Journal::key(tenant, decoded_id));
  if (!status) return make_error_response(HttpStatus::not_found, v, "not_found", "no event with this id");
  json::object o;
  o["id"] = status->id;
  o["tenant"] = status->tenant;
  o["type"] = status->type;
  o["source"] = status->source;
  o["accepted_at"] = format_rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(status->accepted_ms)));
  o["status"] = status->done ? "done" : "pending";
  json::array ms;
  for (const auto& m : status->messages) {
    json::object mo{{"id", m.id}, {"channel", m.channel}, {"status", to_string(m.state)}, {"attempts", m.attempts}};
    if (m.state == MessageState::deferred && m.next_attempt_ms)
      mo["next_attempt_at"] =
          format_rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(m.next_attempt_ms)));
    if (!m.detail.empty()) mo[m.state == MessageState::delivered ? "reply" : "error"] = m.detail;
    ms.push_back(std::move(mo));
  }
  o["messages"] = std::move(ms);
  return make_json_response(HttpStatus::ok, v, json::serialize(o));
}

HttpResponse ApiRoutes::readiness(unsigned v) const {
  if (journal_.fenced())
    return make_error_response(HttpStatus::service_unavailable, v, "journal_fenced", journal_.fence_reason());
  return make_json_response(HttpStatus::ok, v, R"({"status":"ready"})");
}

}  // namespace herald
