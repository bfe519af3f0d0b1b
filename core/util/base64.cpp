#include "core/util/base64.hpp"

#include <array>
#include <cstdint>

namespace herald {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_reverse() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kReverse = make_reverse();

}  // namespace

void base64_encode_lines(std::string& out, std::string_view in, size_t line_len) {
  // Written through a pointer into space sized up front: this encodes every
  // attachment byte, and a string append per output character cost ~4 times
  // the instructions.
  const size_t chars = (in.size() + 2) / 3 * 4;
  const size_t breaks = line_len && chars ? (chars - 1) / line_len : 0;
  const size_t start = out.size();
  out.resize(start + chars + 2 * breaks);
  char* o = out.data() + start;
  size_t col = 0;
  auto put = [&](char c) {
    if (line_len && col == line_len) {
      *o++ = '\r';
      *o++ = '\n';
      col = 0;
    }
    *o++ = c;
    ++col;
  };
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    put(kAlphabet[v >> 18]);
    put(kAlphabet[(v >> 12) & 63]);
    put(kAlphabet[(v >> 6) & 63]);
    put(kAlphabet[v & 63]);
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t(p[i]) << 16;
    put(kAlphabet[v >> 18]);
    put(kAlphabet[(v >> 12) & 63]);
    put('=');
    put('=');
  } else if (rest == 2) {
    uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8);
    put(kAlphabet[v >> 18]);
    put(kAlphabet[(v >> 12) & 63]);
    put(kAlphabet[(v >> 6) & 63]);
    put('=');
  }
}

std::string base64_encode(std::string_view in) {
  std::string out;
  base64_encode_lines(out, in, 0);  // sizes `out` itself
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    clean += c;
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') ++pad;
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    bool last = i + 4 == clean.size();
    uint32_t acc = 0;
    for (size_t j = 0; j < 4; ++j) {
      auto c = static_cast<unsigned char>(clean[i + j]);
      int8_t v;
      if (c == '=' && last && j >= 4 - pad) {
        v = 0;
      } else {
        v = kReverse[c];
        if (v < 0) return std::nullopt;
      }
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out += static_cast<char>((acc >> 16) & 0xFF);
    if (!last || pad < 2) out += static_cast<char>((acc >> 8) & 0xFF);
    if (!last || pad < 1) out += static_cast<char>(acc & 0xFF);
  }
  return out;
}

}  // namespace herald
