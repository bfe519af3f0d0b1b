#pragma once
// On-disk format of a segmented append-only log (journal and history).
//
//   <dir>/<segment number, 20 digits>.log
//
//   segment header (32 bytes, little-endian)
//     0  magic   "HRLDSEG1"
//     8  u32     format version (1 or 2)
//     12 u32     header size (32)
//     16 u64     segment number
//     24 u32     CRC32C of bytes 0..23
//     28 u32     reserved (0)
//   records, back to back, never spanning segments:
//     0  u32     payload length
//     4  u32     CRC32C of bytes 0..3 and 8..(12+length)
//     8  u8      record type (1..255; 0 never occurs, so zero-filled tails stop)
//     9  u8[3]   salt: version 2, the low 24 bits of the segment number;
//                version 1, zeros
//     12 payload
//   version 2: an end marker, 12 zero bytes, follows the last record.
//
// A record is valid only if its whole frame is present, its salt is the
// segment's and its CRC matches. Like Postfix queue files and the LevelDB
// WAL, the reader stops at the first invalid frame: in the newest segment
// that is a torn tail (truncated on recovery), anywhere else it is
// corruption (reported).
//
// Why version 2: a journal reuses the files of removed segments (PostgreSQL
// recycles its WAL segments the same way) instead of writing every byte
// twice, first as the zeros a new file is filled ahead with, then as
// records. A reused file still holds its old records after the new ones.
// Each commit writes an end marker after its records, so a reader knows
// where they stop; and a torn write can leave old bytes in the middle of new
// ones, where an old record may start exactly at a frame boundary: its salt
// (another segment's number) tells it from a new one.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

inline constexpr std::string_view kSegmentMagic = "HRLDSEG1";
inline constexpr uint32_t kSegmentVersion = 2;  // written; 1 is still read
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kRecordHeaderSize = 12;
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;

struct SegmentHeader {
  uint64_t number = 0;
  uint32_t version = kSegmentVersion;
  // What its records carry in bytes 9..11.
  uint32_t salt() const { return version >= 2 ? uint32_t(number & 0xFFFFFF) : 0; }
};

void encode_segment_header(std::string& out, uint64_t segment);
// Nullopt when the header is short, foreign or corrupt.
std::optional<SegmentHeader> decode_segment_header(std::string_view data);

// Appends one framed, sealed record to `out` (tools and tests; a log's
// writers use begin_record/end_record and the log seals what they framed).
void encode_record(std::string& out, uint8_t type, std::string_view payload, uint32_t salt = 0);

// A record framed in two steps, for a payload written straight into `out`
// (no payload string built and then copied): begin_record appends the header
// and returns where the frame starts; end_record, once the payload follows
// it, fills in its length. The salt and CRC are left for seal_records.
size_t begin_record(std::string& out, uint8_t type);
void end_record(std::string& out, size_t frame_start);
// Fills in the salt and CRC of every frame in `frames` (whole frames made by
// begin_record/end_record). The log does it just before writing them, once
// it knows their segment; the CRC is computed there, on the log's own
// thread, instead of on the thread that framed them.
void seal_records(char* frames, size_t size, uint32_t salt);
inline size_t framed_size(std::string_view payload) { return kRecordHeaderSize + payload.size(); }

// preallocated: the rest of the data is zeros, the space a log fills ahead of
// its records (a clean end, like `end`). marked: an end marker followed by
// other bytes, a reused segment's old contents (a clean end too, but in the
// newest segment they are cut: see SegmentLog).
enum class ScanStop { end, preallocated, marked, torn, corrupt };

struct ScanResult {
  size_t valid_bytes = 0;  // bytes of whole, valid records from the start of `data`
  size_t records = 0;
  ScanStop stop = ScanStop::end;
  std::string reason;  // why the scan stopped early
};

using RecordVisitor = std::function<void(uint8_t type, std::string_view payload, size_t offset)>;

// Walks the records in `data` (the bytes after a segment header). `torn`
// means the data ends inside a frame, or in zeros (preallocated or never
// written); `corrupt` means a complete frame failed its checks.
ScanResult scan_records(std::string_view data, const SegmentHeader& header, const RecordVisitor& visit);

std::string segment_file_name(uint64_t segment);
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

}  // namespace herald
