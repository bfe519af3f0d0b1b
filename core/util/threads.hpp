#pragma once
// Thread identity for operators and the scheduler.
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace herald {

// Names the calling thread (Linux keeps 15 bytes), so `top -H`, perf and
// gdb tell heraldd's threads apart. The main thread keeps the process name:
// `pgrep -x heraldd` and systemd go by it.
inline void name_this_thread(std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

// Lowers the calling thread's CPU priority: its nice value becomes the
// process's (its main thread's) plus `nice_increment`, 19 at most; 0 leaves
// it. For threads whose work nobody waits on (merges, segment preparation,
// retention, removal of old files), as RocksDB lowers its compactions':
// when every core is busy, an accept or a delivery that wakes up preempts
// them instead of waiting out their slice, and they still run whenever a
// core is free. On Linux the nice value belongs to the thread
// (setpriority(2) with its tid), and a new thread inherits its creator's:
// counted from the process's, a remover started by a niced merge thread
// gets the same value as one started by the flusher. Best effort: on
// failure the thread keeps its priority. Returns its nice value afterwards.
inline int make_this_thread_background(int nice_increment) {
  const auto tid = static_cast<id_t>(gettid());
  const int now = getpriority(PRIO_PROCESS, tid);
  if (nice_increment <= 0) return now;
  errno = 0;
  const int process = getpriority(PRIO_PROCESS, static_cast<id_t>(getpid()));
  if (process == -1 && errno != 0) return now;
  const int target = std::min(19, process + nice_increment);
  if (target == now || setpriority(PRIO_PROCESS, tid, target) != 0) return now;
  return target;
}

}  // namespace herald
