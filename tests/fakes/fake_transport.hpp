#pragma once
// A scripted Transport for dispatcher tests: answers each attempt from a
// per-message-id script (default: delivered) and records every attempt.
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/delivery/delivery_ledger.hpp"
#include "core/delivery/transport.hpp"
#include "core/history/history_log.hpp"

namespace herald {

class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::string name = "fake") : name_(std::move(name)) {}

  const std::string& name() const override { return name_; }
  size_t lanes() const override { return lane_count; }

  boost::asio::awaitable<void> send_batch(size_t lane, std::span<const RenderedMessage* const> batch,
                                          std::span<DeliveryOutcome> outcomes) override {
    batches.push_back(batch.size());
    lanes_used.push_back(lane);
    for (size_t i = 0; i < batch.size(); ++i) {
      attempts.push_back(batch[i]->message_id);
      auto& script = scripts[batch[i]->message_id];
      if (script.empty()) {
        outcomes[i] = {DeliveryStatus::delivered, "ok"};
      } else {
        outcomes[i] = script.front();
        script.pop_front();
      }
    }
    co_return;
  }

  boost::asio::awaitable<void> shutdown() override {
    shut_down = true;
    co_return;
  }

  std::map<std::string, std::deque<DeliveryOutcome>> scripts;
  std::vector<std::string> attempts;
  std::vector<size_t> batches;
  std::vector<size_t> lanes_used;
  size_t lane_count = 1;
  bool shut_down = false;

 private:
  std::string name_;
};

// Collects history records in memory.
class MemoryHistoryLog final : public HistoryLog {
 public:
  void append(const HistoryRecord& r) override { records.push_back(r); }
  void flush() override {}
  std::vector<HistoryRecord> records;
};

// Collects ledger reports in memory.
class MemoryLedger final : public DeliveryLedger {
 public:
  struct Entry {
    std::string message_id;
    MessageState state;
    int attempt;
    std::string detail;
  };
  void record_attempt(const RenderedMessage& msg, MessageState state, std::string_view detail,
                      std::chrono::system_clock::time_point) override {
    entries.push_back({msg.message_id, state, msg.attempt, std::string(detail)});
  }
  std::vector<Entry> entries;
};

}  // namespace herald
