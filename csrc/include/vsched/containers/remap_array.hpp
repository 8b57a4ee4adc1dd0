// A growable array of trivially copyable values whose new elements are zero,
// grown without copying once it is large: its pages are moved, not copied.
//
// Why. LRU-K's records grow by 1/4 at a time as keys arrive (2x would cost
// memory per key). With std::vector every growth allocates a new block, the
// kernel zeroes its fresh pages, resize() writes zeros over them again and
// the old contents are copied across: the block sizes sum to ~5x the final
// array, which measured 12-15 % of LRU-K's batch loop. Here a large array
// (>= 2 MiB) is its own anonymous mapping, advised as transparent huge pages
// (huge_pages.hpp), and grows by mremap(MREMAP_MAYMOVE): the kernel moves the
// page tables and the old data stays where it is in physical memory; new
// pages are zero-filled once, when first touched. Small arrays live in
// malloc'd blocks (a mapping per small cache would waste a page each); the
// step past 2 MiB copies once. Elsewhere than Linux every block is malloc'd.
//
// Invariant: elements [size(), capacity()) are zero, so growing within the
// capacity writes nothing. Contents and results never depend on the path
// taken: this is about cost only.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace vsched {

template <class T>
class RemapArray {
    static_assert(std::is_trivially_copyable_v<T>, "RemapArray holds trivially copyable values");

public:
    static constexpr std::size_t kMapAt = std::size_t(2) << 20;  // bytes; also the mapping granule

    RemapArray() = default;
    RemapArray(const RemapArray&) = delete;
    RemapArray& operator=(const RemapArray&) = delete;
    RemapArray(RemapArray&& o) noexcept { swap(o); }
    RemapArray& operator=(RemapArray&& o) noexcept {
        RemapArray(std::move(o)).swap(*this);
        return *this;
    }
    ~RemapArray() { release(); }

    void swap(RemapArray& o) noexcept {
        std::swap(p_, o.p_);
        std::swap(size_, o.size_);
        std::swap(cap_, o.cap_);
        std::swap(map_bytes_, o.map_bytes_);
    }

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return cap_; }
    bool empty() const { return size_ == 0; }
    T* data() { return p_; }
    const T* data() const { return p_; }
    T& operator[](std::size_t i) { return p_[i]; }
    const T& operator[](std::size_t i) const { return p_[i]; }

    // Capacity for at least n elements (never shrinks). Throws std::bad_alloc
    // and leaves the array as it was if the memory is not there.
    void reserve(std::size_t n) {
        if (n <= cap_) return;
        if (n > (~std::size_t(0)) / sizeof(T) / 2) throw std::bad_alloc();
        std::size_t bytes = n * sizeof(T);
#if defined(__linux__)
        if (bytes >= kMapAt) {
            bytes = (bytes + kMapAt - 1) / kMapAt * kMapAt;
            grow_mapped(bytes);
            cap_ = bytes / sizeof(T);
            return;
        }
#endif
        void* q = std::realloc(p_, bytes);
        if (q == nullptr) throw std::bad_alloc();
        p_ = static_cast<T*>(q);
        std::memset(static_cast<void*>(p_ + cap_), 0, (n - cap_) * sizeof(T));  // the invariant
        cap_ = n;
    }

    // n elements; those beyond the old size are zero (grows the capacity to
    // exactly n if needed: the owner reserves ahead for its growth policy).
    void resize(std::size_t n) {
        if (n > cap_) reserve(n);
        if (n < size_) std::memset(static_cast<void*>(p_ + n), 0, (size_ - n) * sizeof(T));
        size_ = n;
    }

    // Becomes a copy of values[0..n) (capacity n, or its granule).
    void assign(const T* values, std::size_t n) {
        RemapArray fresh;
        fresh.resize(n);
        if (n) std::memcpy(static_cast<void*>(fresh.p_), values, n * sizeof(T));
        swap(fresh);
    }

private:
#if defined(__linux__)
    // To `bytes` (a multiple of kMapAt, more than now) as a mapping.
    void grow_mapped(std::size_t bytes) {
        void* q;
        if (map_bytes_ != 0) {
            q = mremap(p_, map_bytes_, bytes, MREMAP_MAYMOVE);
            if (q == MAP_FAILED) throw std::bad_alloc();
        } else {
            q = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q == MAP_FAILED) throw std::bad_alloc();
            if (size_) std::memcpy(q, static_cast<const void*>(p_), size_ * sizeof(T));  // the rest is zero
            std::free(p_);
        }
#if defined(MADV_HUGEPAGE)
        madvise(q, bytes, MADV_HUGEPAGE);  // a hint; failure is harmless (kept by later mremaps)
#endif
        p_ = static_cast<T*>(q);
        map_bytes_ = bytes;
    }
#endif

    void release() noexcept {
#if defined(__linux__)
        if (map_bytes_ != 0) {
            munmap(p_, map_bytes_);
            return;
        }
#endif
        std::free(p_);
    }

    T* p_ = nullptr;
    std::size_t size_ = 0, cap_ = 0;
    std::size_t map_bytes_ = 0;  // > 0: p_ is a mapping of this length
};

}  // namespace vsched
