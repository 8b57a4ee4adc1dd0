// A min-priority queue for keys that mostly arrive in increasing order, as a
// scheduler's do: run ends, eligible times and deadlines of equal vCPUs are
// pushed in about the order they come due. Python-free.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace vsched {

// Two lanes, each in `Before` order (a strict total order: Before(x, y) means
// x comes out first):
//   run:  a sorted vector read from head_, appended to at the back. A pushed
//         entry that is not before the run's last entry joins it in O(1).
//   heap: a 4-ary min-heap for every other entry, O(log n).
// The smallest entry is the smaller of the two fronts, so entries come out in
// exactly the order a single heap would give; a workload whose keys arrive in
// order never touches the heap, one whose keys arrive at random costs a heap
// plus one comparison.
template <class E, class Before>
class TwoLaneQueue {
public:
    bool empty() const { return head_ == run_.size() && heap_.empty(); }

    // The smallest entry; the queue must not be empty.
    const E& front() const { return from_run() ? run_[head_] : heap_.front(); }

    E pop() {
        if (!from_run()) return heap_pop();
        const E e = run_[head_++];
        if (head_ == run_.size()) {
            run_.clear();
            head_ = 0;
        } else if (head_ >= kCompactAt && 2 * head_ >= run_.size()) {
            // Drop the consumed prefix: amortized O(1) per entry.
            run_.erase(run_.begin(), run_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
        return e;
    }

    void push(const E& e) {
        if (head_ == run_.size() || !Before{}(e, run_.back())) {
            run_.push_back(e);
        } else {
            heap_push(e);
        }
    }

    void clear() {
        run_.clear();
        head_ = 0;
        heap_.clear();
    }

    // Bulk load: add() entries in any order, then build() once (O(n)).
    void add(const E& e) { heap_.push_back(e); }
    void build();

    template <class F>
    void for_each(F f) const {
        for (std::size_t i = head_; i < run_.size(); ++i) f(run_[i]);
        for (const E& e : heap_) f(e);
    }

private:
    static constexpr std::size_t kArity = 4;  // half a binary heap's depth, siblings side by side
    static constexpr std::size_t kCompactAt = 1024;

    bool from_run() const {
        if (head_ == run_.size()) return false;
        return heap_.empty() || !Before{}(heap_.front(), run_[head_]);
    }

    // Moves the hole at i up past every parent that e is before, then puts e there.
    void sift_up(std::size_t i, const E& e) {
        while (i > 0) {
            const std::size_t parent = (i - 1) / kArity;
            if (!Before{}(e, heap_[parent])) break;
            heap_[i] = heap_[parent];
            i = parent;
        }
        heap_[i] = e;
    }

    // The first of node i's smallest children among heap_[0..n), or n if it has none.
    std::size_t smallest_child(std::size_t i, std::size_t n) const {
        const std::size_t first = i * kArity + 1;
        if (first >= n) return n;
        std::size_t best = first;
        const std::size_t end = std::min(first + kArity, n);
        for (std::size_t c = first + 1; c < end; ++c) {
            if (Before{}(heap_[c], heap_[best])) best = c;
        }
        return best;
    }

    void heap_push(const E& e) {
        heap_.push_back(e);
        sift_up(heap_.size() - 1, e);
    }

    E heap_pop() {
        // Bottom-up pop: walk the hole down the path of smallest children to
        // a leaf without comparing against the displaced last entry, then sift
        // that entry up from there (it usually belongs near the bottom, so
        // this saves one comparison per level). Entries leave in the same
        // order as with a top-down pop: the order is total.
        const E top = heap_.front();
        const E last = heap_.back();
        heap_.pop_back();
        const std::size_t n = heap_.size();
        if (n == 0) return top;
        std::size_t i = 0;
        for (std::size_t best; (best = smallest_child(i, n)) < n; i = best) heap_[i] = heap_[best];
        sift_up(i, last);
        return top;
    }

    std::vector<E> run_;
    std::size_t head_ = 0;
    std::vector<E> heap_;
};

// Floyd's construction: sift down from the last parent.
template <class E, class Before>
void TwoLaneQueue<E, Before>::build() {
    const std::size_t n = heap_.size();
    if (n < 2) return;
    for (std::size_t start = (n - 2) / kArity + 1; start-- > 0;) {
        const E e = heap_[start];
        std::size_t i = start;
        for (std::size_t best; (best = smallest_child(i, n)) < n && Before{}(heap_[best], e); i = best) {
            heap_[i] = heap_[best];
        }
        heap_[i] = e;
    }
}

}  // namespace vsched
