// herald-logdump: prints the records of a herald segment log (journal or
// history directory) as JSON lines, read-only, without locking: safe to run
// beside a live heraldd. Stops quietly at a torn tail of the active segment.
//
//   herald-logdump var/history          one history record (JSON) per line
//   herald-logdump --raw var/journal    {"segment":N,"type":T,"record":{...},"event":{...}}
//                                       (an accepted record, type 5, shows its header as JSON)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/history/segment_history_log.hpp"
#include "core/journal/journal.hpp"
#include "core/storage/log_format.hpp"

namespace fs = std::filesystem;
using namespace herald;

int main(int argc, char** argv) {
  bool raw = false;
  fs::path dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--raw") raw = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: herald-logdump [--raw] DIR\n");
      return 0;
    } else dir = a;
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: herald-logdump [--raw] DIR\n");
    return 2;
  }
  std::error_code ec;
  std::vector<std::pair<uint64_t, fs::path>> segments;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (auto n = parse_segment_file_name(e.path().filename().string())) segments.emplace_back(*n, e.path());
  if (ec) {
    std::fprintf(stderr, "herald-logdump: %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::sort(segments.begin(), segments.end());
  int rc = 0;
  std::string line;
  for (const auto& [number, path] : segments) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});
    auto header = decode_segment_header(data);
    if (!header) {
      std::fprintf(stderr, "herald-logdump: %s: bad segment header\n", path.c_str());
      rc = 1;
      continue;
    }
    auto scan = scan_records(std::string_view(data).substr(kSegmentHeaderSize), *header,
                             [&](uint8_t type, std::string_view payload, size_t) {
                               if (!raw) {
                                 // A history record, stored compact or as JSON; anything
                                 // else (a journal's records) as it is.
                                 line.clear();
                                 if (!history_record_json(type, payload, line)) line.assign(payload);
                                 line += '\n';
                                 std::fwrite(line.data(), 1, line.size(), stdout);
                                 return;
                               }
                               // A journal record: a JSON header line and the event's text,
                               // or since session 34 an accepted record in varints.
                               std::string_view head = payload, event;
                               bool has_event = false;
                               if (type == kJournalAcceptedCompact && journal_accepted_json(payload, line, event)) {
                                 head = line;
                                 has_event = true;
                               } else if (auto nl = payload.find('\n'); nl != std::string_view::npos) {
                                 head = payload.substr(0, nl);
                                 event = payload.substr(nl + 1);
                                 has_event = true;
                               }
                               std::printf("{\"segment\":%llu,\"type\":%u,\"record\":%.*s",
                                           static_cast<unsigned long long>(number), unsigned(type), int(head.size()),
                                           head.data());
                               if (has_event) std::printf(",\"event\":%.*s", int(event.size()), event.data());
                               std::printf("}\n");
                             });
    if (scan.stop == ScanStop::corrupt) {
      std::fprintf(stderr, "herald-logdump: %s: %s after %zu records\n", path.c_str(), scan.reason.c_str(),
                   scan.records);
      rc = 1;
    }
  }
  return rc;
}
