// An allocator for the large, randomly accessed arrays of the engines (page
// tables of guest pages, LRU-K records, hash buckets). Blocks of 2 MiB or more
// are 2 MiB-aligned and advised as transparent huge pages on Linux: a random
// access into a gigabyte of 4 KiB pages misses the TLB nearly every time, and
// the page walk (itself a cache miss) then dominates. Smaller blocks are
// 64-byte aligned (they start a cache line: a container can then place its
// entries on line boundaries). Purely a performance hint: contents and results
// are unaffected.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace vsched {

template <class T>
struct HugePageAllocator {
    using value_type = T;
    static constexpr std::size_t kHugePage = std::size_t(2) << 20;
    static constexpr std::size_t kMinAlign = 64;  // every block starts a cache line

    HugePageAllocator() noexcept = default;
    template <class U>
    HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        if (bytes >= kHugePage) {
            const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
            void* p = std::aligned_alloc(kHugePage, rounded);
            if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            madvise(p, rounded, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
            return static_cast<T*>(p);
        }
        // aligned_alloc wants a size that is a multiple of the alignment.
        void* p = std::aligned_alloc(kMinAlign, bytes == 0 ? kMinAlign : (bytes + kMinAlign - 1) / kMinAlign * kMinAlign);
        if (p == nullptr) throw std::bad_alloc();
        return static_cast<T*>(p);
    }

    void deallocate(T* p, std::size_t) noexcept { std::free(p); }

    template <class U>
    bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

template <class T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace vsched
