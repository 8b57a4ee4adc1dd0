// A lazy heap: a d-ary min-heap (containers/dary_heap.hpp) whose entries may
// go stale, with one compaction rule.
//
// Why lazy. The engines' heaps order things whose state changes far more
// often than they are popped: a retained key is referenced again, a slot is
// evicted by another path, a key grows. Finding and fixing the entry at each
// change needs a position map and a sift; instead the owner leaves the old
// entry where it is ("stale") and recognises it when it reaches the top,
// by a test only the owner can make (live(e): does the entry still describe
// the current state?). A change then costs nothing, and a stale entry costs
// one pop when it surfaces.
//
// Invariants (the owner's part): the owner knows `live`, the number of its
// entries that are live, and every live entry is in the heap exactly once.
// Stale entries may be any number, and are skipped or refreshed by the owner
// when they reach the top (pop, or top_for_update + top_raised).
//
// The compaction rule, the only one: when the stale entries exceed the live
// ones by more than kSlack, i.e. size() > 2 * live + kSlack, they are all
// dropped at once (O(size), rebuild O(size)). So the heap holds at most about
// twice its live entries plus kSlack, and the amortised cost of compaction is
// O(1) per stale entry created. kSlack keeps small heaps from compacting on
// every change.
//
// Complexity: push O(log n), pop O(D log n), compaction amortised O(1) per
// stale entry; memory <= (2 * live + kSlack + 1) entries between calls.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "vsched/containers/dary_heap.hpp"

namespace vsched {

template <class E, class Before, std::size_t D = 4, class Vec = std::vector<E>>
class LazyHeap {
public:
    static constexpr std::size_t kSlack = 1024;

    bool empty() const { return heap_.empty(); }
    std::size_t size() const { return heap_.size(); }
    const E& top() const { return heap_.top(); }
    void push(const E& e) { heap_.push(e); }
    void pop() { heap_.pop(); }
    // Refresh the top entry in place to a larger key, then top_raised().
    E& top_for_update() { return heap_.top_for_update(); }
    void top_raised() { heap_.top_raised(); }
    void clear() { heap_.clear(); }

    // The compaction rule (file comment).
    static bool over_limit(std::size_t entries, std::size_t live) { return entries > 2 * live + kSlack; }

    // Applies the rule: if it holds, keeps only the entries with keep(e) true
    // (keep may refresh them to their current key) and rebuilds. True if it compacted.
    template <class Keep>
    bool compact_if_due(std::size_t live, Keep keep) {
        if (!over_limit(heap_.size(), live)) return false;
        heap_.filter_map(keep);
        return true;
    }

    // Keeps the entries with keep(e) true, after keep may rewrite them (an
    // owner renumbering its ids), whether or not the rule is due. O(size).
    template <class Keep>
    void filter_map(Keep keep) {
        heap_.filter_map(keep);
    }

    const Vec& entries() const { return heap_.entries(); }
    bool load(Vec entries) { return heap_.load(std::move(entries)); }
    std::size_t capacity() const { return heap_.capacity(); }

private:
    DaryHeap<E, Before, D, Vec> heap_;
};

}  // namespace vsched
