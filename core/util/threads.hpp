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

// Lowers the calling thread's CPU priority by `nice_increment` (its nice
// value rises by that much, to 19 at most; 0 leaves it). For threads whose
// work nobody waits on (merges, maintenance, segment preparation, removal
// of old files), as RocksDB lowers its compactions': when every core is
// busy, an accept or a delivery that wakes up preempts them instead of
// waiting out their slice, and they still run whenever a core is free.
// On Linux the nice value belongs to the thread (setpriority(2) with its
// tid), not to the process. Best effort: on failure the thread keeps the
// daemon's priority. Returns the thread's nice value afterwards.
inline int make_this_thread_background(int nice_increment) {
  const auto tid = static_cast<id_t>(gettid());
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (nice_increment <= 0 || (now == -1 && errno != 0)) return now;
  const int target = std::min(19, now + nice_increment);
  if (setpriority(PRIO_PROCESS, tid, target) != 0) return now;
  return target;
}

}  // namespace herald
