#pragma once
// JsonlHistoryLog: history as one JSON object per line in <dir>/history.jsonl.
// Records get a monotonic `id` (per process start, prefixed by the start time
// so ids stay unique across restarts) and `recorded_at`.
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "core/history/history_log.hpp"
#include "core/util/log.hpp"
#include "core/util/metrics.hpp"

namespace herald {

class JsonlHistoryLog final : public HistoryLog {
 public:
  // Throws std::runtime_error if the directory or file cannot be opened.
  JsonlHistoryLog(const std::filesystem::path& dir, Logger& log, MetricsRegistry& metrics);
  ~JsonlHistoryLog() override;

  void append(const HistoryRecord& record) override;
  void flush() override;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  Logger& log_;
  Counter& errors_;
  Counter& written_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::string id_prefix_;
  uint64_t seq_ = 0;
};

}  // namespace herald
