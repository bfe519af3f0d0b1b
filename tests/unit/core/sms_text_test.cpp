#include "core/render/sms_text.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(SmsText, Gsm7TextsAndTheExtensionTable) {
  auto a = analyze_sms("Objednavka 42 je pripravena. Zaplatte 12,50 EUR.");
  EXPECT_EQ(a.encoding, SmsEncoding::gsm7);
  EXPECT_EQ(a.units, 48u);
  EXPECT_EQ(a.segments, 1u);
  auto b = analyze_sms("Cena: 12 € [zľava]");  // ľ is not GSM-7
  EXPECT_EQ(b.encoding, SmsEncoding::ucs2);
  auto c = analyze_sms("Cena: 12 € [sleva] {ok} ^~|\\ Grüße äöü ÄÖÜ é");
  EXPECT_EQ(c.encoding, SmsEncoding::gsm7);
  EXPECT_EQ(c.units, 44u + 9u);  // 44 characters, 9 of them from the extension table
  EXPECT_EQ(analyze_sms("").segments, 0u);
}

TEST(SmsText, SegmentBoundaries) {
  EXPECT_EQ(analyze_sms(std::string(160, 'a')).segments, 1u);
  EXPECT_EQ(analyze_sms(std::string(161, 'a')).segments, 2u);
  EXPECT_EQ(analyze_sms(std::string(306, 'a')).segments, 2u);
  EXPECT_EQ(analyze_sms(std::string(307, 'a')).segments, 3u);
  // An escape pair never straddles two segments: 152 septets + "€" fill the
  // first segment exactly; one more septet before it pushes it over.
  EXPECT_EQ(analyze_sms(std::string(152, 'a') + "€" + std::string(10, 'a')).segments, 2u);
  auto s = analyze_sms(std::string(153, 'a') + "€" + std::string(10, 'a'));
  EXPECT_EQ(s.units, 165u);
  EXPECT_EQ(s.segments, 2u);
  EXPECT_EQ(analyze_sms("ľ" + std::string(69, 'a')).segments, 1u);
  EXPECT_EQ(analyze_sms("ľ" + std::string(70, 'a')).segments, 2u);
  EXPECT_EQ(analyze_sms("ľ" + std::string(133, 'a')).segments, 2u);
  EXPECT_EQ(analyze_sms("ľ" + std::string(134, 'a')).segments, 3u);
  // A surrogate pair (an emoji) counts 2 units and is never split.
  auto e = analyze_sms(std::string(66, 'a') + "😀" + "b");
  EXPECT_EQ(e.encoding, SmsEncoding::ucs2);
  EXPECT_EQ(e.units, 69u);
  EXPECT_EQ(e.segments, 1u);
  EXPECT_EQ(analyze_sms(std::string(66, 'a') + "😀" + std::string(3, 'b')).segments, 2u);
}

TEST(SmsText, TransliterationKeepsGsmLettersAndSpellsTheRest) {
  EXPECT_EQ(transliterate_to_gsm("Žluťoučký kůň úpěl ďábelské ódy"), "Zlutoucky kun upel dabelské ody");  // é is GSM-7
  EXPECT_EQ(transliterate_to_gsm("Zażółć gęślą jaźń"), "Zazolc gesla jazn");
  EXPECT_EQ(transliterate_to_gsm("Ľubomír Štúr – „Grüße“ … é"), "Lubomir Stur - \"Grüße\" ... é");
  EXPECT_EQ(analyze_sms(transliterate_to_gsm("Vaša objednávka č. 42 je pripravená")).encoding, SmsEncoding::gsm7);
  EXPECT_EQ(transliterate_to_gsm("Привет"), "Привет");  // no GSM spelling: unchanged
}

}  // namespace
}  // namespace herald
