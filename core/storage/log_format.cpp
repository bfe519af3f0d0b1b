#include "core/storage/log_format.hpp"

#include <charconv>
#include <cstring>

#include "core/storage/crc32c.hpp"
#include "core/util/fixed_width.hpp"

namespace herald {
namespace {

// Replay asks this of whole segment tails (up to 64 MB), a block at a time.
bool all_zero(std::string_view s) {
  static constexpr char kZeros[4096] = {};
  for (; s.size() > sizeof kZeros; s.remove_prefix(sizeof kZeros))
    if (std::memcmp(s.data(), kZeros, sizeof kZeros) != 0) return false;
  return std::memcmp(s.data(), kZeros, s.size()) == 0;
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

std::optional<SegmentHeader> decode_segment_header(std::string_view d) {
  if (d.size() < kSegmentHeaderSize) return std::nullopt;
  if (d.substr(0, 8) != kSegmentMagic) return std::nullopt;
  const uint32_t version = get_u32(d.data() + 8);
  if (version < 1 || version > kSegmentVersion || get_u32(d.data() + 12) != kSegmentHeaderSize) return std::nullopt;
  if (get_u32(d.data() + 24) != crc32c(d.substr(0, 24))) return std::nullopt;
  return SegmentHeader{get_u64(d.data() + 16), version};
}

namespace {

uint32_t frame_salt(const char* frame) {
  return uint32_t(uint8_t(frame[9])) | uint32_t(uint8_t(frame[10])) << 8 | uint32_t(uint8_t(frame[11])) << 16;
}

uint32_t frame_crc(const char* frame, size_t payload) {
  return crc32c_extend(crc32c_extend(0, frame, 4), frame + 8, 4 + payload);
}

}  // namespace

size_t begin_record(std::string& out, uint8_t type) {
  const size_t start = out.size();
  out.resize(start + kRecordHeaderSize);  // length by end_record, salt and CRC by seal_records
  char* frame = out.data() + start;
  std::memset(frame, 0, kRecordHeaderSize);
  frame[8] = static_cast<char>(type);
  return start;
}

void end_record(std::string& out, size_t frame_start) {
  store_u32(out.data() + frame_start, static_cast<uint32_t>(out.size() - frame_start - kRecordHeaderSize));
}

void seal_records(char* frames, size_t size, uint32_t salt) {
  for (char* frame = frames; frame < frames + size;) {
    const uint32_t payload = get_u32(frame);
    frame[9] = static_cast<char>(salt);
    frame[10] = static_cast<char>(salt >> 8);
    frame[11] = static_cast<char>(salt >> 16);
    store_u32(frame + 4, frame_crc(frame, payload));
    frame += kRecordHeaderSize + payload;
  }
}

void encode_record(std::string& out, uint8_t type, std::string_view payload, uint32_t salt) {
  const size_t start = begin_record(out, type);
  out.append(payload);
  end_record(out, start);
  seal_records(out.data() + start, out.size() - start, salt);
}

ScanResult scan_records(std::string_view data, const SegmentHeader& header, const RecordVisitor& visit) {
  ScanResult r;
  const uint32_t salt = header.salt();
  const bool marked = header.version >= 2;  // an end marker follows the last record
  // Version 2: the frame at `next` is one of this segment's (not an end
  // marker, not an earlier use of the file's bytes).
  auto ours = [&](std::string_view next) {
    return next.size() >= kRecordHeaderSize && frame_salt(next.data()) == salt &&
           !all_zero(next.substr(0, kRecordHeaderSize));
  };
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
    if (marked && all_zero(rest.substr(0, kRecordHeaderSize))) {
      // The end marker. Zeros up to the end: a new file's space filled
      // ahead; anything else: a reused file's old bytes.
      r.stop = all_zero(rest) ? ScanStop::preallocated : ScanStop::marked;
      r.reason = r.stop == ScanStop::marked ? "bytes of an earlier use of the file after the end marker"
                                            : "zero-filled space after the last record";
      break;
    }
    if (!marked && type == 0 && len == 0 && all_zero(rest.substr(0, std::min<size_t>(rest.size(), 4096)))) {
      // Zeros up to the end: space filled ahead of the records. Zeros followed
      // by anything else: a tear (a write whose first pages never landed).
      const bool to_the_end = all_zero(rest);
      r.stop = to_the_end ? ScanStop::preallocated : ScanStop::torn;
      r.reason = to_the_end ? "zero-filled space after the last record" : "zero-filled tear";
      break;
    }
    // Version 2: bytes whose salt is not this segment's are what a write
    // that never landed left of the file's earlier use (or a frame it cut).
    const bool foreign = marked && frame_salt(rest.data()) != salt;
    if (len > kMaxRecordPayload) {
      r.stop = foreign ? ScanStop::torn : ScanStop::corrupt;
      r.reason = "record length " + std::to_string(len) + " exceeds the maximum";
      break;
    }
    if (rest.size() < kRecordHeaderSize + len) {
      r.stop = ScanStop::torn;
      r.reason = "incomplete record payload";
      break;
    }
    if (frame_crc(rest.data(), len) != get_u32(rest.data() + 4) || type == 0 ||
        (!marked && frame_salt(rest.data()) != salt)) {
      // A bad frame that reaches exactly the end of the data (or is followed
      // only by space filled ahead, or by bytes that are not this segment's)
      // is the classic torn write: the last write was cut. Anything before
      // other records is corruption.
      const std::string_view after = rest.substr(kRecordHeaderSize + len);
      const bool torn = foreign || (marked ? !ours(after) : all_zero(after));
      r.stop = torn ? ScanStop::torn : ScanStop::corrupt;
      r.reason = "record checksum mismatch";
      break;
    }
    if (foreign) {
      // Whole and valid, but another segment's: a record of the file's
      // earlier use, where a write of this segment's never landed.
      r.stop = ScanStop::torn;
      r.reason = "a record of an earlier use of the file";
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
