// d-ary min-heaps: the sift algorithms over any random-access vector, a plain
// heap (DaryHeap) and an indexed heap with a position map (IndexedDaryHeap).
//
// Why d-ary. A binary heap of n entries is log2(n) levels deep and every level
// of a sift is a dependent load. With D = 4 the depth halves and a node's
// four children sit side by side (usually in one cache line), so a sift
// touches about half as many lines for a few more comparisons among siblings.
// The arity is a template parameter because it is part of the layout: heaps
// that are written into checkpoints keep the arity they were saved with.
//
// Layout. Entry i's children are D*i+1 .. D*i+D, its parent (i-1)/D. The
// invariant, after every public call: no entry is Before its parent, so
// entry 0 is a minimum.
//
// Sift order. Each algorithm is fixed here once and every heap uses it:
//   * sift_up: the hole climbs while the entry is Before the parent.
//   * sift_down (bottom-up, Floyd): the hole walks to a leaf along the
//     smallest child (the first of equal children), then the entry climbs
//     back while it is Before the parent. The entry moved down is usually a
//     large key (the last leaf after a pop, a refreshed recent key), so this
//     saves about one comparison per level.
//   * pop: the last entry takes the root's place and sifts down.
//   * build: sift_down from the last parent back to the root (O(n)).
// For a strict total order without equal entries every correct sift gives
// the same array, so these match std::push_heap / std::pop_heap /
// std::make_heap at D = 2 and the engines' former hand-written heaps; with
// equal entries the choice between them is this file's (Before-equal entries
// then come out in an order that depends on the history of the heap).
//
// Complexity: push O(log_D n) comparisons; pop and sift_down O(D log_D n);
// build O(n). IndexedDaryHeap adds a position map (entry ids 0..capacity-1)
// so that update (decrease- or increase-key) and erase of any entry are
// O(D log_D n) too, at 4 bytes per id.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace vsched::heap {

// Puts e into the hole at i after moving the hole up past every parent e is Before.
template <std::size_t D, class Vec, class E, class Before>
inline void sift_up(Vec& v, std::size_t i, const E& e, Before before) {
    while (i > 0) {
        const std::size_t parent = (i - 1) / D;
        if (!before(e, v[parent])) break;
        v[i] = v[parent];
        i = parent;
    }
    v[i] = e;
}

// The first of node i's smallest children among v[0..n), or n if it has none.
template <std::size_t D, class Vec, class Before>
inline std::size_t smallest_child(const Vec& v, std::size_t i, std::size_t n, Before before) {
    const std::size_t first = D * i + 1;
    if (first >= n) return n;
    const std::size_t end = std::min(first + D, n);
    std::size_t best = first;
    for (std::size_t c = first + 1; c < end; ++c) {
        if (before(v[c], v[best])) best = c;
    }
    return best;
}

// Restores the heap below i after v[i] grew (bottom-up; see the file comment).
template <std::size_t D, class Vec, class Before>
inline void sift_down(Vec& v, std::size_t i, Before before) {
    const std::size_t n = v.size();
    const auto e = v[i];
    std::size_t hole = i;
    for (std::size_t best; (best = smallest_child<D>(v, hole, n, before)) < n; hole = best) v[hole] = v[best];
    while (hole > i) {
        const std::size_t parent = (hole - 1) / D;
        if (!before(e, v[parent])) break;
        v[hole] = v[parent];
        hole = parent;
    }
    v[hole] = e;
}

template <std::size_t D, class Vec, class E, class Before>
inline void push(Vec& v, const E& e, Before before) {
    v.push_back(e);
    sift_up<D>(v, v.size() - 1, e, before);
}

// Removes the minimum (v must not be empty).
template <std::size_t D, class Vec, class Before>
inline void pop(Vec& v, Before before) {
    v[0] = v.back();
    v.pop_back();
    if (!v.empty()) sift_down<D>(v, 0, before);
}

// Makes any array a heap.
template <std::size_t D, class Vec, class Before>
inline void build(Vec& v, Before before) {
    const std::size_t n = v.size();
    if (n < 2) return;
    for (std::size_t i = (n - 2) / D + 1; i-- > 0;) sift_down<D>(v, i, before);
}

template <std::size_t D, class Vec, class Before>
inline bool is_heap(const Vec& v, Before before) {
    for (std::size_t i = 1; i < v.size(); ++i) {
        if (before(v[i], v[(i - 1) / D])) return false;
    }
    return true;
}

}  // namespace vsched::heap

namespace vsched {

// The Before of a max-heap, from a less-than: the largest entry comes out first.
template <class Less>
struct LargestFirst {
    template <class E>
    bool operator()(const E& x, const E& y) const {
        return Less{}(y, x);
    }
};

// A min-heap of entries E under Before (Before(a, b): a comes out first).
// `Vec` is the storage (std::vector or HugeVector); entries() exposes it for
// checkpoints, which must hold a valid heap when given back (load()).
template <class E, class Before, std::size_t D = 4, class Vec = std::vector<E>>
class DaryHeap {
public:
    static_assert(D >= 2, "a heap needs at least two children per node");

    bool empty() const { return v_.empty(); }
    std::size_t size() const { return v_.size(); }
    const E& top() const { return v_.front(); }
    void push(const E& e) { heap::push<D>(v_, e, Before{}); }
    void pop() { heap::pop<D>(v_, Before{}); }
    // The top entry, to raise its key in place; then call top_raised().
    E& top_for_update() { return v_.front(); }
    void top_raised() { heap::sift_down<D>(v_, 0, Before{}); }
    void clear() { v_.clear(); }

    // Bulk load: add() in any order, then build() once.
    void add(const E& e) { v_.push_back(e); }
    void build() { heap::build<D>(v_, Before{}); }

    // Keeps the entries for which keep(e) is true, after it may have
    // rewritten them (any rewrite: the heap is rebuilt). O(n).
    template <class Keep>
    void filter_map(Keep keep) {
        std::size_t out = 0;
        for (std::size_t i = 0; i < v_.size(); ++i) {
            E e = v_[i];
            if (keep(e)) v_[out++] = e;
        }
        v_.resize(out);
        build();
    }

    const Vec& entries() const { return v_; }
    // Takes `entries` as the heap; false (and nothing changes) unless they are heap-ordered.
    bool load(Vec entries) {
        if (!heap::is_heap<D>(entries, Before{})) return false;
        v_ = std::move(entries);
        return true;
    }
    std::size_t capacity() const { return v_.capacity(); }

private:
    Vec v_;
};

// A min-heap of (key, id) with ids in 0..capacity-1, each at most once, and
// a position map id -> index so that any entry can be found, re-keyed or
// erased in O(D log_D n). Order: Before on keys, then the smaller id (a strict
// total order, so the pop order does not depend on the sift details).
template <class Key, class Before, std::size_t D = 4>
class IndexedDaryHeap {
public:
    static constexpr std::uint32_t kAbsent = 0xFFFFFFFFu;

    explicit IndexedDaryHeap(std::size_t capacity = 0) : pos_(capacity, kAbsent) {}
    void reserve_ids(std::size_t capacity) {
        if (capacity > pos_.size()) pos_.resize(capacity, kAbsent);
    }
    std::size_t id_capacity() const { return pos_.size(); }

    bool empty() const { return v_.empty(); }
    std::size_t size() const { return v_.size(); }
    bool contains(std::uint32_t id) const { return id < pos_.size() && pos_[id] != kAbsent; }
    std::uint32_t top_id() const { return v_.front().id; }
    const Key& top_key() const { return v_.front().key; }
    const Key& key_of(std::uint32_t id) const { return v_[pos_[id]].key; }

    // id < id_capacity() and not in the heap.
    void push(std::uint32_t id, const Key& key) {
        v_.push_back(Node{key, id});
        up(v_.size() - 1);
    }
    // id in the heap: its key becomes `key` (larger or smaller).
    void update(std::uint32_t id, const Key& key) {
        const std::size_t i = pos_[id];
        const bool smaller = Before{}(key, v_[i].key);
        v_[i].key = key;
        if (smaller) {
            up(i);
        } else {
            down(i);
        }
    }
    void erase(std::uint32_t id) {
        const std::size_t i = pos_[id];
        pos_[id] = kAbsent;
        const Node last = v_.back();
        v_.pop_back();
        if (i == v_.size()) return;
        v_[i] = last;
        pos_[last.id] = std::uint32_t(i);
        if (i > 0 && before(v_[i], v_[(i - 1) / D])) {
            up(i);
        } else {
            down(i);
        }
    }
    std::uint32_t pop() {
        const std::uint32_t id = top_id();
        erase(id);
        return id;
    }
    void clear() {
        for (const Node& n : v_) pos_[n.id] = kAbsent;
        v_.clear();
    }
    std::size_t memory_bytes() const { return v_.capacity() * sizeof(Node) + pos_.capacity() * sizeof(std::uint32_t); }

private:
    struct Node {
        Key key;
        std::uint32_t id;
    };
    static bool before(const Node& a, const Node& b) {
        if (Before{}(a.key, b.key)) return true;
        if (Before{}(b.key, a.key)) return false;
        return a.id < b.id;
    }
    void up(std::size_t i) {
        const Node e = v_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / D;
            if (!before(e, v_[parent])) break;
            v_[i] = v_[parent];
            pos_[v_[i].id] = std::uint32_t(i);
            i = parent;
        }
        v_[i] = e;
        pos_[e.id] = std::uint32_t(i);
    }
    void down(std::size_t i) {
        const std::size_t n = v_.size();
        const Node e = v_[i];
        for (;;) {
            const std::size_t first = D * i + 1;
            if (first >= n) break;
            const std::size_t end = std::min(first + D, n);
            std::size_t best = first;
            for (std::size_t c = first + 1; c < end; ++c) {
                if (before(v_[c], v_[best])) best = c;
            }
            if (!before(v_[best], e)) break;
            v_[i] = v_[best];
            pos_[v_[i].id] = std::uint32_t(i);
            i = best;
        }
        v_[i] = e;
        pos_[e.id] = std::uint32_t(i);
    }

    std::vector<Node> v_;
    std::vector<std::uint32_t> pos_;  // id -> index in v_, kAbsent if not in the heap
};

}  // namespace vsched
