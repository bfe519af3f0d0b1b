#pragma once
// ApiRoutes: HTTP request → response for the public API (SPEC §3, §9).
//
// No socket I/O here: HttpServer reads and writes, this decides. Every error
// answer is JSON {"error": <code>, "reason": <text>} (plus "errors" for field
// validation), so upstream systems can act on it.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ingest/event_decoder.hpp"
#include "core/config/settings.hpp"
#include "core/pipeline/event_pipeline.hpp"
#include "core/resources/resource_store.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "transports/http_ingest/padded_string_body.hpp"

namespace herald {

using HttpRequest = boost::beast::http::request<PaddedStringBody>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpStatus = boost::beast::http::status;

// What a request header says about its framing: its Transfer-Encoding and
// Content-Length fields, counted as they arrive (HttpServer's parser keeps
// no other copy of them).
struct RequestFraming {
  unsigned te_count = 0;
  unsigned cl_count = 0;
  bool cl_invalid = false;  // a Content-Length that is not all digits
  std::string te;           // the last Transfer-Encoding value
  void add(boost::beast::http::field name, std::string_view value);
};

// Request framing checks Beast 1.81 does not do (RELIABILITY.md §2.7): returns
// the reason to answer 400 and close, or nullopt when framing is unambiguous.
std::optional<std::string> check_request_framing(const RequestFraming& framing, unsigned version);
std::optional<std::string> check_request_framing(const boost::beast::http::request_header<>& header);

// {"error": code, "reason": reason}
HttpResponse make_error_response(HttpStatus status, unsigned version, std::string_view code, std::string_view reason);
HttpResponse make_json_response(HttpStatus status, unsigned version, std::string body);

class ApiRoutes final {
 public:
  // `store` serves the admin API (/v1/templates, ...) and resources in
  // /v1/preview; without one those answer 404. With `tokens`, every /v1
  // endpoint and /metrics need a bearer token with the right scope; without
  // any, /v1/events is open (a trusted network) and the admin API is closed.
  ApiRoutes(EventPipeline& pipeline, const Journal& journal, MetricsRegistry& metrics, Logger& log,
            ResourceStore* store = nullptr, std::vector<AccessToken> tokens = {});

  // `decoder` belongs to the calling thread (reused parse buffers).
  boost::asio::awaitable<HttpResponse> handle(HttpRequest& req, EventDecoder& decoder);

  // Event bodies of at least `min_bytes` are decoded and accepted on each of
  // `threads` in turn (every io thread: the delivery thread too), not all on
  // the thread that read them. One HTTP thread decoding every bulk body
  // leaves the other core idle (~1.7 µs per event of NDJSON, most of
  // heraldd's ingest work); the hop costs two posts per body, so small
  // bodies stay where they are. 0 or one thread: no offload.
  void spread_bulk_decoding(const std::vector<boost::asio::any_io_executor>& threads, size_t min_bytes);

 private:
  boost::asio::awaitable<HttpResponse> post_events(HttpRequest& req, EventDecoder& decoder, const AccessToken* token);
  boost::asio::awaitable<HttpResponse> decode_and_accept(HttpRequest& req, EventDecoder& decoder, BodyFormat format,
                                                         const AccessToken* token);
  // Every answer but an authorized event post, which is left to
  // post_events() (nullopt; `token` is the one it was authorized with).
  std::optional<HttpResponse> answer_now(HttpRequest& req, EventDecoder& decoder, const AccessToken*& token);
  HttpResponse get_event(const HttpRequest& req, std::string_view id, const AccessToken* token) const;
  HttpResponse readiness(unsigned version) const;
  HttpResponse admin(const HttpRequest& req, ResourceKind kind, std::string_view id, const AccessToken* token);
  HttpResponse preview(const HttpRequest& req, EventDecoder& decoder);
  // nullopt: allowed (`token` set when tokens are configured). Otherwise the
  // 401/403 answer. `any_of` is a mask of scopes, one of which suffices.
  std::optional<HttpResponse> authorize(const HttpRequest& req, uint32_t any_of, const AccessToken*& token) const;

  EventPipeline& pipeline_;
  const Journal& journal_;
  MetricsRegistry& metrics_;
  Logger& log_;
  ResourceStore* store_;
  std::vector<AccessToken> tokens_;
  Counter& rejected_;

  // spread_bulk_decoding's threads, each with a decoder of its own (touched
  // only there: decoding never suspends).
  struct DecodeLane {
    boost::asio::any_io_executor executor;
    std::unique_ptr<EventDecoder> decoder;
  };
  std::vector<DecodeLane> lanes_;
  size_t bulk_min_bytes_ = 0;
  std::atomic<size_t> next_lane_{0};
  Counter* bulk_moved_ = nullptr;
};

}  // namespace herald
