#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <ctime>
#include <random>
#include <thread>

#include "core/util/base64.hpp"
#include "core/util/digest.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"
#include "core/util/page_allocator.hpp"
#include "core/util/threads.hpp"
#include "core/util/time_format.hpp"
#include "core/util/utf8.hpp"
#include "tests/unit/thread_nice.hpp"

namespace herald {
namespace {

TEST(TimeFormatTest, Rfc3339UtcMatchesGmtime) {
  using namespace std::chrono;
  EXPECT_EQ(format_rfc3339_utc(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_utc(sys_days{2024y / 2 / 29} + 23h + 59min + 59s + 999ms), "2024-02-29T23:59:59.999Z");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const auto ms = static_cast<int64_t>(rng() % 8'000'000'000'000ull);  // 1970 .. 2223
    const system_clock::time_point t{milliseconds(ms)};
    const std::time_t secs = ms / 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[64];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    ASSERT_EQ(format_rfc3339_utc(t), want) << ms;
  }
}

TEST(TimeFormatTest, Rfc5322DateMatchesStrftime) {
  using namespace std::chrono;
  EXPECT_EQ(format_rfc5322_date(system_clock::time_point{}), "Thu, 01 Jan 1970 00:00:00 +0000");
  std::mt19937_64 rng(11);
  for (int i = 0; i < 10000; ++i) {
    const auto secs = static_cast<std::time_t>(rng() % 8'000'000'000ull);  // 1970 .. 2223
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[64];
    std::strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S +0000", &tm);  // "C" locale names
    ASSERT_EQ(format_rfc5322_date(system_clock::from_time_t(secs)), want) << secs;
  }
}

TEST(DigestTest, Sha256OfLengthPrefixedParts) {
  // Each part is hashed as its 8-byte little-endian length, then its bytes
  // (values from Python's hashlib), so ("a", "") and ("", "a") differ.
  EXPECT_EQ(sha256_hex({"abc"}), "ce91dc5eec0139adf091900d225971d6ad246a845bad791b5693a9d0d55dd391");
  EXPECT_EQ(sha256_hex({"a", ""}), "49a1af1b982d48d444434b4fdd5a935bad437b5e211cfd8c9f18b975e2cc1e31");
  EXPECT_EQ(sha256_hex({""}), "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc");
  EXPECT_NE(sha256_hex({"a", ""}), sha256_hex({"", "a"}));
  // A prefix of the digits (message ids take 32), and longer parts than one block.
  EXPECT_EQ(sha256_hex({"abc"}, 32), "ce91dc5eec0139adf091900d225971d6");
  EXPECT_EQ(sha256_hex({"abc"}, 0), "");
  const std::string long_part(200, 'x');
  EXPECT_EQ(sha256_hex({long_part, "tail"}).size(), 64u);
  EXPECT_EQ(sha256_hex({long_part, "tail"}, 32), sha256_hex({long_part, "tail"}).substr(0, 32));
  // Past the stack buffer (a resource file) hashed part by part: the same framing.
  const std::string kilo(1000, 'a');
  EXPECT_EQ(sha256_hex({kilo}), "853b74abfcd932e3e88590b70c8680d543d6dd75ee327ecd6c36ff6b406f738b");
  EXPECT_EQ(sha256_hex({kilo, "tail"}), "90fbb0277a4a2ae7579dbed6a5e79011b895793906188af313b5b5a7c7c49fe2");
}

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

// Lines of exactly line_len characters but the last, no CRLF at either end,
// appended after what `out` already holds, for every input length.
TEST(Base64Test, LinesBreakEveryLineLength) {
  for (size_t line_len : {0u, 4u, 7u, 76u}) {
    for (size_t n = 0; n <= 200; ++n) {
      std::string in;
      for (size_t i = 0; i < n; ++i) in += static_cast<char>(i * 37 + 11);
      const std::string flat = base64_encode(in);
      std::string want = "head";
      for (size_t i = 0; i < flat.size(); ++i) {
        if (line_len && i && i % line_len == 0) want += "\r\n";
        want += flat[i];
      }
      std::string out = "head";
      base64_encode_lines(out, in, line_len);
      ASSERT_EQ(out, want) << line_len << " " << n;
      ASSERT_EQ(*base64_decode(out.substr(4)), in);
    }
  }
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

// The word-at-a-time ASCII skip: a non-ASCII byte or a broken sequence at
// any position of strings of 0..40 bytes is seen.
TEST(Utf8Test, AsciiSkipSeesEveryPosition) {
  for (size_t n = 0; n <= 40; ++n) {
    const std::string ascii(n, 'a');
    EXPECT_TRUE(is_ascii(ascii));
    EXPECT_TRUE(is_valid_utf8(ascii));
    EXPECT_EQ(count_non_ascii(ascii), 0u);
    for (size_t at = 0; at < n; ++at) {
      std::string s = ascii;
      s[at] = '\x80';  // a lone continuation byte
      EXPECT_FALSE(is_ascii(s)) << n << " " << at;
      EXPECT_FALSE(is_valid_utf8(s)) << n << " " << at;
      EXPECT_EQ(count_non_ascii(s), 1u);
      if (at + 1 < n) {
        s[at] = '\xC3';  // á
        s[at + 1] = '\xA1';
        EXPECT_TRUE(is_valid_utf8(s)) << n << " " << at;
        EXPECT_EQ(count_non_ascii(s), 2u);
      }
    }
  }
}

TEST(Utf8Test, FindsLineBreakingCharacters) {
  EXPECT_FALSE(has_line_breaking_or_control("Ján Kováč"));
  EXPECT_TRUE(has_line_breaking_or_control("a\rb"));
  EXPECT_TRUE(has_line_breaking_or_control("a\nb"));
  EXPECT_TRUE(has_line_breaking_or_control(std::string("a\0b", 3)));
  EXPECT_TRUE(has_line_breaking_or_control("a\xE2\x80\xA8" "b"));  // U+2028
  EXPECT_TRUE(has_line_breaking_or_control("a\xC2\x85" "b"));      // U+0085 NEL
}

// The word-at-a-time fast path must agree with the byte loop for every byte
// value at every position of a word, and across word boundaries.
TEST(Utf8Test, FindsEveryControlByteAtEveryPosition) {
  for (int c = 0; c < 256; ++c) {
    const bool control = c < 0x20 || c == 0x7F;
    for (size_t len : {1u, 7u, 8u, 9u, 15u, 16u, 17u, 23u, 31u, 32u, 33u, 47u}) {
      for (size_t at = 0; at < len; ++at) {
        std::string s(len, 'x');
        s[at] = static_cast<char>(c);
        EXPECT_EQ(has_line_breaking_or_control(s), control) << "byte " << c << " at " << at << " of " << len;
      }
    }
  }
  // Multi-byte separators straddling the first 8-byte word.
  EXPECT_TRUE(has_line_breaking_or_control("abcdefg\xE2\x80\xA9" "z"));
  EXPECT_TRUE(has_line_breaking_or_control("abcdefg\xC2\x9F"));
  EXPECT_FALSE(has_line_breaking_or_control("abcdefg\xC2\xA0" "cd"));  // U+00A0 is no control
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

TEST(JsonEscapeTest, PlainPrefixStopsAtTheFirstByteToEscape) {
  EXPECT_EQ(json_plain_prefix(""), 0u);
  EXPECT_EQ(json_plain_prefix("INV-2026-000042-abcdefgh"), 24u);
  for (int c = 0; c < 256; ++c) {
    const bool plain = c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
    for (size_t len = 1; len <= 48; ++len) {  // every short-value path, the 16-byte steps and their tail
      for (size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(c);
        EXPECT_EQ(json_plain_prefix(s), plain ? len : at) << "byte " << c << " at " << at << " of " << len;
        s.back() = '"';  // a later one never hides the first
        EXPECT_EQ(json_plain_prefix(s), plain ? len - 1 : at) << "byte " << c << " at " << at << " of " << len;
      }
    }
  }
}

TEST(JsonEscapeTest, EscapesQuotesControlsAndBadUtf8) {
  std::string out;
  append_json_escaped(out, "abcdefghij\"k\\l\n\x01\x7f" "Kováč\xff" "end-of-a-long-plain-tail");
  EXPECT_EQ(out, "abcdefghij\\\"k\\\\l\\n\\u0001\\u007fKováč\\ufffdend-of-a-long-plain-tail");
}

// append_json_quoted is append_json_escaped inside quotes, after whatever
// `out` holds, whether the value is plain, starts plain or is empty.
TEST(JsonEscapeTest, QuotedIsTheEscapedValueInQuotes) {
  for (std::string_view s : {std::string_view(""), std::string_view("plain-id-1234567890"),
                             std::string_view("abc\"k\\l\n\x01Kováč\xff" "tail"), std::string_view("\x7f")}) {
    std::string want = "{\"k\":\"";
    append_json_escaped(want, s);
    want += '"';
    std::string out = "{\"k\":";
    append_json_quoted(out, s);
    EXPECT_EQ(out, want) << s;
  }
}

// json_is_plain_utf8 is true exactly when escaping would change nothing:
// random mixes of ASCII, accented letters, quotes, controls and broken
// UTF-8 (history records copy such values as they are).
TEST(JsonEscapeTest, PlainUtf8IsWhatEscapingLeavesAsItIs) {
  EXPECT_TRUE(json_is_plain_utf8(""));
  EXPECT_TRUE(json_is_plain_utf8("Faktúra FV-2026-0042 – Bench s.r.o."));
  EXPECT_FALSE(json_is_plain_utf8("Faktúra \"FV\""));
  EXPECT_FALSE(json_is_plain_utf8("Kováč\xff"));
  EXPECT_FALSE(json_is_plain_utf8("\xc3"));  // a sequence cut short
  const std::string pieces[] = {"a", "Z", " ", "á", "č", "–", "😀", "\"", "\\", "\n", "\x7f", "\x01", "\xff", "\xc3", "\xe2\x80"};
  std::mt19937 rng(11);
  int plain = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const size_t parts = rng() % 40;
    for (size_t i = 0; i < parts; ++i) {
      const size_t k = rng() % 100;
      s += pieces[k < 70 ? k % 7 : k % std::size(pieces)];  // mostly clean text
    }
    std::string escaped;
    append_json_escaped(escaped, s);
    EXPECT_EQ(json_is_plain_utf8(s), escaped == s) << s;
    plain += escaped == s;
  }
  EXPECT_GT(plain, 1000);  // both outcomes were tried often
  EXPECT_LT(plain, 19000);
}

// The nice value is the thread's own: lowering it on one thread leaves the
// caller's; it is counted from the process's (its main thread's, this
// test's), also on a thread started by a niced one; it never passes 19.
TEST(ThreadsTest, BackgroundLowersOnlyTheCallingThreadsPriority) {
  const int mine = nice_of_this_thread();
  ASSERT_EQ(mine, getpriority(PRIO_PROCESS, static_cast<id_t>(getpid())));  // gtest runs tests on the main thread
  int seen = 0, returned = 0, unchanged = 0, again = 0, inner = 0, capped = 0;
  std::thread([&] {
    unchanged = make_this_thread_background(0);
    returned = make_this_thread_background(3);
    seen = nice_of_this_thread();
    again = make_this_thread_background(3);
    std::thread([&] { inner = make_this_thread_background(3); }).join();
    capped = make_this_thread_background(40);
  }).join();
  EXPECT_EQ(unchanged, mine);
  EXPECT_EQ(returned, std::min(19, mine + 3));
  EXPECT_EQ(seen, returned);
  EXPECT_EQ(again, returned);
  EXPECT_EQ(inner, returned);
  EXPECT_EQ(capped, 19);
  EXPECT_EQ(nice_of_this_thread(), mine);
}

// Resident bytes of this process (/proc/self/statm).
size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(PageAllocatorTest, BuffersWorkAndTheirPagesGoBackWhenFreed) {
  constexpr size_t kBytes = 16 << 20;
  const size_t before = resident_bytes();
  {
    std::vector<char, PageAllocator<char>> buffer(kBytes, 'x');  // every page touched
    std::vector<uint64_t, PageAllocator<uint64_t>> words;
    for (uint64_t i = 0; i < 100000; ++i) words.push_back(i * i);  // grown: allocate and free
    EXPECT_EQ(words[99999], uint64_t{99999} * 99999);
    EXPECT_EQ(buffer[kBytes - 1], 'x');
    EXPECT_GE(resident_bytes(), before + kBytes - (1 << 20));
  }
#if !defined(__SANITIZE_ADDRESS__)  // there it is operator new, so the sanitizer sees its bounds
  // Unmapped, not kept by the allocator for reuse: resident no more.
  EXPECT_LT(resident_bytes(), before + (4 << 20));
#endif
}

// The VmFlags of the mapping that holds `p`, from /proc/self/smaps.
[[maybe_unused]] std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find('-') < line.find(' ')) {
      inside = addr >= lo && addr < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(HugePageAllocatorTest, LargeArraysAreHugePageAlignedAndAdvisedSmallOnesAreOrdinary) {
  using Words = std::vector<uint64_t, HugePageAllocator<uint64_t>>;
  Words large((4u << 20) / sizeof(uint64_t) + 3);  // 4 MB and a bit: rounded up to 6 MB
  for (size_t i = 0; i < large.size(); ++i) ASSERT_EQ(large[i], 0u);
  large.back() = 42;
  EXPECT_EQ(large.back(), 42u);
  Words small(100, 7);
  EXPECT_EQ(small[99], 7u);
#if !defined(__SANITIZE_ADDRESS__)  // there both are operator new's
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % (2u << 20), 0u);
  // "hg": marked MADV_HUGEPAGE (whether the kernel then gives it huge pages
  // depends on its THP setting, so that is not asserted).
  const std::string flags = vm_flags_of(large.data());
  ASSERT_FALSE(flags.empty());
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
  EXPECT_EQ(vm_flags_of(small.data()).find(" hg"), std::string::npos);
#endif
  Words grown;
  for (uint64_t i = 0; i < 600000; ++i) grown.push_back(i);  // crosses 2 MB while growing
  EXPECT_EQ(grown[599999], 599999u);
}

}  // namespace
}  // namespace herald
