#pragma once
// Nice values for tests of threads that lower their own priority
// (make_this_thread_background).
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

namespace herald {

// The calling thread's (on Linux each thread has its own).
inline int nice_of_this_thread() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

// This process's thread named `name` (/proc/self/task); nullopt when no
// thread has that name.
inline std::optional<int> nice_of_thread(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string comm_name;
    if (!std::getline(comm, comm_name) || comm_name != name) continue;
    std::ifstream stat_file(task.path() / "stat");
    const std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // "tid (comm) state ..." : the fields after the name start with the 3rd;
    // the nice value is the 19th (proc(5)).
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i)
      if (i == 19) return std::stoi(field);
  }
  return std::nullopt;
}

}  // namespace herald
