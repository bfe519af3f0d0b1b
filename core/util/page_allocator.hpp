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
//
// HugePageAllocator (below): the same idea for arrays probed at random,
// mapped so that the kernel backs them with 2 MB pages.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
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

// HugePageAllocator: for arrays read at random, a key per cache line, at
// rates of a million keys a second (the finished-event filters, the
// journal's map of ids). Spread over 4 KB pages, such an array of megabytes
// also misses the TLB on nearly every key, and the page walk is one more
// trip to memory. An allocation of 2 MB or more is mapped 2 MB-aligned and
// marked MADV_HUGEPAGE, so the kernel backs it with transparent huge pages
// (in its default "madvise" mode, only memory so marked gets them); smaller
// ones are operator new's. Under AddressSanitizer all are operator new's.
template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    // (Room left for the rounding and the extra huge page below.)
    if (n > (static_cast<size_t>(-1) - 2 * kHugePage) / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = n * sizeof(T);
    if (!huge(bytes)) return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
    // Over-mapped by a huge page, then trimmed to an aligned start.
    const size_t length = rounded(bytes);
    void* p = mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(p, aligned - start);
    if (const size_t tail = start + kHugePage - aligned; tail > 0)
      munmap(reinterpret_cast<void*>(aligned + length), tail);
    madvise(reinterpret_cast<void*>(aligned), length, MADV_HUGEPAGE);  // advice: failing it is harmless
    return reinterpret_cast<T*>(aligned);
  }

  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (huge(bytes))
      munmap(p, rounded(bytes));
    else
      ::operator delete(p, std::align_val_t{alignof(T)});
  }

  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) noexcept { return true; }

 private:
  static bool huge([[maybe_unused]] size_t bytes) {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    return bytes >= kHugePage;
#endif
  }
  static size_t rounded(size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }
};

}  // namespace herald
