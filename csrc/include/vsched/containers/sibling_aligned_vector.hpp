// Storage for a D-ary heap whose sibling groups each fill exactly one cache
// line (containers/dary_heap.hpp takes it as its `Vec`).
//
// Why. In a D-ary heap the children of entry i are D*i+1 .. D*i+D, side by
// side. When D * sizeof(E) == 64 (four 16-byte entries) a sift reads one
// line per level, but only if entry 1 starts a line: in a plain array the
// groups start 16 bytes into a line and every group straddles two. So the
// entries are stored after `kPad` unused ones, in an allocation that is
// 64-byte aligned (HugePageAllocator aligns every block to 64 bytes or more):
// entry i lives at storage index i + kPad, and entry 1 at byte 64.
//
// The interface is the part of std::vector the heaps use; indices and sizes
// are the heap's (the padding is never visible). Contents and results are
// unaffected: this is a layout only. A moved-from vector may only be
// destroyed or assigned to.
#pragma once

#include <cstddef>
#include <utility>

#include "vsched/huge_pages.hpp"

namespace vsched {

template <class E, std::size_t D>
class SiblingAlignedVector {
public:
    static constexpr std::size_t kLine = 64;
    static_assert(D * sizeof(E) == kLine, "a sibling group must be exactly one cache line");
    static constexpr std::size_t kPad = kLine / sizeof(E) - 1;  // entry 1 at byte 64
    static_assert(HugePageAllocator<E>::kMinAlign % kLine == 0, "storage must be line-aligned");

    using value_type = E;

    SiblingAlignedVector() : v_(kPad) {}

    std::size_t size() const { return v_.size() - kPad; }
    bool empty() const { return v_.size() == kPad; }
    std::size_t capacity() const { return v_.capacity() - kPad; }
    E& operator[](std::size_t i) { return v_[i + kPad]; }
    const E& operator[](std::size_t i) const { return v_[i + kPad]; }
    E& front() { return v_[kPad]; }
    const E& front() const { return v_[kPad]; }
    E& back() { return v_.back(); }
    const E& back() const { return v_.back(); }
    const E* begin() const { return v_.data() + kPad; }
    const E* end() const { return v_.data() + v_.size(); }

    void push_back(const E& e) { v_.push_back(e); }
    void pop_back() { v_.pop_back(); }
    void resize(std::size_t n) { v_.resize(n + kPad); }
    void reserve(std::size_t n) { v_.reserve(n + kPad); }
    void clear() { v_.resize(kPad); }

private:
    HugeVector<E> v_;
};

}  // namespace vsched
