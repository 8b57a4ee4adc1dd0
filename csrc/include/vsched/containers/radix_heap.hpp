// A radix heap with a side heap: a min-priority queue of 128-bit keys that is
// cheap when the keys pushed are mostly not below the last minimum taken out,
// and correct for any keys.
//
// Why. A d-ary heap of n entries pops by a walk of log_D(n) levels, each level's
// address known only after comparing the one above: on a heap larger than the
// caches every pop waits for a chain of dependent misses. A radix heap has no
// such walk. Its entries sit in buckets by how far they are from `last`, the
// last minimum taken out; a push appends to a bucket, a pop takes from the
// lowest one, and when that runs empty the next bucket up is scanned once and
// its entries are appended to lower buckets. All of it is sequential memory.
//
// Keys. An entry E is its key: members `std::uint64_t hi, lo` and nothing
// else; the order is (hi, lo) lexicographic, i.e. the 128-bit number
// hi * 2^64 + lo. (So entries equal in key are equal, and bucket 0 below is a
// count.)
//
// Buckets. For key x and last, b(x) = 0 if x == last, else 1 + the index of
// the highest bit in which x and last differ (0..127), so b(x) is in 0..128:
//   hi differ: b = 65 + msb(x.hi ^ last.hi) = 128 - clz(x.hi ^ last.hi)
//   else:      b = 1 + msb(x.lo ^ last.lo)  = 64 - clz(x.lo ^ last.lo)
// Bucket 0 is the number of entries equal to last; buckets 1..128 are lists of
// chunks of kChunk entries in one pool (all chunks of a list full but its
// tail), with a bit mask of the non-empty ones.
// Invariants, after every public call:
//   (R1) every radix entry x has x >= last and is in bucket b(x);
//   (R2) every side-heap entry is < last, hence below every radix entry;
//   (R3) if the radix part is not empty, bucket 0 is not (the minimum is at
//        hand: the side heap's top, else last).
// push(x): x < last goes into the side heap (a d-ary heap, containers/
// dary_heap.hpp; it holds what arrives out of order), else into bucket b(x);
// if the radix part was empty, last = x first (x is then the radix minimum,
// and the side entries are < the old last <= x), so bucket 0 gets it (R3).
// pop(): the side heap's top if any, else one entry of bucket 0; if bucket 0
// is then empty and entries remain, settle(): take the lowest non-empty bucket
// i, its minimum m, set last = m and move each entry x of bucket i to b(x) for
// the new last. Each goes lower: x and m agree with the old last above bit i-1
// and both have a 1 there, so x ^ m is below bit i-1 (b < i); entries of
// higher buckets j > i differ from the old last at bit j-1, where m agrees with
// it, so they stay in bucket j (R1). m goes to bucket 0 (R3); last only grows,
// so (R2) holds.
//
// Memory. For n radix entries the chunks in use are at most
//   sum over non-empty buckets of ceil(n_b / kChunk) <= n / kChunk + min(n, 128),
// plus 2 while settle() moves a bucket (its chunks are freed as they are read).
// The pool is grown to g(n) = ceil(n / kChunk) + min(n, 128) + 2 chunks before
// the radix part reaches n entries (n doubling), so a chunk is always free and
// the memory held is a function of the largest size reached only (as a
// vector's capacity is), whatever the keys.
//
// Complexity: push O(1) (side heap: O(log s)); pop O(1) amortised plus the
// moves of settle(): an entry moves only to a lower bucket, so at most 128
// times in all and in practice about log2 of its distance from last; a move
// is an append, and the bucket moved is scanned once for its minimum. The
// side heap costs O(log s) per push and pop for its s entries.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "vsched/containers/dary_heap.hpp"

namespace vsched {

template <class E, std::size_t D = 4>
class RadixHeap {
public:
    static constexpr std::size_t kChunk = 16;  // entries per chunk: 256 bytes
    static_assert(sizeof(E) == 2 * sizeof(std::uint64_t), "E is its key: hi and lo only");

    struct Before {  // the order: (hi, lo) lexicographic
        bool operator()(const E& a, const E& b) const { return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo; }
    };

    bool empty() const { return radix_size_ == 0 && side_.empty(); }
    std::size_t size() const { return radix_size_ + side_.size(); }

    // The minimum (not empty).
    const E& top() const { return side_.empty() ? last_ : side_.top(); }

    void push(const E& e) {
        if (Before{}(e, last_)) {
            side_.push(e);
            return;
        }
        if (radix_size_ == 0) last_ = e;  // (R3): see the file comment
        reserve(radix_size_ + 1);
        ++radix_size_;
        put(e);
    }

    // Removes the minimum (not empty).
    void pop() {
        if (!side_.empty()) {
            side_.pop();
            return;
        }
        --zero_;
        --radix_size_;
        if (zero_ == 0 && radix_size_ != 0) settle();
    }

    // The minimum replaced by e (not empty): a pop, then a push.
    void replace_top(const E& e) {
        pop();
        push(e);
    }

    // Every entry, in no particular order.
    template <class F>
    void for_each(F f) const {
        for (const E& e : side_.entries()) f(e);
        for (std::size_t j = 0; j < zero_; ++j) f(last_);
        for (int b = 1; b < kBuckets; ++b) visit_bucket(b, ~std::size_t(0), f);
    }

    // Up to n entries near the minimum: the side heap's first array entries
    // (its top and the levels below it), then last, then the radix buckets
    // from the lowest up. A hint for prefetching, not an order.
    template <class F>
    void for_each_near_top(std::size_t n, F f) const {
        const auto& side = side_.entries();
        for (std::size_t i = 0; i < side.size() && n != 0; ++i, --n) f(side[i]);
        if (n == 0 || radix_size_ == 0) return;
        f(last_);
        --n;
        for (std::uint64_t m = mask_[0]; m != 0 && n != 0; m &= m - 1) n = visit_bucket(1 + ctz(m), n, f);
        for (std::uint64_t m = mask_[1]; m != 0 && n != 0; m &= m - 1) n = visit_bucket(65 + ctz(m), n, f);
    }

    // Keeps the entries for which keep(e) is true, after keep may have raised
    // or lowered them; then rebuild(). O(size).
    template <class Keep>
    void filter_map(Keep keep) {
        std::vector<E> kept;
        kept.reserve(size());
        for_each([&](E e) {
            if (keep(e)) kept.push_back(e);
        });
        rebuild(kept);
    }

    // Takes `entries` (any order, any keys) as the whole content: last = their
    // minimum, every entry in the radix part, the side heap empty. O(size).
    void rebuild(const std::vector<E>& entries) {
        clear();
        if (entries.empty()) return;
        E m = entries[0];
        for (const E& e : entries) {
            if (Before{}(e, m)) m = e;
        }
        last_ = m;
        reserve(entries.size());
        radix_size_ = entries.size();
        for (const E& e : entries) put(e);
    }

    // Empties the queue; the memory is kept (as a vector's).
    void clear() {
        side_.clear();
        for (Bucket& k : buckets_) k = Bucket{};
        mask_[0] = mask_[1] = 0;
        zero_ = radix_size_ = 0;
        last_ = E{};
        const auto chunks = std::uint32_t(next_.size());
        for (std::uint32_t c = 0; c < chunks; ++c) next_[c] = c + 1 < chunks ? c + 1 : kNone;
        free_ = chunks != 0 ? 0 : kNone;
    }

    // Bytes held outside the object itself.
    std::size_t memory_bytes() const {
        return pool_.capacity() * sizeof(E) + next_.capacity() * sizeof(std::uint32_t) + side_.capacity() * sizeof(E);
    }

private:
    static constexpr int kBuckets = 129;
    static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
    struct Bucket {
        std::uint32_t head = kNone, tail = kNone;  // chunk lists through next_
        std::uint32_t fill = 0;                    // entries in the tail chunk
    };

    static int clz(std::uint64_t x) { return __builtin_clzll(x); }  // x != 0
    static int ctz(std::uint64_t x) { return __builtin_ctzll(x); }  // x != 0

    // g(n) of the file comment.
    static std::size_t chunks_for(std::size_t n) { return (n + kChunk - 1) / kChunk + std::min<std::size_t>(n, 128) + 2; }

    // Makes the pool hold g(n) chunks or more before the radix part holds n
    // entries; grows by doubling the size covered, so memory depends only on
    // the largest n.
    void reserve(std::size_t n) {
        if (n <= covered_) return;
        covered_ = std::max(n, 2 * covered_);
        const std::size_t old = next_.size(), want = chunks_for(covered_);
        if (want > 0xFFFFFFFEu) throw std::length_error("RadixHeap: too many entries");
        pool_.resize(want * kChunk);
        next_.resize(want);
        for (std::size_t c = want; c-- > old;) {  // new chunks onto the free list, lowest first
            next_[c] = free_;
            free_ = std::uint32_t(c);
        }
    }

    // b(e) for the current last_ (file comment).
    int bucket_of(const E& e) const {
        const std::uint64_t h = e.hi ^ last_.hi;
        if (h != 0) return 128 - clz(h);
        const std::uint64_t l = e.lo ^ last_.lo;
        return l != 0 ? 64 - clz(l) : 0;
    }

    // Appends e to bucket b(e): a count for 0, else the tail chunk of b's list
    // (a free chunk when it is full or the list is empty; mask bit b-1).
    void put(const E& e) {
        const int b = bucket_of(e);
        if (b == 0) {
            ++zero_;
            return;
        }
        Bucket& k = buckets_[b];
        if (k.fill == kChunk || k.tail == kNone) {
            const std::uint32_t c = free_;  // never kNone: see Memory in the file comment
            free_ = next_[c];
            next_[c] = kNone;
            if (k.tail == kNone) {
                k.head = c;
                mask_[(b - 1) >> 6] |= std::uint64_t(1) << ((b - 1) & 63);
            } else {
                next_[k.tail] = c;
            }
            k.tail = c;
            k.fill = 0;
        }
        pool_[std::size_t(k.tail) * kChunk + k.fill++] = e;
    }

    // Bucket 0 is empty and the radix part is not: redistribute the lowest
    // non-empty bucket around its minimum (file comment), freeing its chunks
    // as they are read.
    void settle() {
        const int w = mask_[0] != 0 ? 0 : 1;
        const int i = 1 + 64 * w + ctz(mask_[w]);
        mask_[w] &= mask_[w] - 1;
        const Bucket k = buckets_[i];
        buckets_[i] = Bucket{};
        E m = pool_[std::size_t(k.head) * kChunk];
        for (std::uint32_t c = k.head; c != kNone; c = next_[c]) {
            const E* chunk = &pool_[std::size_t(c) * kChunk];
            const std::size_t n = c == k.tail ? k.fill : kChunk;
            for (std::size_t j = 0; j < n; ++j) {
                if (Before{}(chunk[j], m)) m = chunk[j];
            }
        }
        last_ = m;
        for (std::uint32_t c = k.head; c != kNone;) {
            const std::size_t n = c == k.tail ? k.fill : kChunk;
            for (std::size_t j = 0; j < n; ++j) put(pool_[std::size_t(c) * kChunk + j]);  // b < i: never bucket i
            const std::uint32_t next = next_[c];
            next_[c] = free_;
            free_ = c;
            c = next;
        }
    }

    // Calls f on up to n entries of bucket b; returns n less the entries visited.
    template <class F>
    std::size_t visit_bucket(int b, std::size_t n, F& f) const {
        const Bucket& k = buckets_[b];
        for (std::uint32_t c = k.head; c != kNone && n != 0; c = next_[c]) {
            const std::size_t fill = c == k.tail ? k.fill : kChunk;
            for (std::size_t j = 0; j < fill && n != 0; ++j, --n) f(pool_[std::size_t(c) * kChunk + j]);
        }
        return n;
    }

    Bucket buckets_[kBuckets];  // buckets_[0] unused: bucket 0 is zero_
    std::uint64_t mask_[2] = {0, 0};  // non-empty buckets: 1..64 in [0], 65..128 in [1], bit (b - 1) & 63
    std::size_t zero_ = 0;            // bucket 0: entries equal to last_
    std::size_t radix_size_ = 0;
    std::size_t covered_ = 0;  // the pool holds g(covered_) chunks
    E last_{};
    std::vector<E> pool_;                // chunk c = pool_[c * kChunk, (c + 1) * kChunk)
    std::vector<std::uint32_t> next_;    // next chunk of c's list (a bucket's or the free list)
    std::uint32_t free_ = kNone;
    DaryHeap<E, Before, D> side_;
};

}  // namespace vsched
