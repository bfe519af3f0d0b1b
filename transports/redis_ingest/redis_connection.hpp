#pragma once
// RedisConnection: one Redis connection on the Asio event loop, pipelined.
//
// Why not hiredis' own I/O: the Debian 12 hiredis (0.14) has no TLS and its
// async API allocates a callback object per command and needs an adapter
// that re-arms fd watchers for every reply. herald's consumer is one
// sequential loop that sends a few commands per round trip (XACK of the
// previous batch + XREADGROUP of the next), so the connection does its own
// socket I/O with Asio (TCP, unix socket or TLS through OpenSSL, one write
// and as few reads as the replies need) and uses hiredis for what it is good
// at: the argument-vector command encoder (redisFormatCommandArgv: every
// argument is length-prefixed, so data is never formatted into a command
// string — RESP injection, RELIABILITY §2) and the RESP reply parser
// (redisReader). bench/redis_ingest_bench compares this loop with herald's.
//
// Not thread-safe: give it a strand executor and use it from one coroutine
// at a time.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <hiredis/hiredis.h>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string unix_socket;
  std::string username;
  std::string password;
  int db = 0;
  bool tls = false;
  std::filesystem::path tls_ca_file;
  std::string tls_server_name;
  bool tls_verify = true;
  std::chrono::milliseconds connect_timeout{5'000};

  std::string describe() const;  // for logs: "host:port", "unix:/path", "tls://host:port"
};

// Memory for the reply trees of one exec(): hiredis' reader builds
// ordinary redisReply nodes, but through reply-object functions
// (redisReaderCreateWithFunctions) that carve them out of a few large blocks
// instead of ~10 malloc/free pairs per stream entry, freed together when the
// last reply of the exec() is dropped. The frees happened on the thread that
// validated the batch, not the one that parsed it: with jemalloc ~5 000
// instructions per entry (callgrind), a fifth of Redis ingest.
class ReplyArena {
 public:
  void* allocate(size_t bytes);  // 8-byte aligned; throws std::bad_alloc

 private:
  static constexpr size_t kBlock = 256 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  size_t left_ = 0;
};

// A reply tree, keeping its arena alive; empty when moved from or reset.
class RedisReply {
 public:
  RedisReply() = default;
  RedisReply(redisReply* root, std::shared_ptr<const ReplyArena> arena) : root_(root), arena_(std::move(arena)) {}
  redisReply* get() const { return root_; }
  redisReply* operator->() const { return root_; }
  void reset() { *this = RedisReply(); }

 private:
  redisReply* root_ = nullptr;
  std::shared_ptr<const ReplyArena> arena_;
};

// Commands to send in one write; the replies come back in the same order.
class CommandBatch final {
 public:
  void add(std::span<const std::string_view> args);
  void add(std::initializer_list<std::string_view> args) { add(std::span(args.begin(), args.size())); }
  void clear() {
    wire_.clear();
    count_ = 0;
  }
  size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  const std::string& wire() const { return wire_; }

 private:
  std::string wire_;
  size_t count_ = 0;
  std::vector<const char*> argv_;  // reused: no per-command allocation here
  std::vector<size_t> argvlen_;
};

// Text of a reply of type status/error/string (empty for others).
std::string_view reply_text(const redisReply* r);
bool reply_is_error(const redisReply* r);

class RedisConnection final {
 public:
  RedisConnection(boost::asio::any_io_executor ex, RedisEndpoint endpoint);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects (TCP/unix), handshakes TLS, AUTHs and SELECTs. On error `detail`
  // says which step failed and why (including a server's error reply).
  boost::asio::awaitable<boost::system::error_code> connect(std::string& detail);

  // Sends the batch and reads one reply per command. Error replies are
  // replies (check reply_is_error); the error_code is for transport
  // failures, protocol errors and the deadline, after which the connection is
  // closed and must be connected again.
  boost::asio::awaitable<boost::system::error_code> exec(const CommandBatch& batch, std::vector<RedisReply>& replies,
                                                        std::chrono::milliseconds timeout);

  // Closes the socket; a pending exec() completes with an error. Call on the
  // connection's executor.
  void close();
  bool is_open() const;

 private:
  using Tcp = boost::asio::ip::tcp::socket;
  using Unix = boost::asio::local::stream_protocol::socket;
  using Tls = boost::asio::ssl::stream<Tcp>;

  void arm_deadline(std::chrono::milliseconds timeout);
  void disarm_deadline();

  boost::asio::any_io_executor ex_;
  RedisEndpoint endpoint_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  std::variant<std::monostate, Tcp, Unix, std::unique_ptr<Tls>> stream_;
  boost::asio::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  redisReader* reader_ = nullptr;
  // Where the reader puts the nodes of the replies being parsed (its
  // privdata); a new one for each exec().
  std::shared_ptr<ReplyArena> arena_;
  std::vector<char> read_buffer_;
};

}  // namespace herald
