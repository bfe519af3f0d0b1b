#include "transports/http_ingest/padded_string_body.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstring>
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
  return std::string(p.get().body().view());
}

// The bytes after the body that decode(..., padded = true) relies on.
void expect_zero_padding(const PaddedBuffer& body) {
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
  EXPECT_EQ(p.get().body().capacity(), body.size() + kDecoderPadding);
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

// HttpServer reads a large body's rest into spare() and hands the parser
// those bytes: the reader keeps them where they are (the buffer neither
// moves nor copies), and the body is whole and padded at the end.
TEST(PaddedStringBodyTest, BytesReadIntoTheSpareRoomStayWhereTheyAre) {
  http::request_parser<PaddedStringBody> p;
  const std::string body(10000, 'y');
  boost::beast::error_code ec;
  const std::string head = "POST / HTTP/1.1\r\nContent-Length: 10000\r\n\r\n";
  EXPECT_EQ(p.put(boost::asio::buffer(head), ec), head.size());
  EXPECT_EQ(p.put(boost::asio::buffer(body.data(), 1000), ec), 1000u);  // the first body bytes size it
  PaddedBuffer& b = p.get().body();
  const char* const start = b.data();
  for (size_t at = 1000; at < body.size(); at += 3000) {
    ASSERT_GE(b.spare_size(), body.size() - at);
    const size_t n = std::min<size_t>(3000, body.size() - at);
    std::memcpy(b.spare(), body.data() + at, n);  // as a read into it would
    EXPECT_EQ(p.put(boost::asio::buffer(b.spare(), n), ec), n);
    EXPECT_TRUE(!ec || ec == http::error::need_more) << ec.message();
  }
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(b.data(), start);
  EXPECT_EQ(b, body);
  expect_zero_padding(b);
}

// Set from text (previews, tests), copied, moved and grown, the buffer keeps
// its bytes and the zeros after them; an empty one points at zeros too.
TEST(PaddedStringBodyTest, PaddedBufferKeepsItsPaddingWhenCopiedMovedAndGrown) {
  PaddedBuffer empty;
  EXPECT_TRUE(empty.empty());
  expect_zero_padding(empty);
  PaddedBuffer a = std::string_view("hello");
  expect_zero_padding(a);
  PaddedBuffer b = a;
  EXPECT_EQ(b, "hello");
  EXPECT_NE(b.data(), a.data());
  expect_zero_padding(b);
  PaddedBuffer c = std::move(a);
  EXPECT_EQ(c, "hello");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from buffer is empty
  expect_zero_padding(a);
  const std::string more(5000, 'z');
  c.append(more.data(), more.size());
  EXPECT_FALSE(c.padded());  // until the body is finished
  c.pad();
  EXPECT_EQ(c, "hello" + more);
  expect_zero_padding(c);
  b = c;
  EXPECT_EQ(b, c.view());
  b = std::string_view("");
  EXPECT_TRUE(b.empty());
  expect_zero_padding(b);
}

}  // namespace
}  // namespace herald
