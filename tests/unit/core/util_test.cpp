#include <gtest/gtest.h>

#include "core/util/base64.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "core/util/utf8.hpp"

namespace herald {
namespace {

TEST(Base64Test, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    auto enc = base64_encode(data);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec) << i;
    EXPECT_EQ(*dec, data);
    data += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
}

TEST(Base64Test, RejectsMalformedInput) {
  for (const char* bad : {"a", "ab=", "a===", "ab=c", "aGVs bG8=x", "a$==", "====", "aGVsbG8=aGVs"}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
  EXPECT_EQ(*base64_decode("aGVs\r\nbG8="), "hello");
  EXPECT_EQ(*base64_decode(""), "");
}

TEST(Base64Test, WrapsLines) {
  std::string out;
  base64_encode_lines(out, std::string(100, 'x'), 76);
  EXPECT_EQ(out.find("\r\n"), 76u);
}

TEST(Utf8Test, ValidatesSequences) {
  EXPECT_TRUE(is_valid_utf8("Kováč Šťastná Łódź Straße"));
  EXPECT_FALSE(is_valid_utf8("\xC3\x28"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
  EXPECT_EQ(utf8_length("Kováč"), 5u);
}

TEST(Utf8Test, FindsLineBreakingCharacters) {
  EXPECT_FALSE(has_line_breaking_or_control("Ján Kováč"));
  EXPECT_TRUE(has_line_breaking_or_control("a\rb"));
  EXPECT_TRUE(has_line_breaking_or_control("a\nb"));
  EXPECT_TRUE(has_line_breaking_or_control(std::string("a\0b", 3)));
  EXPECT_TRUE(has_line_breaking_or_control("a\xE2\x80\xA8" "b"));  // U+2028
  EXPECT_TRUE(has_line_breaking_or_control("a\xC2\x85" "b"));      // U+0085 NEL
}

TEST(LoggerTest, WritesOneValidJsonObjectPerLine) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  {
    Logger log(f);
    log.info("hello \"world\"\n", {{"n", 3}, {"s", "a\x01\xff"}, {"b", true}});
    log.debug("hidden");
  }
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  EXPECT_NE(out.find(R"("msg":"hello \"world\"\n")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("n":3)"), std::string::npos);
  EXPECT_NE(out.find(R"("s":"a\u0001\ufffd")"), std::string::npos) << out;
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
}

TEST(MetricsTest, RendersPrometheusText) {
  MetricsRegistry m;
  m.counter("herald_messages_sent_total", "Outcomes", {{"transport", "smtp"}, {"status", "delivered"}}).inc(3);
  m.counter("herald_messages_sent_total", "Outcomes", {{"transport", "smtp"}, {"status", "delivered"}}).inc();
  m.gauge("herald_queue_depth", "Depth", {{"stage", "deliver"}}).set(7);
  m.histogram("herald_delivery_seconds", "Latency").observe(0.003);
  auto text = m.render();
  EXPECT_NE(text.find("# TYPE herald_messages_sent_total counter"), std::string::npos);
  EXPECT_NE(text.find("herald_messages_sent_total{transport=\"smtp\",status=\"delivered\"} 4"), std::string::npos);
  EXPECT_NE(text.find("herald_queue_depth{stage=\"deliver\"} 7"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_seconds_bucket{le=\"0.0025\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("herald_delivery_seconds_bucket{le=\"0.005\"} 1"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_seconds_count 1"), std::string::npos);
}

}  // namespace
}  // namespace herald
