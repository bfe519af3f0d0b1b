#include <gtest/gtest.h>

#include <random>

#include "transports/smtp/smtp_data.hpp"
#include "transports/smtp/smtp_reply.hpp"

namespace herald {
namespace {

ReplyParse parse(std::string_view in, SmtpReply& r, size_t& consumed, std::string& err) {
  return parse_smtp_reply(in, r, consumed, err);
}

TEST(SmtpReplyTest, ParsesSingleAndMultiLineReplies) {
  SmtpReply r;
  size_t consumed = 0;
  std::string err;
  ASSERT_EQ(parse("250 OK\r\n", r, consumed, err), ReplyParse::complete);
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.text, "OK");
  EXPECT_EQ(consumed, 8u);

  std::string ehlo = "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n354 next";
  ASSERT_EQ(parse(ehlo, r, consumed, err), ReplyParse::complete);
  EXPECT_EQ(r.text, "mx.example\nPIPELINING\nSIZE 10240000\n8BITMIME");
  EXPECT_EQ(ehlo.substr(consumed), "354 next");

  ASSERT_EQ(parse("221\r\n", r, consumed, err), ReplyParse::complete);
  EXPECT_EQ(r.code, 221);
  ASSERT_EQ(parse("250 bare lf\n", r, consumed, err), ReplyParse::complete);
}

TEST(SmtpReplyTest, WaitsForCompleteReplies) {
  SmtpReply r;
  size_t consumed = 0;
  std::string err;
  EXPECT_EQ(parse("", r, consumed, err), ReplyParse::incomplete);
  EXPECT_EQ(parse("25", r, consumed, err), ReplyParse::incomplete);
  EXPECT_EQ(parse("250-first\r\n", r, consumed, err), ReplyParse::incomplete);
  EXPECT_EQ(parse("250-first\r\n250 sec", r, consumed, err), ReplyParse::incomplete);
}

TEST(SmtpReplyTest, RejectsGarbage) {
  SmtpReply r;
  size_t consumed = 0;
  std::string err;
  for (const std::string& bad : std::vector<std::string>{"hello\r\n", "2x0 OK\r\n", "250-a\r\n251 b\r\n", "250xOK\r\n", "099 low\r\n", "600 hi\r\n",
                          std::string(3000, '2')}) {
    EXPECT_EQ(parse(bad, r, consumed, err), ReplyParse::malformed) << bad.substr(0, 20);
    EXPECT_FALSE(err.empty());
  }
  std::string many;
  for (int i = 0; i < 150; ++i) many += "250-x\r\n";
  EXPECT_EQ(parse(many, r, consumed, err), ReplyParse::malformed);
}

TEST(SmtpReplyTest, ControlBytesAreScrubbedFromText) {
  SmtpReply r;
  size_t consumed = 0;
  std::string err;
  ASSERT_EQ(parse(std::string("550 bad\x01\x1b[31m\r\n"), r, consumed, err), ReplyParse::complete);
  EXPECT_EQ(r.text, "bad  [31m");
  EXPECT_TRUE(r.permanent());
}

std::string encode(std::string_view in) {
  std::string out;
  encode_smtp_data(in, out);
  return out;
}

TEST(SmtpDataTest, NormalizesLineEndingsAndStuffsDots) {
  EXPECT_EQ(encode("a\r\nb\r\n"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(encode("a\nb"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(encode(".start\r\n..two\r\nmid.dle\r\n"), "..start\r\n...two\r\nmid.dle\r\n.\r\n");
  EXPECT_EQ(encode(""), ".\r\n");
}

// Against the plain byte-by-byte rules, on random texts of dots, line breaks
// of every kind, tabs and 8-bit bytes at every position: the same bytes out,
// and "8-bit" exactly when a byte above 0x7F is in.
TEST(SmtpDataTest, MatchesTheByteByByteRules) {
  std::mt19937 rng(3);
  const std::string alphabet = "ab.\r\n\t \xC3\xA1\xFF";
  for (int round = 0; round < 5000; ++round) {
    std::string in;
    for (size_t i = rng() % 120; i > 0; --i)
      in += rng() % 4 == 0 ? alphabet[rng() % alphabet.size()] : static_cast<char>('a' + rng() % 26);
    std::string want;
    bool high = false;
    bool line_start = true;
    for (size_t i = 0; i < in.size(); ++i) {
      const char c = in[i];
      if (c == '\r' || c == '\n') {
        if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
        want += "\r\n";
        line_start = true;
        continue;
      }
      if (line_start && c == '.') want += '.';
      line_start = false;
      high = high || static_cast<unsigned char>(c) >= 0x80;
      want += c;
    }
    if (!in.empty() && !line_start) want += "\r\n";
    want += ".\r\n";
    std::string out;
    ASSERT_EQ(encode_smtp_data(in, out), high) << round;
    ASSERT_EQ(out, want) << round;
  }
}

// In place, after whatever the buffer already holds: byte for byte what
// encode_smtp_data appends, on random texts. Half of them end every line in
// CRLF (the form MimeBuilder writes, encoded without a copy), with dots,
// tabs and 8-bit bytes anywhere; the others have lone CRs and LFs too.
TEST(SmtpDataTest, InPlaceEncodingMatchesTheCopyingOne) {
  std::mt19937 rng(5);
  const std::string alphabet = "ab.\t \xC3\xA1\xFF";
  size_t untouched = 0;
  for (int round = 0; round < 5000; ++round) {
    const bool crlf_only = round % 2 == 0;
    std::string in;
    for (size_t i = rng() % 300; i > 0; --i) {
      const unsigned pick = rng() % 8;
      if (pick == 0) in += crlf_only ? "\r\n" : (rng() % 2 ? "\n" : "\r");
      else if (pick == 1) in += alphabet[rng() % alphabet.size()];
      else in += static_cast<char>('a' + rng() % 26);
    }
    std::string want = "head\r\n";
    const bool high = encode_smtp_data(in, want);
    std::string buf = "head\r\n" + in;
    ASSERT_EQ(encode_smtp_data_in_place(buf, 6), high) << round;
    ASSERT_EQ(buf, want) << round;
    if (crlf_only && in.find("\r\n.") == std::string::npos && !in.starts_with(".")) ++untouched;
  }
  EXPECT_GT(untouched, 1000u);  // the in-place path was exercised
  std::string empty = "x";
  EXPECT_FALSE(encode_smtp_data_in_place(empty, 1));
  EXPECT_EQ(empty, "x.\r\n");
}

// The in-place check looks at 16 bytes at a time: each kind of line break
// (and a '.' after it, and an 8-bit byte) at every offset across three
// blocks, in text that is otherwise SMTP data as it stands.
TEST(SmtpDataTest, InPlaceCheckAtEveryBlockBoundary) {
  const std::string pieces[] = {"\r\n", "\r\n.", "\r", "\n", "\r\r\n", "\n\r", "\xC3\xA1", ".", "\r\n\r\n", "\n."};
  size_t untouched = 0;
  for (const auto& piece : pieces) {
    for (size_t at = 0; at <= 48; ++at) {
      for (size_t tail = 0; tail <= 20; tail += 4) {
        std::string in = std::string(at, 'a') + piece + std::string(tail, 'b');
        std::string want = "head\r\n";
        const bool high = encode_smtp_data(in, want);
        std::string buf = "head\r\n" + in;
        ASSERT_EQ(encode_smtp_data_in_place(buf, 6), high) << "piece " << (&piece - pieces) << " at " << at;
        ASSERT_EQ(buf, want) << "piece " << (&piece - pieces) << " at " << at << " tail " << tail;
        untouched += buf.size() == 6 + in.size() + (in.ends_with("\r\n") ? 3 : 5);
      }
    }
  }
  EXPECT_GT(untouched, 200u);  // clean inputs (no byte to add or change) were among them
}

// Every ending from hannob/smtpsmug: the encoded data must contain exactly one
// end-of-data sequence, at the very end, and no bare CR or LF.
TEST(SmtpDataTest, NoSmugglingEndingSurvives) {
  const std::vector<std::string> endings = {"\n.\n",    "\r.\r",    "\r.\n",   "\n.\r",          "\n.\r\n",
                                            "\r\n.\n", "\r.\r\n", "\r\n.\r", std::string("\r\n\0.\r\n", 6)};
  for (const auto& e : endings) {
    std::string body = "hello" + e + "MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nspoofed\r\n";
    std::string out = encode(body);
    EXPECT_EQ(out.find("\r\n.\r\n"), out.size() - 5) << "ending index " << (&e - endings.data());
    EXPECT_EQ(out.rfind(".\r\n"), out.size() - 3);
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == '\r') {
        ASSERT_EQ(out[i + 1], '\n');
      } else if (out[i] == '\n') {
        ASSERT_EQ(out[i - 1], '\r');
      }
    }
  }
}

}  // namespace
}  // namespace herald
