#include "transports/http_ingest/padded_string_body.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <string>
#include <vector>

namespace herald {
namespace {

namespace http = boost::beast::http;

// Feeds `pieces` to a request parser one by one, as reads would (bytes the
// parser leaves unused stay in front of the next piece).
std::string parse(const std::vector<std::string>& pieces, http::request_parser<PaddedStringBody>& p) {
  p.eager(true);
  std::string buffer;
  for (const auto& piece : pieces) {
    buffer += piece;
    boost::beast::error_code ec;
    size_t used = p.put(boost::asio::buffer(buffer), ec);
    EXPECT_TRUE(!ec || ec == http::error::need_more) << ec.message();
    buffer.erase(0, used);
  }
  EXPECT_TRUE(buffer.empty());
  EXPECT_TRUE(p.is_done());
  return p.get().body();
}

// The bytes after the body that decode(..., padded = true) relies on.
void expect_zero_padding(const std::string& body) {
  ASSERT_TRUE(has_decoder_padding(body));
  const char* end = body.data() + body.size();
  for (size_t i = 0; i < kDecoderPadding; ++i) EXPECT_EQ(end[i], '\0') << i;
}

TEST(PaddedStringBodyTest, ContentLengthBodyArrivingInPiecesKeepsItsBytesAndPadding) {
  http::request_parser<PaddedStringBody> p;
  const std::string body = R"({"id":"a","type":"t.x","occurred_at":"2026-11-20T09:14:03Z"})";
  std::string got = parse({"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\n\r\n" + body.substr(0, 10),
                           body.substr(10, 20), body.substr(30)},
                          p);
  EXPECT_EQ(got, body);
  expect_zero_padding(p.get().body());
  // Reserved once for the announced length and the padding: no regrowth.
  EXPECT_LT(p.get().body().capacity(), body.size() + 2 * kDecoderPadding);
}

TEST(PaddedStringBodyTest, ChunkedAndEmptyBodiesArePaddedToo) {
  http::request_parser<PaddedStringBody> chunked;
  EXPECT_EQ(parse({"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "6\r\n world\r\n0\r\n\r\n"},
                  chunked),
            "hello world");
  expect_zero_padding(chunked.get().body());
  http::request_parser<PaddedStringBody> empty;
  EXPECT_EQ(parse({"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"}, empty), "");
}

TEST(PaddedStringBodyTest, PaddingSurvivesTheMoveOutOfTheParser) {
  http::request_parser<PaddedStringBody> p;
  const std::string body(100, 'x');
  parse({"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + body}, p);
  auto req = p.release();  // as HttpServer hands requests to ApiRoutes
  EXPECT_EQ(req.body(), body);
  expect_zero_padding(req.body());
}

TEST(PaddedStringBodyTest, APlainStringUsuallyLacksPadding) {
  std::string s(1000, 'x');
  s.shrink_to_fit();
  EXPECT_FALSE(has_decoder_padding(s));
}

}  // namespace
}  // namespace herald
