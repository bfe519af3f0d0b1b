#pragma once
// OutboxTransport: the embedded default transport. Writes each e-mail as
// <dir>/<message_id>.eml (RFC 5322, CRLF) and each SMS as
// <dir>/<message_id>.sms.json (text, encoding, segment count), atomically: the bytes go to
// <dir>/.tmp/, are fsynced, then renamed into place and the directory is
// fsynced, so a reader never sees a partial file and a file that exists
// survives a crash. A retried message overwrites its own file (same id).
//
// File I/O blocks, so it runs on a private one-thread pool, never on the
// io_context threads.
#include <boost/asio/thread_pool.hpp>

#include <filesystem>

#include "core/config/settings.hpp"
#include "core/delivery/transport.hpp"
#include "core/util/log.hpp"

namespace herald {

class OutboxTransport final : public Transport {
 public:
  // Creates the directories; throws std::filesystem::filesystem_error.
  OutboxTransport(std::string name, OutboxSettings settings, Logger& log);
  ~OutboxTransport() override;

  const std::string& name() const override { return name_; }
  boost::asio::awaitable<void> send_batch(size_t lane, std::span<const RenderedMessage* const> batch,
                                          std::span<DeliveryOutcome> outcomes) override;
  boost::asio::awaitable<void> shutdown() override;

  // The .sms.json form of an SMS: one JSON object and a newline.
  static void build_sms_json(const RenderedMessage& msg, std::string& out);

  // Synchronous core of send_batch, usable without an executor.
  void write_batch(std::span<const RenderedMessage* const> batch, std::span<DeliveryOutcome> outcomes);

 private:
  std::string name_;
  OutboxSettings settings_;
  Logger& log_;
  boost::asio::thread_pool io_pool_{1};
  std::string buf_;
};

}  // namespace herald
