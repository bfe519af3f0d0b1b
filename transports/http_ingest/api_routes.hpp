#pragma once
// ApiRoutes: HTTP request → response for the public API (SPEC §3, §9).
//
// No socket I/O here: HttpServer reads and writes, this decides. Every error
// answer is JSON {"error": <code>, "reason": <text>} (plus "errors" for field
// validation), so upstream systems can act on it.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>

#include "core/ingest/event_decoder.hpp"
#include "core/pipeline/event_pipeline.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpStatus = boost::beast::http::status;

// Request framing checks Beast 1.81 does not do (RELIABILITY.md §2.7): returns
// the reason to answer 400 and close, or nullopt when framing is unambiguous.
std::optional<std::string> check_request_framing(const boost::beast::http::request_header<>& header);

// {"error": code, "reason": reason}
HttpResponse make_error_response(HttpStatus status, unsigned version, std::string_view code, std::string_view reason);
HttpResponse make_json_response(HttpStatus status, unsigned version, std::string body);

class ApiRoutes final {
 public:
  ApiRoutes(EventPipeline& pipeline, const Journal& journal, MetricsRegistry& metrics, Logger& log);

  // `decoder` belongs to the calling session (reused parse buffers).
  boost::asio::awaitable<HttpResponse> handle(HttpRequest& req, EventDecoder& decoder);

 private:
  boost::asio::awaitable<HttpResponse> post_events(HttpRequest& req, EventDecoder& decoder);
  HttpResponse get_event(const HttpRequest& req, std::string_view id) const;
  HttpResponse readiness(unsigned version) const;

  EventPipeline& pipeline_;
  const Journal& journal_;
  MetricsRegistry& metrics_;
  Logger& log_;
  Counter& rejected_;
};

}  // namespace herald
