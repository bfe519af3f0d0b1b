#pragma once
// SMS text (SPEC §5): which alphabet a text needs and how many segments it
// costs, and an optional transliteration to GSM-7 so Slovak, Czech and Polish
// texts do not fall back to UCS-2 (70 characters per segment instead of 160).
//
// GSM 03.38: the default alphabet (1 septet per character) and its extension
// table (escape + character: 2 septets); anything else needs UCS-2, counted
// in UTF-16 code units. Long messages are concatenated (UDH): 153 septets or
// 67 units per segment, never splitting an escape pair or a surrogate pair.
#include <cstddef>
#include <string>
#include <string_view>

namespace herald {

enum class SmsEncoding { gsm7, ucs2 };

struct SmsInfo {
  SmsEncoding encoding = SmsEncoding::gsm7;
  size_t units = 0;     // septets (GSM-7) or UTF-16 code units (UCS-2)
  size_t segments = 0;  // 0 for an empty text
};

const char* to_string(SmsEncoding e);

// `text` is valid UTF-8 (rendered from validated data and templates).
SmsInfo analyze_sms(std::string_view text);

// Replaces characters outside GSM-7 with their closest GSM-7 spelling
// (č → c, ł → l, „ → ", – → -, … → ..., NBSP → space); characters
// without one stay as they are (and the text stays UCS-2).
std::string transliterate_to_gsm(std::string_view text);

}  // namespace herald
