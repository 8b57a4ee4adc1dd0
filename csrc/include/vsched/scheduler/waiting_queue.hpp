// The queue of queued, not-yet-eligible vCPUs (rule 3 of
// docs/engines/scheduler.md): entries (eligible, deadline, slot), smallest
// first, stale ones dropped by the caller (gen). Python-free.
//
// Why not a TwoLaneQueue. On a host whose VMs are alike the eligible times
// come in few distinct values, each shared by thousands of vCPUs (on the
// reserved-heavy host, 128 pCPUs and 3,000 VMs of which 1,000 reserve 0.1
// core: 121 distinct eligible times in 400,000 pushes, 86 % of them out of
// (deadline, slot) order within their time), and in several interleaved
// streams (the reserved VMs' vCPUs fall due ~58 ms after they stop, the
// others ~90 ms). A queue ordered by the whole key then keeps them all in its
// heap lane (~12,000 entries: ~30 % of the decision time). But the common
// use needs no order within a time: at each decision every entry due by now
// moves to the eligible queue (pop_due), where the deadline orders them. So:
//   runs: up to kRuns vectors, each in non-decreasing `eligible` order only
//         (ties in any order), read from a head and appended at the back; a
//         pushed entry joins the first run whose last eligible time it does
//         not precede;
//   heap: a 4-ary min-heap in the whole (eligible, deadline, slot) order for
//         the rest, and for the tie groups an exact pop needs.
// pop_due(t) takes every entry with eligible <= t, O(1) per run entry, and
// hands them out in Order (a radix sort for large batches, see sort_due());
// min_valid_time() (next_event, while a borrowed run
// exists) reads the fronts only. An exact front()/pop() (the borrowed pick,
// rule 3) first moves the head groups of the runs whose eligible time is the
// smallest into the heap, so the heap's front is the smallest entry: each
// entry moves there at most once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "vsched/containers/dary_heap.hpp"
#include "vsched/scheduler/common.hpp"

namespace vsched::sched {

class WaitingQueue {
public:
    using E = Entry;
    // The whole order, and gen among duplicates of one vCPU (equal otherwise), so
    // that what leaves the queue, and when, depends on the entries held, not on
    // where they sit: a restored queue (another layout) then continues exactly
    // as the saved one, bit for bit.
    struct Order {
        bool operator()(const E& x, const E& y) const {  // (eligible, deadline, slot, gen), one pass
            if (x.a != y.a) return x.a < y.a;
            if (x.b != y.b) return x.b < y.b;
            if (x.slot != y.slot) return x.slot < y.slot;
            return x.gen < y.gen;
        }
    };

    bool empty() const { return heap_.empty() && runs_used_ == 0; }
    // Entries held (stale ones included).
    std::size_t size() const {
        std::size_t n = heap_.size();
        for (std::size_t r = 0; r < runs_used_; ++r) n += runs_[r].size() - heads_[r];
        return n;
    }

    // The eligible time of the smallest entry for which valid(e) is true
    // (kNever if none); the invalid (stale) entries before it are dropped.
    template <class Valid>
    std::int64_t min_valid_time(Valid valid) {
        while (!empty() && !valid(front())) pop();
        return empty() ? kNever : front().a;
    }

    // The smallest entry in (eligible, deadline, slot) order; not empty.
    const E& front() {
        const std::size_t r = settle_front();
        return r == kHeap ? heap_.front() : runs_[r][heads_[r]];
    }
    E pop() {
        const std::size_t r = settle_front();
        if (r == kHeap) {
            const E top = heap_.front();
            vsched::heap::pop<kArity>(heap_, Order{});
            return top;
        }
        const E e = runs_[r][heads_[r]++];
        trim(r);
        drop_empty_tail();
        return e;
    }

    // Calls f(e) for every entry with eligible <= t and removes it, in Order
    // (f must not touch the queue): what f sees depends on the entries held
    // only. The due entries of the runs and the heap are gathered and sorted
    // (sort_due()) unless they come from one run in Order already.
    template <class F>
    void pop_due(std::int64_t t, F f) {
        due_.clear();
        bool sorted = true;
        while (!heap_.empty() && heap_.front().a <= t) {
            due_.push_back(heap_.front());
            vsched::heap::pop<kArity>(heap_, Order{});
        }
        for (std::size_t r = 0; r < runs_used_; ++r) {
            std::vector<E>& run = runs_[r];
            std::size_t& head = heads_[r];
            if (head == run.size() || run[head].a > t) continue;
            if (!due_.empty() || disorder_[r] > head) sorted = false;
            while (head < run.size() && run[head].a <= t) due_.push_back(run[head++]);
            trim(r);
        }
        drop_empty_tail();
        if (!sorted) sort_due();
        for (const E& e : due_) f(e);
    }

    // The first run that e keeps in eligible order (an empty one, or one
    // whose last entry is not later), else the heap.
    void push(const E& e) {
        for (std::size_t r = 0; r < kRuns; ++r) {
            std::vector<E>& run = runs_[r];
            if (heads_[r] == run.size() || e.a >= run.back().a) {
                if (heads_[r] < run.size() && Order{}(e, run.back())) disorder_[r] = run.size();  // a tie out of order
                append(r, e);
                return;
            }
        }
        vsched::heap::push<kArity>(heap_, e, Order{});
    }

    void clear() {
        for (std::size_t r = 0; r < kRuns; ++r) {
            runs_[r].clear();
            heads_[r] = 0;
            disorder_[r] = 0;
        }
        runs_used_ = 0;
        heap_.clear();
    }

    // Bulk load: add() entries in any order, then build() once (O(n)).
    void add(const E& e) { heap_.push_back(e); }
    void build() { vsched::heap::build<kArity>(heap_, Order{}); }

    template <class F>
    void for_each(F f) const {
        for (std::size_t r = 0; r < runs_used_; ++r) {
            for (std::size_t i = heads_[r]; i < runs_[r].size(); ++i) f(runs_[r][i]);
        }
        for (const E& e : heap_) f(e);
    }

    std::size_t memory_bytes() const {
        std::size_t n = heap_.capacity();
        for (const std::vector<E>& run : runs_) n += run.capacity();
        n += due_.capacity() + radix_tmp_.capacity();  // scratch
        return n * sizeof(E);
    }

    // Keeps the entries for which keep(e) is true, after it has rewritten
    // them; the rewrite must keep the order of the entries kept (e.g. slots
    // renumbered monotonically). O(n).
    template <class Keep>
    void filter_map(Keep keep) {
        for (std::size_t r = 0; r < runs_used_; ++r) {
            std::vector<E>& run = runs_[r];
            std::size_t out = 0;
            for (std::size_t i = heads_[r]; i < run.size(); ++i) {
                E e = run[i];
                if (keep(e)) run[out++] = e;
            }
            const bool in_order = disorder_[r] <= heads_[r];
            run.resize(out);
            heads_[r] = 0;
            disorder_[r] = in_order ? 0 : out;  // (conservative: out of order until consumed)
        }
        drop_empty_tail();
        std::size_t out = 0;
        for (std::size_t i = 0; i < heap_.size(); ++i) {
            E e = heap_[i];
            if (keep(e)) heap_[out++] = e;
        }
        heap_.resize(out);
        build();
    }

    // Checkpoint in TwoLaneQueue's layout (format 1: a run sorted in the whole
    // order, its head, a 4-ary heap): every entry in the run, sorted in Order,
    // and an empty heap, so equal contents save as equal bytes.
    template <class Writer>
    void save(Writer& out) const {
        std::vector<E> run;
        run.reserve(size());
        for_each([&](const E& e) { run.push_back(e); });
        std::sort(run.begin(), run.end(), Order{});
        out.put_vector(run);
        out.put(std::uint64_t{0});
        out.put_vector(std::vector<E>{});
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
        clear();
        runs_[0] = std::move(run);
        heads_[0] = static_cast<std::size_t>(head);
        runs_used_ = heads_[0] < runs_[0].size() ? 1 : 0;
        if (runs_used_ == 0) {
            runs_[0].clear();
            heads_[0] = 0;
        }
        heap_ = std::move(heap);
        build();  // (a heap in the whole order need not be one in Order among duplicates)
        for (std::size_t i = heads_[0] + 1; i < runs_[0].size(); ++i) {
            if (Order{}(runs_[0][i], runs_[0][i - 1])) disorder_[0] = i;
        }
    }

private:
    static constexpr std::size_t kArity = 4;
    static constexpr std::size_t kCompactAt = 1024;
    static constexpr std::size_t kRuns = 8;
    static constexpr std::size_t kHeap = kRuns;

    // Where the smallest entry is (a run, or kHeap). A run kept in the whole
    // order has its smallest entry at its head; in the others the ties at the
    // smallest eligible time m may be out of order, so their head groups at m
    // go to the heap first (the rest of every run is later than m).
    std::size_t settle_front() {
        // (An entry may be due at kNever itself: a vCPU of rate 0.)
        if (runs_used_ == 0) return kHeap;
        const std::int64_t m = runs_min_time();
        if (!heap_.empty() && heap_.front().a < m) return kHeap;
        for (std::size_t r = 0; r < runs_used_; ++r) {
            if (disorder_[r] <= heads_[r]) continue;  // in the whole order from its head
            std::vector<E>& run = runs_[r];
            std::size_t& head = heads_[r];
            while (head < run.size() && run[head].a == m) vsched::heap::push<kArity>(heap_, run[head++], Order{});
            trim(r);
        }
        drop_empty_tail();
        std::size_t best = kHeap;
        for (std::size_t r = 0; r < runs_used_; ++r) {
            if (heads_[r] == runs_[r].size()) continue;
            const E& head = runs_[r][heads_[r]];
            if (best == kHeap ? (heap_.empty() || Order{}(head, heap_.front()))
                              : Order{}(head, runs_[best][heads_[best]])) {
                best = r;
            }
        }
        return best;
    }

    // due_ in Order. On a host of alike VMs thousands of entries fall due at
    // one instant, most with one eligible time and one deadline (~3,000 per
    // instant on the reserved-heavy host): a comparison sort of them was
    // ~10 % of a decision there. Large batches are sorted by an LSD radix
    // sort (stable, 11-bit digits) on the slot, the deadline and the eligible
    // time (when their spans are below 2^33; a span of 0 takes no pass), then
    // each group of equal (eligible, deadline, slot) by Order: the same result
    // as std::sort in Order (a total order, and equal entries are equal).
    void sort_due() {
        const std::size_t n = due_.size();
        constexpr std::size_t kRadixFrom = 256;
        std::int64_t a_lo = due_[0].a, a_hi = due_[0].a, b_lo = due_[0].b, b_hi = due_[0].b;
        std::uint32_t s_lo = due_[0].slot, s_hi = due_[0].slot;
        for (const E& e : due_) {
            a_lo = std::min(a_lo, e.a);
            a_hi = std::max(a_hi, e.a);
            b_lo = std::min(b_lo, e.b);
            b_hi = std::max(b_hi, e.b);
            s_lo = std::min(s_lo, e.slot);
            s_hi = std::max(s_hi, e.slot);
        }
        const std::uint64_t a_span = static_cast<std::uint64_t>(a_hi) - static_cast<std::uint64_t>(a_lo);
        const std::uint64_t b_span = static_cast<std::uint64_t>(b_hi) - static_cast<std::uint64_t>(b_lo);
        const std::uint64_t s_span = s_hi - s_lo;
        if (n < kRadixFrom || ((a_span | b_span) >> 33) != 0) {
            std::sort(due_.begin(), due_.end(), Order{});
            return;
        }
        radix_by(s_span, [&](const E& e) { return static_cast<std::uint64_t>(e.slot - s_lo); });
        radix_by(b_span, [&](const E& e) {
            return static_cast<std::uint64_t>(e.b) - static_cast<std::uint64_t>(b_lo);
        });
        radix_by(a_span, [&](const E& e) {
            return static_cast<std::uint64_t>(e.a) - static_cast<std::uint64_t>(a_lo);
        });
        for (std::size_t i = 0; i < n;) {
            std::size_t j = i + 1;
            while (j < n && due_[j].a == due_[i].a && due_[j].b == due_[i].b && due_[j].slot == due_[i].slot) ++j;
            if (j - i > 1) {
                std::sort(due_.begin() + static_cast<std::ptrdiff_t>(i), due_.begin() + static_cast<std::ptrdiff_t>(j),
                          Order{});
            }
            i = j;
        }
    }
    // Stable passes over due_ by key(e) in [0, span], 11 bits at a time.
    template <class Key>
    void radix_by(std::uint64_t span, Key key) {
        constexpr unsigned kBits = 11;
        constexpr std::size_t kBuckets = std::size_t{1} << kBits;
        radix_tmp_.resize(due_.size());
        for (unsigned shift = 0; shift < 64 && (span >> shift) != 0; shift += kBits) {
            std::size_t start[kBuckets + 1] = {};
            for (const E& e : due_) ++start[((key(e) >> shift) & (kBuckets - 1)) + 1];
            for (std::size_t d = 1; d <= kBuckets; ++d) start[d] += start[d - 1];
            for (const E& e : due_) radix_tmp_[start[(key(e) >> shift) & (kBuckets - 1)]++] = e;
            due_.swap(radix_tmp_);
        }
    }

    void append(std::size_t r, const E& e) {
        runs_[r].push_back(e);
        if (r >= runs_used_) runs_used_ = r + 1;
    }

    std::int64_t runs_min_time() const {
        std::int64_t t = std::numeric_limits<std::int64_t>::max();  // above every time, kNever included
        for (std::size_t r = 0; r < runs_used_; ++r) {
            if (heads_[r] < runs_[r].size() && runs_[r][heads_[r]].a < t) t = runs_[r][heads_[r]].a;
        }
        return t;
    }

    // An emptied run restarts; a long consumed prefix is dropped (amortized O(1)).
    void trim(std::size_t r) {
        std::vector<E>& run = runs_[r];
        std::size_t& head = heads_[r];
        if (head == run.size()) {
            run.clear();
            head = 0;
            disorder_[r] = 0;
        } else if (head >= kCompactAt && 2 * head >= run.size()) {
            run.erase(run.begin(), run.begin() + static_cast<std::ptrdiff_t>(head));
            disorder_[r] = disorder_[r] > head ? disorder_[r] - head : 0;
            head = 0;
        }
    }
    void drop_empty_tail() {
        while (runs_used_ > 0 && heads_[runs_used_ - 1] == runs_[runs_used_ - 1].size()) --runs_used_;
    }

    std::vector<E> runs_[kRuns];
    std::size_t heads_[kRuns] = {};
    // Index of the last entry appended out of the whole order (before the
    // one it follows; 0: none): a run is in the whole order from its head iff
    // disorder_ <= head.
    std::size_t disorder_[kRuns] = {};
    std::size_t runs_used_ = 0;  // runs from this one on are empty
    std::vector<E> heap_;
    std::vector<E> due_;        // scratch of pop_due()
    std::vector<E> radix_tmp_;  // scratch of sort_due()
};

}  // namespace vsched::sched
