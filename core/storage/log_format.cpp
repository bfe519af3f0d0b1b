#include "core/storage/log_format.hpp"

#include <charconv>
#include <cstring>

#include "core/storage/crc32c.hpp"
#include "core/util/fixed_width.hpp"

namespace herald {
namespace {

bool all_zero(std::string_view s) {
  for (char c : s)
    if (c != 0) return false;
  return true;
}

}  // namespace

void encode_segment_header(std::string& out, uint64_t segment) {
  const size_t start = out.size();
  out.append(kSegmentMagic);
  put_u32(out, kSegmentVersion);
  put_u32(out, kSegmentHeaderSize);
  put_u64(out, segment);
  put_u32(out, crc32c(std::string_view(out).substr(start, 24)));
  put_u32(out, 0);
}

std::optional<uint64_t> decode_segment_header(std::string_view d) {
  if (d.size() < kSegmentHeaderSize) return std::nullopt;
  if (d.substr(0, 8) != kSegmentMagic) return std::nullopt;
  if (get_u32(d.data() + 8) != kSegmentVersion || get_u32(d.data() + 12) != kSegmentHeaderSize) return std::nullopt;
  if (get_u32(d.data() + 24) != crc32c(d.substr(0, 24))) return std::nullopt;
  return get_u64(d.data() + 16);
}

size_t begin_record(std::string& out, uint8_t type) {
  const size_t start = out.size();
  out.resize(start + kRecordHeaderSize);  // length and CRC filled by end_record
  char* frame = out.data() + start;
  std::memset(frame, 0, kRecordHeaderSize);
  frame[8] = static_cast<char>(type);
  return start;
}

void end_record(std::string& out, size_t frame_start) {
  char* frame = out.data() + frame_start;
  const size_t payload = out.size() - frame_start - kRecordHeaderSize;
  store_u32(frame, static_cast<uint32_t>(payload));
  const uint32_t crc = crc32c_extend(crc32c_extend(0, frame, 4), frame + 8, 4 + payload);
  store_u32(frame + 4, crc);
}

void encode_record(std::string& out, uint8_t type, std::string_view payload) {
  const size_t start = begin_record(out, type);
  out.append(payload);
  end_record(out, start);
}

ScanResult scan_records(std::string_view data, const RecordVisitor& visit) {
  ScanResult r;
  size_t off = 0;
  while (off < data.size()) {
    std::string_view rest = data.substr(off);
    if (rest.size() < kRecordHeaderSize) {
      r.stop = ScanStop::torn;
      r.reason = "incomplete record header";
      break;
    }
    const uint32_t len = get_u32(rest.data());
    const uint8_t type = static_cast<uint8_t>(rest[8]);
    if (type == 0 && len == 0 && all_zero(rest.substr(0, std::min<size_t>(rest.size(), 4096)))) {
      // Zeros up to the end: space filled ahead of the records. Zeros followed
      // by anything else: a tear (a write whose first pages never landed).
      const bool to_the_end = all_zero(rest);
      r.stop = to_the_end ? ScanStop::preallocated : ScanStop::torn;
      r.reason = to_the_end ? "zero-filled space after the last record" : "zero-filled tear";
      break;
    }
    if (len > kMaxRecordPayload) {
      r.stop = ScanStop::corrupt;
      r.reason = "record length " + std::to_string(len) + " exceeds the maximum";
      break;
    }
    if (rest.size() < kRecordHeaderSize + len) {
      r.stop = ScanStop::torn;
      r.reason = "incomplete record payload";
      break;
    }
    uint32_t crc = crc32c_extend(0, rest.data(), 4);
    crc = crc32c_extend(crc, rest.data() + 8, 4 + len);
    if (crc != get_u32(rest.data() + 4) || type == 0 || rest[9] || rest[10] || rest[11]) {
      // A bad frame that reaches exactly the end of the data (or is followed
      // only by space filled ahead) is the classic torn write: the last write
      // was cut. Anything before other records is corruption.
      r.stop = all_zero(rest.substr(kRecordHeaderSize + len)) ? ScanStop::torn : ScanStop::corrupt;
      r.reason = "record checksum mismatch";
      break;
    }
    if (visit) visit(type, rest.substr(kRecordHeaderSize, len), off);
    off += kRecordHeaderSize + len;
    ++r.records;
  }
  r.valid_bytes = off;
  return r;
}

std::string segment_file_name(uint64_t segment) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.log", static_cast<unsigned long long>(segment));
  return buf;
}

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".log") return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 20, v);
  if (ec != std::errc{} || p != name.data() + 20) return std::nullopt;
  return v;
}

}  // namespace herald
