#include "transports/redis_ingest/redis_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "transports/tls/tls_client.hpp"

namespace herald {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using errc = boost::system::errc::errc_t;

void* ReplyArena::allocate(size_t bytes) {
  bytes = (bytes + 7) & ~size_t(7);
  if (bytes > left_) {
    // A big string gets a block of its own; the current one stays in use.
    const size_t size = std::max(bytes, kBlock);
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
    if (size > kBlock) return blocks_.back().get();
    next_ = blocks_.back().get();
    left_ = size;
  }
  void* p = next_;
  next_ += bytes;
  left_ -= bytes;
  return p;
}

namespace {

// hiredis' reply-object functions, building the same redisReply trees as its
// defaults (createReplyObject & co. in read.c) in the exec()'s arena.
ReplyArena& arena_of(const redisReadTask* task) { return *static_cast<ReplyArena*>(task->privdata); }

redisReply* new_node(const redisReadTask* task, int type) {
  auto* r = static_cast<redisReply*>(arena_of(task).allocate(sizeof(redisReply)));
  *r = redisReply{};
  r->type = type;
  if (task->parent) static_cast<redisReply*>(task->parent->obj)->element[task->idx] = r;
  return r;
}

void* create_string(const redisReadTask* task, char* str, size_t len) try {
  redisReply* r = new_node(task, task->type);
  r->str = static_cast<char*>(arena_of(task).allocate(len + 1));
  std::memcpy(r->str, str, len);
  r->str[len] = '\0';
  r->len = len;
  return r;
} catch (const std::bad_alloc&) {
  return nullptr;  // the reader reports out of memory
}

void* create_array(const redisReadTask* task, int elements) try {
  redisReply* r = new_node(task, REDIS_REPLY_ARRAY);
  if (elements > 0) {
    r->element = static_cast<redisReply**>(arena_of(task).allocate(sizeof(redisReply*) * size_t(elements)));
    std::fill_n(r->element, elements, nullptr);
  }
  r->elements = size_t(std::max(elements, 0));
  return r;
} catch (const std::bad_alloc&) {
  return nullptr;
}

void* create_integer(const redisReadTask* task, long long value) try {
  redisReply* r = new_node(task, REDIS_REPLY_INTEGER);
  r->integer = value;
  return r;
} catch (const std::bad_alloc&) {
  return nullptr;
}

void* create_nil(const redisReadTask* task) try {
  return new_node(task, REDIS_REPLY_NIL);
} catch (const std::bad_alloc&) {
  return nullptr;
}

// The arena frees nodes, including those of a reply cut short by an error.
void free_object(void*) {}

// hiredis takes the table by non-const pointer but never writes to it.
const redisReplyObjectFunctions kArenaReplies = {create_string, create_array, create_integer, create_nil,
                                                 free_object};

}  // namespace

std::string RedisEndpoint::describe() const {
  if (!unix_socket.empty()) return "unix:" + unix_socket;
  return std::string(tls ? "tls://" : "") + host + ":" + std::to_string(port);
}

void CommandBatch::add(std::span<const std::string_view> args) {
  argv_.clear();
  argvlen_.clear();
  for (auto a : args) {
    argv_.push_back(a.data());
    argvlen_.push_back(a.size());
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(argv_.size()), argv_.data(), argvlen_.data());
  if (len < 0 || !cmd) throw std::bad_alloc();
  wire_.append(cmd, static_cast<size_t>(len));
  redisFreeCommand(cmd);
  ++count_;
}

std::string_view reply_text(const redisReply* r) {
  if (!r) return {};
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return {r->str, r->len};
    default: return {};
  }
}

bool reply_is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

RedisConnection::RedisConnection(net::any_io_executor ex, RedisEndpoint endpoint)
    : ex_(ex), endpoint_(std::move(endpoint)), deadline_(ex), read_buffer_(64 * 1024) {}

RedisConnection::~RedisConnection() {
  if (reader_) redisReaderFree(reader_);
}

bool RedisConnection::is_open() const {
  return std::visit(
      [](const auto& s) -> bool {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, std::monostate>) return false;
        else if constexpr (std::is_same_v<T, std::unique_ptr<Tls>>) return s && s->lowest_layer().is_open();
        else return s.is_open();
      },
      stream_);
}

void RedisConnection::close() {
  error_code ignored;
  std::visit(
      [&](auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, std::unique_ptr<Tls>>) {
          if (s) s->lowest_layer().close(ignored);
        } else if constexpr (!std::is_same_v<T, std::monostate>) {
          s.close(ignored);
        }
      },
      stream_);
}

void RedisConnection::arm_deadline(std::chrono::milliseconds timeout) {
  timed_out_ = false;
  uint64_t gen = ++deadline_generation_;
  deadline_.expires_after(timeout);
  // Closing the socket is the one cancellation every stream type (and an
  // SSL stream mid-handshake) honours; a timed-out connection is dead anyway.
  deadline_.async_wait([this, gen](error_code ec) {
    if (ec || gen != deadline_generation_) return;
    timed_out_ = true;
    close();
  });
}

void RedisConnection::disarm_deadline() {
  ++deadline_generation_;
  deadline_.cancel();
}

net::awaitable<error_code> RedisConnection::connect(std::string& detail) {
  close();
  stream_ = std::monostate{};
  if (reader_) redisReaderFree(reader_);
  reader_ = redisReaderCreateWithFunctions(const_cast<redisReplyObjectFunctions*>(&kArenaReplies));
  if (!reader_) throw std::bad_alloc();  // its arena is set by the first exec()

  auto step_failed = [&](const char* step, const error_code& ec) {
    detail = std::string(step) + ": " + (timed_out_ ? std::string("timed out") : ec.message());
    return timed_out_ ? make_error_code(errc::timed_out) : ec;
  };

  arm_deadline(endpoint_.connect_timeout);
  if (!endpoint_.unix_socket.empty()) {
    Unix& s = stream_.emplace<Unix>(ex_);
    auto [ec] = co_await s.async_connect(net::local::stream_protocol::endpoint(endpoint_.unix_socket),
                                         net::as_tuple(net::use_awaitable));
    if (ec) {
      disarm_deadline();
      co_return step_failed("connect", ec);
    }
  } else {
    net::ip::tcp::resolver resolver(ex_);
    auto [rec, results] = co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                                                          net::as_tuple(net::use_awaitable));
    if (rec) {
      disarm_deadline();
      co_return step_failed("resolve", rec);
    }
    Tcp& s = stream_.emplace<Tcp>(ex_);
    auto [cec, ep] = co_await net::async_connect(s, results, net::as_tuple(net::use_awaitable));
    if (cec) {
      disarm_deadline();
      co_return step_failed("connect", cec);
    }
    (void)ep;
    s.set_option(net::ip::tcp::no_delay(true));
    if (endpoint_.tls) {
      if (!tls_context_) {
        if (auto ca_ec = make_tls_client_context(endpoint_.tls_ca_file, endpoint_.tls_verify, tls_context_)) {
          disarm_deadline();
          close();
          co_return step_failed("TLS CA certificates", ca_ec);
        }
      }
      auto tls = std::make_unique<Tls>(std::move(s), *tls_context_);
      prepare_tls_client(*tls, endpoint_.tls_server_name.empty() ? endpoint_.host : endpoint_.tls_server_name,
                         endpoint_.tls_verify);
      stream_ = std::move(tls);
      auto& t = *std::get<std::unique_ptr<Tls>>(stream_);
      auto [hec] = co_await t.async_handshake(ssl::stream_base::client, net::as_tuple(net::use_awaitable));
      if (hec) {
        disarm_deadline();
        co_return step_failed("TLS handshake", hec);
      }
    }
  }
  disarm_deadline();

  CommandBatch hello;
  if (!endpoint_.password.empty()) {
    if (endpoint_.username.empty()) hello.add({"AUTH", endpoint_.password});
    else hello.add({"AUTH", endpoint_.username, endpoint_.password});
  }
  std::string db = std::to_string(endpoint_.db);
  if (endpoint_.db != 0) hello.add({"SELECT", db});
  if (hello.empty()) co_return error_code{};
  std::vector<RedisReply> replies;
  if (auto ec = co_await exec(hello, replies, endpoint_.connect_timeout)) co_return step_failed("AUTH/SELECT", ec);
  for (const auto& r : replies) {
    if (reply_is_error(r.get())) {
      detail = "server refused AUTH/SELECT: " + std::string(reply_text(r.get()));
      close();
      co_return make_error_code(errc::permission_denied);
    }
  }
  co_return error_code{};
}

net::awaitable<error_code> RedisConnection::exec(const CommandBatch& batch, std::vector<RedisReply>& replies,
                                                 std::chrono::milliseconds timeout) {
  replies.clear();
  if (!is_open()) co_return make_error_code(errc::not_connected);
  arm_deadline(timeout);
  auto finish = [&](error_code ec) {
    disarm_deadline();
    if (timed_out_) ec = make_error_code(errc::timed_out);
    if (ec) close();
    return ec;
  };

  error_code ec;
  auto buffer = net::buffer(batch.wire());
  if (auto* s = std::get_if<Tcp>(&stream_)) {
    std::tie(ec, std::ignore) = co_await net::async_write(*s, buffer, net::as_tuple(net::use_awaitable));
  } else if (auto* u = std::get_if<Unix>(&stream_)) {
    std::tie(ec, std::ignore) = co_await net::async_write(*u, buffer, net::as_tuple(net::use_awaitable));
  } else {
    auto& t = *std::get<std::unique_ptr<Tls>>(stream_);
    std::tie(ec, std::ignore) = co_await net::async_write(t, buffer, net::as_tuple(net::use_awaitable));
  }
  if (ec) co_return finish(ec);

  // A fresh arena for these replies, unless the reader is inside a reply
  // (bytes Redis sent unasked), whose nodes are in the current one.
  if (reader_->ridx == -1) {
    arena_ = std::make_shared<ReplyArena>();
    reader_->privdata = arena_.get();
  }
  while (replies.size() < batch.count()) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) co_return finish(make_error_code(errc::protocol_error));
    if (reply) {
      replies.emplace_back(static_cast<redisReply*>(reply), arena_);
      continue;
    }
    size_t n = 0;
    auto into = net::buffer(read_buffer_);
    if (auto* s = std::get_if<Tcp>(&stream_)) {
      std::tie(ec, n) = co_await s->async_read_some(into, net::as_tuple(net::use_awaitable));
    } else if (auto* u = std::get_if<Unix>(&stream_)) {
      std::tie(ec, n) = co_await u->async_read_some(into, net::as_tuple(net::use_awaitable));
    } else {
      auto& t = *std::get<std::unique_ptr<Tls>>(stream_);
      std::tie(ec, n) = co_await t.async_read_some(into, net::as_tuple(net::use_awaitable));
    }
    if (ec) co_return finish(ec);
    if (redisReaderFeed(reader_, read_buffer_.data(), n) != REDIS_OK)
      co_return finish(make_error_code(errc::protocol_error));
  }
  co_return finish(error_code{});
}

}  // namespace herald
