#include "core/history/jsonl_history_log.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/util/time_format.hpp"

namespace herald {
namespace {

void field(std::string& out, const char* key, const std::string& v) {
  if (v.empty()) return;
  out += ",\"";
  out += key;
  out += "\":\"";
  append_json_escaped(out, v);
  out += '"';
}

}  // namespace

JsonlHistoryLog::JsonlHistoryLog(const std::filesystem::path& dir, Logger& log, MetricsRegistry& metrics)
    : path_(dir / "history.jsonl"),
      log_(log),
      errors_(metrics.counter("herald_history_write_errors_total", "History records that could not be written")),
      written_(metrics.counter("herald_history_records_total", "History records appended")) {
  std::filesystem::create_directories(dir);
  file_ = std::fopen(path_.c_str(), "ae");
  if (!file_) throw std::runtime_error("cannot open " + path_.string() + ": " + std::strerror(errno));
  auto now = std::chrono::system_clock::now();
  id_prefix_ = "h" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()) + "-";
}

JsonlHistoryLog::~JsonlHistoryLog() {
  if (file_) std::fclose(file_);
}

void JsonlHistoryLog::append(const HistoryRecord& r) {
  std::string line;
  line.reserve(512);
  std::string recorded_at = format_rfc3339_utc(std::chrono::system_clock::now());
  std::lock_guard lock(mutex_);
  line += "{\"id\":\"";
  line += id_prefix_;
  line += std::to_string(++seq_);
  line += '"';
  field(line, "at", r.at.empty() ? recorded_at : r.at);
  field(line, "recorded_at", recorded_at);
  field(line, "kind", r.kind);
  field(line, "direction", r.direction);
  field(line, "tenant", r.tenant);
  field(line, "partner", r.partner);
  field(line, "contact", r.contact);
  field(line, "document", r.document);
  field(line, "actor", r.actor);
  field(line, "on_behalf_of", r.on_behalf_of);
  field(line, "event_id", r.event_id);
  field(line, "event_type", r.event_type);
  field(line, "message_id", r.message_id);
  field(line, "template", r.template_id);
  field(line, "recipient", r.recipient);
  field(line, "transport", r.transport);
  field(line, "subject", r.subject);
  field(line, "status", r.status);
  field(line, "error", r.error);
  if (r.attempt) line += ",\"attempt\":" + std::to_string(r.attempt);
  line += "}\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    errors_.inc();
    log_.error("history write failed", {{"path", path_.string()}, {"error", std::strerror(errno)}});
    std::clearerr(file_);
    return;
  }
  written_.inc();
}

void JsonlHistoryLog::flush() {
  std::lock_guard lock(mutex_);
  std::fflush(file_);
}

}  // namespace herald
