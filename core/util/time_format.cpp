#include "core/util/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace herald {

std::string format_rfc3339_utc(std::chrono::system_clock::time_point t) {
  // By hand (calendar arithmetic, no gmtime_r/snprintf): every history
  // append stamps its records, once per ingest request.
  using namespace std::chrono;
  const auto ms_total = floor<milliseconds>(t);
  const auto day = floor<days>(ms_total);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{ms_total - day};
  char buf[24];  // YYYY-MM-DDTHH:MM:SS.mmmZ
  auto put = [&buf](int at, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  buf[4] = '-';
  put(5, static_cast<unsigned>(ymd.month()), 2);
  buf[7] = '-';
  put(8, static_cast<unsigned>(ymd.day()), 2);
  buf[10] = 'T';
  put(11, static_cast<unsigned>(hms.hours().count()), 2);
  buf[13] = ':';
  put(14, static_cast<unsigned>(hms.minutes().count()), 2);
  buf[16] = ':';
  put(17, static_cast<unsigned>(hms.seconds().count()), 2);
  buf[19] = '.';
  put(20, static_cast<unsigned>(hms.subseconds().count()), 3);
  buf[23] = 'Z';
  return std::string(buf, sizeof buf);
}

std::string format_rfc5322_date(std::chrono::system_clock::time_point t) {
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  // Digits by hand: every e-mail's Date header, and snprintf cost ~3 000
  // instructions of it.
  std::string out = "Sun, 00 Jan 0000 00:00:00 +0000";
  auto two = [&](size_t at, int v) {
    out[at] = static_cast<char>('0' + v / 10 % 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  out.replace(0, 3, kDays + 3 * tm.tm_wday, 3);
  two(5, tm.tm_mday);
  out.replace(8, 3, kMonths + 3 * tm.tm_mon, 3);
  const int year = tm.tm_year + 1900;
  two(12, year / 100);
  two(14, year % 100);
  two(17, tm.tm_hour);
  two(20, tm.tm_min);
  two(23, tm.tm_sec);
  return out;
}

}  // namespace herald
