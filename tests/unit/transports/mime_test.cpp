#include <gtest/gtest.h>

#include <random>

#include "core/util/base64.hpp"
#include "core/util/utf8.hpp"
#include "transports/mime/header_encoding.hpp"
#include "transports/mime/mime_builder.hpp"
#include "transports/mime/quoted_printable.hpp"

namespace herald {
namespace {

// Every line ends in CRLF, no bare CR or LF, no line over `max` octets.
void expect_clean_lines(const std::string& s, size_t max) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      ASSERT_TRUE(i + 1 < s.size() && s[i + 1] == '\n') << "bare CR at " << i;
      EXPECT_LE(i - start, max) << s.substr(start, i - start);
      start = i + 2;
      ++i;
    } else if (s[i] == '\n') {
      FAIL() << "bare LF at " << i;
    }
  }
}

// Header names (lines that do not start with whitespace) before the blank line.
std::vector<std::string> header_names(const std::string& msg) {
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find("\r\n", pos);
    std::string line = msg.substr(pos, eol - pos);
    if (line.empty()) break;
    if (line[0] != ' ' && line[0] != '\t') names.push_back(line.substr(0, line.find(':')));
    pos = eol + 2;
  }
  return names;
}

TEST(HeaderEncodingTest, AsciiStaysReadable) {
  std::string out;
  append_unstructured_header(out, "Subject", "Invoice FV-2026-0042");
  EXPECT_EQ(out, "Subject: Invoice FV-2026-0042\r\n");
}

TEST(HeaderEncodingTest, NonAsciiBecomesEncodedWords) {
  std::string out;
  append_unstructured_header(out, "Subject", "Faktúra pre Stavebniny Kováč s.r.o. – splatná do 4. decembra 2026, ďakujeme");
  EXPECT_EQ(out.rfind("Subject: =?UTF-8?B?", 0), 0u);
  expect_clean_lines(out, 78 + 9);
  // Each encoded word is at most 75 characters.
  size_t pos = 0;
  while ((pos = out.find("=?UTF-8?B?", pos)) != std::string::npos) {
    size_t end = out.find("?=", pos + 10);
    EXPECT_LE(end + 2 - pos, 75u);
    pos = end;
  }
}

TEST(HeaderEncodingTest, CrlfInjectionIsNeutralized) {
  for (const std::string& evil : std::vector<std::string>{"42\r\nBcc: victim@example.com", "42\nBcc: v@x", "42\rBcc: v@x",
                           std::string("42\0Bcc: v@x", 11), "42\xE2\x80\xA8" "Bcc: v@x", "x =?UTF-8?B?QmNjOg==?="}) {
    std::string out;
    append_unstructured_header(out, "Subject", evil);
    EXPECT_EQ(header_names(out + "\r\n"), std::vector<std::string>{"Subject"}) << out;
    expect_clean_lines(out, 998);
  }
}

TEST(HeaderEncodingTest, LongAsciiIsFoldedOrEncoded) {
  std::string words;
  for (int i = 0; i < 60; ++i) words += "word" + std::to_string(i) + " ";
  std::string out;
  append_unstructured_header(out, "Subject", words);
  expect_clean_lines(out, 78);
  std::string blob(1500, 'x');  // one word longer than a line
  out.clear();
  append_unstructured_header(out, "Subject", blob);
  expect_clean_lines(out, 998);
}

TEST(HeaderEncodingTest, SanitizedTextIsOneCleanLine) {
  EXPECT_EQ(sanitize_header_text("Faktúra FV-2026-0042"), "Faktúra FV-2026-0042");  // returned as it is
  EXPECT_EQ(sanitize_header_text("  a \r\n\tb  "), "a b");
  EXPECT_EQ(sanitize_header_text("a\xC2\x85" "b\xE2\x80\xA8" "c"), "a b c");  // NEL, LINE SEPARATOR
  EXPECT_EQ(sanitize_header_text("a\xFF\xC3" "b"), "a b");                       // broken UTF-8
  EXPECT_EQ(sanitize_header_text(""), "");
  std::mt19937 rng(9);
  const std::string alphabet = std::string("a b\r\n\t\0\x7f\xC3\xA1\xE2\x80\xA8\xC2\x85\xFF", 16);
  for (int round = 0; round < 5000; ++round) {
    std::string in;
    for (size_t i = rng() % 30; i > 0; --i) in += alphabet[rng() % alphabet.size()];
    const std::string out = sanitize_header_text(in);
    ASSERT_TRUE(is_valid_utf8(out)) << round;
    ASSERT_FALSE(has_line_breaking_or_control(out)) << round;
    ASSERT_EQ(out.find("  "), std::string::npos) << round;
    if (!out.empty()) {
      ASSERT_NE(out.front(), ' ') << round;
      ASSERT_NE(out.back(), ' ') << round;
    }
    ASSERT_EQ(sanitize_header_text(out), out) << round;  // clean text stays as it is
  }
}

TEST(HeaderEncodingTest, DisplayNames) {
  EXPECT_EQ(encode_display_name("Jana Nova"), "Jana Nova");
  EXPECT_EQ(encode_display_name("Kovac, s.r.o."), "\"Kovac, s.r.o.\"");
  EXPECT_EQ(encode_display_name("a \"q\" \\b"), "\"a \\\"q\\\" \\\\b\"");
  EXPECT_EQ(encode_display_name("Ján").rfind("=?UTF-8?B?", 0), 0u);
  std::string out;
  append_address_header(out, "To", Mailbox{"a@b.example", "Evil\r\nBcc: x@y"});
  EXPECT_EQ(header_names(out + "\r\n"), std::vector<std::string>{"To"});
}

TEST(QuotedPrintableTest, EncodesAndBreaksLines) {
  std::string out;
  quoted_printable_encode(out, "Dobrý deň\nline2\r\nline3\rend = ok \n.dot\n");
  EXPECT_EQ(out, "Dobr=C3=BD de=C5=88\r\nline2\r\nline3\r\nend =3D ok=20\r\n=2Edot\r\n");
  out.clear();
  quoted_printable_encode(out, std::string(300, 'a') + std::string(100, '\xC5'));
  expect_clean_lines(out, 76);
}

// RFC 2045 §6.7 decoding: "=XX" is a byte, "=" before CRLF a soft break.
std::string qp_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

// Random texts of every kind of byte, with line breaks of every kind and
// runs of blanks and dots: the encoding decodes back to the text (line breaks
// as CRLF), and every line is at most 76 characters, ASCII, starts with no
// '.', and ends with no blank.
TEST(QuotedPrintableTest, RandomTextsRoundTripWithinTheRules) {
  std::mt19937 rng(5);
  const std::string alphabet = std::string("ab.= \t\r\n~!\0", 11) + "\x01\x7f\x80\xC5\xFF";
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const size_t n = rng() % 400;
    for (size_t i = 0; i < n; ++i) {
      text += rng() % 3 == 0 ? alphabet[rng() % alphabet.size()] : static_cast<char>('A' + rng() % 26);
    }
    std::string out;
    quoted_printable_encode(out, text);
    std::string want;  // the text with each CRLF, CR or LF as CRLF
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r' || text[i] == '\n') {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        want += "\r\n";
      } else {
        want += text[i];
      }
    }
    ASSERT_EQ(qp_decode(out), want) << round;
    expect_clean_lines(out, 76);
    size_t start = 0;
    for (size_t i = 0; i <= out.size(); ++i) {
      if (i < out.size() && out[i] != '\r') {
        ASSERT_LT(static_cast<unsigned char>(out[i]), 0x7f) << round;
        continue;
      }
      if (i > start) {
        ASSERT_NE(out[start], '.') << round << ": " << out.substr(start, i - start);
        ASSERT_NE(out[i - 1], ' ') << round;
        ASSERT_NE(out[i - 1], '\t') << round;
      }
      start = i + 2;
      ++i;
    }
  }
}

RenderedMessage sample() {
  auto event = std::make_shared<DocumentEvent>();
  event->id = "erp-1";
  event->document = Document{};
  event->document->attachments.push_back({"FV-2026-0042.pdf", "application/pdf", std::string("%PDF\0\r\n.\r\n", 10)});
  event->document->attachments.push_back({"Dodací list č. 5.pdf", "application/pdf", "x"});
  RenderedMessage m;
  m.message_id = "0123456789abcdef0123456789abcdef";
  m.from = {"herald@acme.example", "ACME Fakturácia"};
  m.to = {{"predaj@kovac.example", "Ján Kováč"}};
  m.subject = "Faktúra FV-2026-0042";
  m.text = "Dobrý deň,\n.\nMAIL FROM:<evil@x>\r\n.\r\nkoniec";
  m.event = event;
  m.created_at = std::chrono::system_clock::time_point(std::chrono::seconds(1795000000));
  return m;
}

TEST(MimeBuilderTest, BuildsASinglePartMessage) {
  auto m = sample();
  auto out = MimeBuilder::build(m);
  expect_clean_lines(out, 998);
  EXPECT_EQ(header_names(out), (std::vector<std::string>{"Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
                                                         "X-Herald-Event", "Content-Type",
                                                         "Content-Transfer-Encoding"}));
  EXPECT_NE(out.find("Message-ID: <0123456789abcdef0123456789abcdef@acme.example>\r\n"), std::string::npos);
  EXPECT_NE(out.find("Date: Wed, 18 Nov 2026 11:06:40 +0000"), std::string::npos) << out;
  // No body line is a lone "." (the QP encoder writes =2E).
  EXPECT_EQ(out.find("\r\n.\r\n"), std::string::npos);
}

TEST(MimeBuilderTest, AttachmentsMakeMultipartMixed) {
  auto m = sample();
  m.attach = true;
  auto out = MimeBuilder::build(m);
  expect_clean_lines(out, 998);
  EXPECT_NE(out.find("Content-Type: multipart/mixed;\r\n boundary=\"=_herald_"), std::string::npos);
  EXPECT_NE(out.find("filename=\"FV-2026-0042.pdf\""), std::string::npos);
  EXPECT_NE(out.find("filename*=utf-8''Dodac%C3%AD%20list%20%C4%8D.%205.pdf"), std::string::npos) << out;
  EXPECT_NE(out.find(base64_encode(std::string("%PDF\0\r\n.\r\n", 10))), std::string::npos);
  EXPECT_NE(out.find("--=_herald_0123456789abcdef0123456789abcdef--\r\n"), std::string::npos);
}

}  // namespace
}  // namespace herald
