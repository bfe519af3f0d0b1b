#include "core/util/memory.hpp"

#include <malloc.h>

#include <cstddef>

// jemalloc's control interface, when heraldd is linked with it (weak: the
// tests and sanitizer builds use glibc's allocator).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen) __attribute__((weak));

namespace herald {

void release_free_memory() {
  if (mallctl) {
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: MALLCTL_ARENAS_ALL
    return;
  }
  malloc_trim(0);
}

}  // namespace herald
