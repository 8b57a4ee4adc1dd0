// A min-priority queue for keys that mostly arrive in increasing order, as a
// scheduler's do: run ends, eligible times and deadlines of equal vCPUs are
// pushed in about the order they come due. Python-free.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "vsched/containers/dary_heap.hpp"

namespace vsched {

// Two lanes, each in `Before` order (a strict total order: Before(x, y) means
// x comes out first):
//   run:  a sorted vector read from head_, appended to at the back. A pushed
//         entry that is not before the run's last entry joins it in O(1).
//   heap: a 4-ary min-heap for every other entry, O(log n) (the sifts of
//         containers/dary_heap.hpp).
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

    // Heap memory held by both lanes.
    std::size_t memory_bytes() const { return (run_.capacity() + heap_.capacity()) * sizeof(E); }

    // Keeps the entries for which keep(e) is true, after it has rewritten
    // them; the rewrite must keep the order of the entries kept (e.g. slots
    // renumbered monotonically). O(n).
    template <class Keep>
    void filter_map(Keep keep) {
        std::size_t out = 0;
        for (std::size_t i = head_; i < run_.size(); ++i) {
            E e = run_[i];
            if (keep(e)) run_[out++] = e;
        }
        run_.resize(out);
        head_ = 0;
        out = 0;
        for (std::size_t i = 0; i < heap_.size(); ++i) {
            E e = heap_[i];
            if (keep(e)) heap_[out++] = e;
        }
        heap_.resize(out);
        build();
    }

    // Checkpoint: both lanes exactly as they are (Writer/Reader: vsched/state_io.hpp).
    template <class Writer>
    void save(Writer& out) const {
        out.put_vector(run_);
        out.put(static_cast<std::uint64_t>(head_));
        out.put_vector(heap_);
    }
    // Throws std::invalid_argument unless the lanes read are a valid queue
    // (run sorted from head, heap ordered); entries are the caller's to check.
    template <class Reader>
    void load(Reader& in) {
        std::vector<E> run = in.template get_vector<E>();
        const auto head = in.template get<std::uint64_t>();
        std::vector<E> heap = in.template get_vector<E>();
        if (head > run.size()) throw std::invalid_argument("corrupt queue in a vsched checkpoint: head");
        for (std::size_t i = static_cast<std::size_t>(head) + 1; i < run.size(); ++i) {
            if (Before{}(run[i], run[i - 1])) throw std::invalid_argument("corrupt queue in a vsched checkpoint: run");
        }
        if (!vsched::heap::is_heap<kArity>(heap, Before{})) {
            throw std::invalid_argument("corrupt queue in a vsched checkpoint: heap");
        }
        run_ = std::move(run);
        head_ = static_cast<std::size_t>(head);
        heap_ = std::move(heap);
    }

private:
    static constexpr std::size_t kArity = 4;  // half a binary heap's depth, siblings side by side
    static constexpr std::size_t kCompactAt = 1024;

    bool from_run() const {
        if (head_ == run_.size()) return false;
        return heap_.empty() || !Before{}(heap_.front(), run_[head_]);
    }

    void heap_push(const E& e) { vsched::heap::push<kArity>(heap_, e, Before{}); }

    // Bottom-up pop (containers/dary_heap.hpp): entries leave in the same
    // order as with a top-down pop, the order being total.
    E heap_pop() {
        const E top = heap_.front();
        vsched::heap::pop<kArity>(heap_, Before{});
        return top;
    }

    std::vector<E> run_;
    std::size_t head_ = 0;
    std::vector<E> heap_;
};

// Floyd's construction: sift down from the last parent.
template <class E, class Before>
void TwoLaneQueue<E, Before>::build() {
    vsched::heap::build<kArity>(heap_, Before{});
}

}  // namespace vsched
