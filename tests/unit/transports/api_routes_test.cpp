#include "transports/http_ingest/api_routes.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>

namespace herald {
namespace {

namespace http = boost::beast::http;

// Parses a raw request header with Beast, then applies herald's own checks.
// Returns "beast" if Beast itself rejects it, the herald reason, or "" if ok.
std::string verdict(const std::string& raw) {
  http::request_parser<http::string_body> p;
  p.eager(false);
  boost::beast::error_code ec;
  p.put(boost::asio::buffer(raw), ec);
  if (ec && ec != http::error::need_more) return "beast";
  if (!p.is_header_done()) return "beast-incomplete";
  auto why = check_request_framing(p.get());
  return why ? *why : "";
}

TEST(RequestFramingTest, AcceptsOrdinaryRequests) {
  EXPECT_EQ(verdict("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"), "");
  EXPECT_EQ(verdict("POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), "");
  EXPECT_EQ(verdict("GET /healthz HTTP/1.0\r\n\r\n"), "");
}

// RELIABILITY.md §2.7: what Beast 1.81 lets through must be refused by herald.
TEST(RequestFramingTest, RejectsSmugglingShapes) {
  const std::vector<std::string> attacks = {
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
  };
  for (const auto& a : attacks) {
    EXPECT_NE(verdict(a), "") << a;
  }
}

TEST(ErrorResponseTest, IsJsonWithCodeAndReason) {
  auto res = make_error_response(HttpStatus::bad_request, 11, "malformed_json", "line 1: \"x\"");
  EXPECT_EQ(res.result(), HttpStatus::bad_request);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"error":"malformed_json","reason":"line 1: \"x\""})");
}

}  // namespace
}  // namespace herald
