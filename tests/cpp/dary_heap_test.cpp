// DaryHeap and IndexedDaryHeap (csrc/include/vsched/containers/dary_heap.hpp)
// against std::priority_queue / std::set / std::map over random operation
// sequences, and the D = 2 sifts (min- and, by LargestFirst, max-heaps) against
// std::push_heap / pop_heap / make_heap.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <utility>
#include <vector>

#include "check.hpp"
#include "vsched/containers/dary_heap.hpp"

namespace {

using Entry = std::pair<std::uint32_t, std::uint32_t>;  // (key, serial): a strict total order
struct Less {
    bool operator()(const Entry& a, const Entry& b) const { return a < b; }
};
struct KeyOnlyLess {  // ties between entries with equal keys
    bool operator()(const Entry& a, const Entry& b) const { return a.first < b.first; }
};

// Pushes, pops and top raises against a priority_queue, for one arity.
template <std::size_t D>
void plain_heap_against_priority_queue(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::DaryHeap<Entry, Less, D> heap;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> oracle;
    std::uint32_t serial = 0;
    const std::uint32_t key_range = 1 + std::uint32_t(rnd.below(1000));
    for (int op = 0; op < 4000; ++op) {
        const std::uint64_t what = rnd.below(10);
        if (what < 5 || oracle.empty()) {
            const Entry e{std::uint32_t(rnd.below(key_range)), serial++};
            heap.push(e);
            oracle.push(e);
        } else if (what < 8) {
            CHECK(heap.top() == oracle.top());
            heap.pop();
            oracle.pop();
        } else {
            // Raise the top's key in place (as a lazy heap refreshes a lower bound).
            Entry& top = heap.top_for_update();
            CHECK(top == oracle.top());
            top.first += std::uint32_t(rnd.below(key_range));
            top.second = serial++;
            const Entry raised = top;
            heap.top_raised();
            oracle.pop();
            oracle.push(raised);
        }
        CHECK(heap.size() == oracle.size());
        CHECK(vsched::heap::is_heap<D>(heap.entries(), Less{}));
    }
    while (!oracle.empty()) {
        CHECK(heap.top() == oracle.top());
        heap.pop();
        oracle.pop();
    }
    CHECK(heap.empty());
}

// filter_map and bulk build against a multiset; load() refuses a non-heap.
template <std::size_t D>
void filter_and_build(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::DaryHeap<Entry, Less, D> heap;
    std::multiset<Entry> oracle;
    for (std::uint32_t i = 0; i < 3000; ++i) {
        const Entry e{std::uint32_t(rnd.below(50)), i};
        heap.add(e);
        oracle.insert(e);
    }
    heap.build();
    CHECK(vsched::heap::is_heap<D>(heap.entries(), Less{}));
    for (int round = 0; round < 5; ++round) {
        const std::uint32_t drop = std::uint32_t(rnd.below(7)) + 2;
        heap.filter_map([&](Entry& e) {
            if (e.second % drop == 0) return false;
            e.first += 3;  // rewrite kept entries (the heap is rebuilt)
            return true;
        });
        std::multiset<Entry> kept;
        for (const Entry& e : oracle) {
            if (e.second % drop != 0) kept.insert(Entry{e.first + 3, e.second});
        }
        oracle.swap(kept);
        CHECK(heap.size() == oracle.size());
        CHECK(vsched::heap::is_heap<D>(heap.entries(), Less{}));
        for (int i = 0; i < 100 && !oracle.empty(); ++i) {
            CHECK(heap.top() == *oracle.begin());
            heap.pop();
            oracle.erase(oracle.begin());
        }
    }
    std::vector<Entry> bad{{5, 0}, {1, 1}};
    const std::size_t before = heap.size();
    CHECK(!heap.load(bad));
    CHECK(heap.size() == before);
    CHECK(heap.load(std::vector<Entry>{{1, 1}, {5, 0}}));
    CHECK(heap.top() == Entry(1, 1));
}

// Entries equal under Before still come out in key order.
void equal_entries(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::DaryHeap<Entry, KeyOnlyLess, 4> heap;
    std::multiset<std::uint32_t> oracle;
    for (int op = 0; op < 5000; ++op) {
        if (rnd.chance(0.55) || oracle.empty()) {
            const auto key = std::uint32_t(rnd.below(8));
            heap.push(Entry{key, std::uint32_t(op)});
            oracle.insert(key);
        } else {
            CHECK(heap.top().first == *oracle.begin());
            heap.pop();
            oracle.erase(oracle.begin());
        }
    }
}

// At D = 2 with distinct entries the arrays equal the standard library's after
// every push, pop and build: the engines' checkpointed binary heaps keep their
// layout.
void binary_matches_std_heap(std::uint64_t seed) {
    check::Random rnd(seed);
    struct After {  // std's max-heap comparator giving a min-heap
        bool operator()(const Entry& a, const Entry& b) const { return b < a; }
    };
    std::vector<Entry> mine, theirs;
    std::uint32_t serial = 0;
    for (int op = 0; op < 3000; ++op) {
        if (rnd.chance(0.6) || mine.empty()) {
            const Entry e{std::uint32_t(rnd.below(1u << 20)), serial++};
            vsched::heap::push<2>(mine, e, Less{});
            theirs.push_back(e);
            std::push_heap(theirs.begin(), theirs.end(), After{});
        } else {
            vsched::heap::pop<2>(mine, Less{});
            std::pop_heap(theirs.begin(), theirs.end(), After{});
            theirs.pop_back();
        }
        CHECK(mine == theirs);
        if (op % 500 == 0) {
            std::vector<Entry> shuffled = mine;
            for (std::size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rnd.below(i)]);
            std::vector<Entry> built = shuffled;
            vsched::heap::build<2>(built, Less{});
            std::make_heap(shuffled.begin(), shuffled.end(), After{});
            CHECK(built == shuffled);
        }
    }
}

// A max-heap by LargestFirst<Less> against std's max-heap under Less: at D = 2
// with distinct entries the arrays are equal after every push, pop and build
// (the scheduler's borrowed runs and urgent groups, checkpointed in std's
// layout before they moved onto DaryHeap); at D = 4 the pop order is the same.
void largest_first_matches_std_max_heap(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::DaryHeap<Entry, vsched::LargestFirst<Less>, 2> binary;
    vsched::DaryHeap<Entry, vsched::LargestFirst<Less>, 4> quaternary;
    std::vector<Entry> theirs;
    std::uint32_t serial = 0;
    for (int op = 0; op < 3000; ++op) {
        if (rnd.chance(0.6) || theirs.empty()) {
            const Entry e{std::uint32_t(rnd.below(1u << 20)), serial++};
            binary.push(e);
            quaternary.push(e);
            theirs.push_back(e);
            std::push_heap(theirs.begin(), theirs.end(), Less{});
        } else {
            CHECK(quaternary.top() == theirs.front());
            binary.pop();
            quaternary.pop();
            std::pop_heap(theirs.begin(), theirs.end(), Less{});
            theirs.pop_back();
        }
        CHECK(binary.entries() == theirs);
        if (op % 500 == 0) {
            std::vector<Entry> shuffled = theirs;
            for (std::size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rnd.below(i)]);
            vsched::DaryHeap<Entry, vsched::LargestFirst<Less>, 2> built;
            for (const Entry& e : shuffled) built.add(e);
            built.build();
            std::make_heap(shuffled.begin(), shuffled.end(), Less{});
            CHECK(built.entries() == shuffled);
            CHECK(binary.load(shuffled));  // std's heap is a valid checkpoint
            theirs = shuffled;
        }
    }
}

struct KeyLess {
    bool operator()(std::uint64_t a, std::uint64_t b) const { return a < b; }
};

// IndexedDaryHeap: push / update (both directions) / erase / pop of any id
// against a map id -> key and the set of (key, id). erase_share sets how
// erase-heavy the sequence is.
template <std::size_t D>
void indexed_against_set(std::uint64_t seed, double erase_share) {
    check::Random rnd(seed);
    const std::uint32_t ids = 1 + std::uint32_t(rnd.below(600));
    vsched::IndexedDaryHeap<std::uint64_t, KeyLess, D> heap(ids);
    std::map<std::uint32_t, std::uint64_t> key_of;
    std::set<std::pair<std::uint64_t, std::uint32_t>> order;
    const std::uint64_t key_range = 1 + rnd.below(200);
    for (int op = 0; op < 6000; ++op) {
        const auto id = std::uint32_t(rnd.below(ids));
        const auto key = rnd.below(key_range);
        const bool present = key_of.count(id) != 0;
        CHECK(heap.contains(id) == present);
        const double what = rnd.below(1000) / 1000.0;
        if (!present && what >= erase_share) {
            heap.push(id, key);
            key_of[id] = key;
            order.insert({key, id});
        } else if (present && what < erase_share) {
            heap.erase(id);
            order.erase({key_of[id], id});
            key_of.erase(id);
        } else if (present) {
            CHECK(heap.key_of(id) == key_of[id]);
            heap.update(id, key);
            order.erase({key_of[id], id});
            key_of[id] = key;
            order.insert({key, id});
        } else if (!order.empty()) {
            CHECK(heap.top_id() == order.begin()->second);
            CHECK(heap.top_key() == order.begin()->first);
            const std::uint32_t popped = heap.pop();
            CHECK(popped == order.begin()->second);
            key_of.erase(popped);
            order.erase(order.begin());
        }
        CHECK(heap.size() == order.size());
        if (!order.empty()) CHECK(heap.top_id() == order.begin()->second);
    }
    while (!order.empty()) {
        CHECK(heap.pop() == order.begin()->second);
        order.erase(order.begin());
    }
    CHECK(heap.empty());
    heap.push(0, 7);
    heap.clear();
    CHECK(heap.empty() && !heap.contains(0));
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        plain_heap_against_priority_queue<2>(seed);
        plain_heap_against_priority_queue<3>(seed);
        plain_heap_against_priority_queue<4>(seed);
        plain_heap_against_priority_queue<8>(seed);
    }
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        filter_and_build<2>(seed);
        filter_and_build<4>(seed);
        equal_entries(seed);
        binary_matches_std_heap(seed);
        largest_first_matches_std_max_heap(seed);
    }
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        indexed_against_set<2>(seed, 0.2);
        indexed_against_set<4>(seed, 0.2);
        indexed_against_set<4>(seed + 100, 0.6);  // erase-heavy
    }
    return check::finish("dary_heap");
}
