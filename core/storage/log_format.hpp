#pragma once
// On-disk format of a segmented append-only log (journal and history).
//
//   <dir>/<segment number, 20 digits>.log
//
//   segment header (32 bytes, little-endian)
//     0  magic   "HRLDSEG1"
//     8  u32     format version (1)
//     12 u32     header size (32)
//     16 u64     segment number
//     24 u32     CRC32C of bytes 0..23
//     28 u32     reserved (0)
//   records, back to back, never spanning segments:
//     0  u32     payload length
//     4  u32     CRC32C of bytes 0..3 and 8..(12+length)
//     8  u8      record type (1..255; 0 never occurs, so zero-filled tails stop)
//     9  u8[3]   reserved (0)
//     12 payload
//
// A record is valid only if its whole frame is present and its CRC matches.
// Like Postfix queue files and the LevelDB WAL, the reader stops at the first
// invalid frame: in the newest segment that is a torn tail (truncated on
// recovery), anywhere else it is corruption (reported).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

inline constexpr std::string_view kSegmentMagic = "HRLDSEG1";
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kRecordHeaderSize = 12;
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;

void encode_segment_header(std::string& out, uint64_t segment);
// The segment number, or nullopt when the header is short, foreign or corrupt.
std::optional<uint64_t> decode_segment_header(std::string_view data);

// Appends one framed record to `out`.
void encode_record(std::string& out, uint8_t type, std::string_view payload);

// The same in two steps, for a payload written straight into `out` (no
// payload string built and then copied): begin_record appends the header and
// returns where the frame starts; end_record, once the payload follows it,
// fills in its length and CRC.
size_t begin_record(std::string& out, uint8_t type);
void end_record(std::string& out, size_t frame_start);
inline size_t framed_size(std::string_view payload) { return kRecordHeaderSize + payload.size(); }

// preallocated: the rest of the data is zeros, the space a log fills ahead of
// its records (a clean end, like `end`).
enum class ScanStop { end, preallocated, torn, corrupt };

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
ScanResult scan_records(std::string_view data, const RecordVisitor& visit);

std::string segment_file_name(uint64_t segment);
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

}  // namespace herald
