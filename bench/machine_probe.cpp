// herald-machine-probe: what this machine charges for the three things every
// herald figure is made of, so that results from two machines can be
// compared (bench/run.sh puts its output under "machine_probe" in
// latest.json):
//
//   syscall_ns       one trivial system call (getppid through syscall(2), which
//                    glibc cannot answer from a cache): the toll every read,
//                    write, epoll_wait and futex pays before doing any work
//   loopback_rtt_us  one byte there and back over a 127.0.0.1 TCP connection
//                    between two threads (TCP_NODELAY, blocking): a request
//                    and its answer with nothing in between, wake-ups included
//   fdatasync_ms     4 KB written at the end of a zero-filled file and
//                    fdatasync'ed, as the journal's group commit does: the
//                    floor of a durable accept
//
// On a virtual machine the first can be ten times a bare-metal figure, and
// then every scenario that makes a few system calls per event is bound by
// it, whatever heraldd does; the README's Performance section reads the
// figures this way.
//
//   herald-machine-probe [--dir DIR] [--syncs N] [--round-trips N]
//   (prints one JSON object; DIR defaults to $TMPDIR or /tmp)
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Sorted copy's value at quantile q (nearest rank).
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

// The median of five timed batches: one batch can meet a preemption on a
// shared machine, the median of five rarely does.
double syscall_ns() {
  constexpr int kCalls = 200'000;
  std::vector<double> batches;
  for (int b = 0; b < 5; ++b) {
    auto t0 = Clock::now();
    for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
    batches.push_back(seconds_since(t0) * 1e9 / kCalls);
  }
  return quantile(batches, 0.5);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {
    if (fd_ < 0) fail("open");
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

void exchange_byte(int fd, bool send_first) {
  char c = 'x';
  if (send_first && ::send(fd, &c, 1, 0) != 1) fail("send");
  if (::recv(fd, &c, 1, MSG_WAITALL) != 1) fail("recv");
  if (!send_first && ::send(fd, &c, 1, 0) != 1) fail("send");
}

std::vector<double> loopback_rtt_us(int round_trips) {
  Fd listener(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
  if (::listen(listener.get(), 1) != 0) fail("listen");
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname");
  Fd client(::socket(AF_INET, SOCK_STREAM, 0));
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
  Fd server(::accept(listener.get(), nullptr, nullptr));
  int one = 1;
  for (int fd : {client.get(), server.get()})
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) fail("TCP_NODELAY");
  // The echo side ends when the client shuts its end down (recv returns 0);
  // `stop` does that before `echo` is joined, also when a send or recv fails.
  std::jthread echo([fd = server.get()] {
    char c;
    while (::recv(fd, &c, 1, MSG_WAITALL) == 1)
      if (::send(fd, &c, 1, 0) != 1) return;
  });
  struct ShutdownOnExit {
    int fd;
    ~ShutdownOnExit() { ::shutdown(fd, SHUT_RDWR); }
  } stop{client.get()};
  for (int i = 0; i < round_trips / 10; ++i) exchange_byte(client.get(), true);  // warm-up
  std::vector<double> us;
  us.reserve(static_cast<size_t>(round_trips));
  for (int i = 0; i < round_trips; ++i) {
    auto t0 = Clock::now();
    exchange_byte(client.get(), true);
    us.push_back(seconds_since(t0) * 1e6);
  }
  return us;
}

std::vector<double> fdatasync_ms(const std::string& dir, int syncs) {
  constexpr size_t kBlock = 4096;
  const std::string path = dir + "/herald-machine-probe." + std::to_string(::getpid());
  Fd file(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ::unlink(path.c_str());  // gone from the directory however this ends
  // Zero-filled and synced first, so that no timed sync changes the size or
  // converts unwritten extents (heraldd's segments are filled ahead the same way).
  const size_t bytes = kBlock * static_cast<size_t>(syncs);
  std::string block(kBlock, '\0');
  for (size_t off = 0; off < bytes; off += kBlock)
    if (::pwrite(file.get(), block.data(), kBlock, static_cast<off_t>(off)) != static_cast<ssize_t>(kBlock))
      fail("pwrite");
  if (::fsync(file.get()) != 0) fail("fsync");
  block.assign(kBlock, 'r');
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(syncs));
  for (int i = 0; i < syncs; ++i) {
    auto t0 = Clock::now();
    if (::pwrite(file.get(), block.data(), kBlock, static_cast<off_t>(kBlock * static_cast<size_t>(i))) !=
        static_cast<ssize_t>(kBlock))
      fail("pwrite");
    if (::fdatasync(file.get()) != 0) fail("fdatasync");
    ms.push_back(seconds_since(t0) * 1e3);
  }
  return ms;
}

// A JSON string's contents: quotes and backslashes escaped, control characters dropped.
std::string json_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    auto colon = line.find(':');
    std::string name = colon == std::string::npos ? "" : line.substr(colon + 1);
    name.erase(0, name.find_first_not_of(' '));
    return name;
  }
  return "unknown";
}

bool has_hypervisor_flag() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags", 0) == 0) return line.find(" hypervisor") != std::string::npos;
  return false;
}

int positive_arg(const char* value, const char* name) {
  char* end = nullptr;
  long v = value ? std::strtol(value, &end, 10) : 0;
  if (!value || *end != '\0' || v < 10 || v > 1'000'000)
    throw std::invalid_argument(std::string(name) + " takes a number from 10 to 1000000");
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = tmp && *tmp ? tmp : "/tmp";
    int syncs = 300, round_trips = 20'000;
    for (int i = 1; i < argc; ++i) {
      std::string_view a = argv[i];
      const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
      if (a == "--dir" && value) dir = argv[++i];
      else if (a == "--syncs") syncs = positive_arg(value, "--syncs"), ++i;
      else if (a == "--round-trips") round_trips = positive_arg(value, "--round-trips"), ++i;
      else {
        std::fprintf(stderr, "usage: herald-machine-probe [--dir DIR] [--syncs N] [--round-trips N]\n");
        return 2;
      }
    }
    const double sys_ns = syscall_ns();
    const auto rtt = loopback_rtt_us(round_trips);
    const auto sync = fdatasync_ms(dir, syncs);
    std::printf(
        "{\"cpu_model\": \"%s\", \"cpus\": %u, \"hypervisor\": %s, \"syscall_ns\": %.0f, "
        "\"loopback_rtt_us\": {\"p50\": %.1f, \"p99\": %.1f, \"samples\": %d}, "
        "\"fdatasync_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f, \"samples\": %d, \"dir\": \"%s\"}}\n",
        json_text(cpu_model()).c_str(), std::thread::hardware_concurrency(), has_hypervisor_flag() ? "true" : "false", sys_ns,
        quantile(rtt, 0.5), quantile(rtt, 0.99), round_trips, quantile(sync, 0.5), quantile(sync, 0.99),
        quantile(sync, 1.0), syncs, json_text(dir).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "herald-machine-probe: %s\n", e.what());
    return 1;
  }
}
