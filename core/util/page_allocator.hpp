#pragma once
// PageAllocator: a standard allocator that takes whole pages from the kernel
// (mmap) and gives them back at once (munmap), for large buffers that are
// built, copied and dropped (PartnerDirectory::Builder's chunks), and for
// arrays built one after another among short-lived allocations
// (PartnerDirectory's own, one per shard of a PartnerCatalog).
//
// Freed through malloc, such buffers stay resident until the allocator
// decays them (jemalloc: ~10 s), so a build that copies its chunks into
// exact-size arrays held both at once. Under AddressSanitizer it is
// operator new, so the sanitizer still checks these buffers' bounds.
#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace herald {

template <class T>
struct PageAllocator {
  using value_type = T;

  PageAllocator() = default;
  template <class U>
  PageAllocator(const PageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
#if defined(__SANITIZE_ADDRESS__)
    return static_cast<T*>(::operator new(n * sizeof(T)));
#else
    void* p = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
#endif
  }

  void deallocate(T* p, size_t n) noexcept {
#if defined(__SANITIZE_ADDRESS__)
    (void)n;
    ::operator delete(p);
#else
    munmap(p, n * sizeof(T));
#endif
  }

  friend bool operator==(const PageAllocator&, const PageAllocator&) noexcept { return true; }
};

}  // namespace herald
