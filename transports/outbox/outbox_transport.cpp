#include "transports/outbox/outbox_transport.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

#include <boost/json/serialize.hpp>

#include "core/render/sms_text.hpp"
#include "core/storage/file_io.hpp"
#include "transports/mime/mime_builder.hpp"

namespace herald {

namespace net = boost::asio;
namespace fs = std::filesystem;

void OutboxTransport::build_sms_json(const RenderedMessage& msg, std::string& out) {
  SmsInfo info = analyze_sms(msg.text);
  boost::json::object o;
  o["id"] = msg.message_id;
  o["to"] = msg.to.empty() ? std::string() : msg.to[0].address;
  o["text"] = msg.text;
  o["encoding"] = to_string(info.encoding);
  o["units"] = info.units;
  o["segments"] = info.segments;
  o["template"] = msg.template_id;
  o["locale"] = msg.locale;
  if (msg.event) o["event"] = msg.event->id;
  out = boost::json::serialize(o);
  out += '\n';
}

OutboxTransport::OutboxTransport(std::string name, OutboxSettings settings, Logger& log)
    : name_(std::move(name)), settings_(std::move(settings)), log_(log) {
  fs::create_directories(settings_.dir / ".tmp");
}

OutboxTransport::~OutboxTransport() { io_pool_.join(); }

void OutboxTransport::write_batch(std::span<const RenderedMessage* const> batch, std::span<DeliveryOutcome> outcomes) {
  const fs::path tmp_dir = settings_.dir / ".tmp";
  std::vector<size_t> renamed;
  for (size_t i = 0; i < batch.size(); ++i) {
    const RenderedMessage& msg = *batch[i];
    const bool sms = msg.channel == "sms";
    if (sms) {
      build_sms_json(msg, buf_);
    } else {
      MimeBuilder::build(msg, buf_);
    }
    const std::string file = msg.message_id + (sms ? ".sms.json" : ".eml");
    fs::path tmp = tmp_dir / file;
    fs::path final_path = settings_.dir / file;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
      outcomes[i] = {DeliveryStatus::transient_failure, "open " + tmp.string() + ": " + std::strerror(errno)};
      continue;
    }
    std::error_code ec = pwrite_all(fd, buf_, 0);  // a fresh file (O_TRUNC)
    if (!ec && settings_.fsync && ::fdatasync(fd) != 0) ec = {errno, std::generic_category()};
    ::close(fd);
    if (ec) {
      ::unlink(tmp.c_str());
      outcomes[i] = {DeliveryStatus::transient_failure, "write " + tmp.string() + ": " + ec.message()};
      continue;
    }
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      outcomes[i] = {DeliveryStatus::transient_failure, "rename to " + final_path.string() + ": " + std::strerror(errno)};
      ::unlink(tmp.c_str());
      continue;
    }
    outcomes[i] = {DeliveryStatus::delivered, final_path.string()};
    renamed.push_back(i);
  }
  // One directory fsync makes every rename of the batch durable.
  if (!settings_.fsync || renamed.empty()) return;
  if (auto ec = fsync_directory(settings_.dir)) {
    // The code fsync_directory returns: errno may be close()'s by now.
    std::string why = "fsync " + settings_.dir.string() + ": " + ec.message();
    for (size_t i : renamed) outcomes[i] = {DeliveryStatus::transient_failure, why};
  }
}

net::awaitable<void> OutboxTransport::send_batch(size_t /*lane*/, std::span<const RenderedMessage* const> batch,
                                                 std::span<DeliveryOutcome> outcomes) {
  co_await net::co_spawn(
      io_pool_,
      [&]() -> net::awaitable<void> {
        write_batch(batch, outcomes);
        co_return;
      },
      net::use_awaitable);
}

net::awaitable<void> OutboxTransport::shutdown() { co_return; }

}  // namespace herald
