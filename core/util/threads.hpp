#pragma once
// Thread identity for operators and the scheduler.
#include <pthread.h>

#include <string>

namespace herald {

// Names the calling thread (Linux keeps 15 bytes), so `top -H`, perf and
// gdb tell heraldd's threads apart. The main thread keeps the process name:
// `pgrep -x heraldd` and systemd go by it.
inline void name_this_thread(std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace herald
