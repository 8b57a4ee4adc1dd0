// RadixHeap (csrc/include/vsched/containers/radix_heap.hpp) against a
// std::multiset oracle: random pushes (mostly at or above the last minimum, some
// below it, some equal to it, keys that differ only in `lo`, in the top bits,
// or in both), pops, replace_top, filter_map and rebuild, with the minimum,
// the size and the multiset of entries compared after every operation.
#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "check.hpp"
#include "vsched/containers/radix_heap.hpp"

namespace {

struct Entry {
    std::uint64_t hi = 0, lo = 0;
};
using Key = std::pair<std::uint64_t, std::uint64_t>;
Key key(const Entry& e) { return {e.hi, e.lo}; }

struct Tester {
    vsched::RadixHeap<Entry, 4> heap;
    std::multiset<Key> oracle;
    Key last{0, 0};  // the last minimum popped (pushes are drawn around it)
    check::Random& rnd;
    explicit Tester(check::Random& r) : rnd(r) {}

    // A key near `last`: the same, a little above or below in lo, in hi, or
    // anywhere (the top bits included).
    Entry draw() {
        Entry e{last.first, last.second};
        switch (rnd.below(8)) {
            case 0: break;                                    // equal to the last minimum
            case 1: e.lo += rnd.below(100); break;            // just above, in lo
            case 2: e.lo -= std::min<std::uint64_t>(e.lo, rnd.below(100)); break;  // at or below
            case 3: e.hi += rnd.below(1000); e.lo = rnd.below(~std::uint64_t(0)); break;
            case 4: e.hi -= std::min<std::uint64_t>(e.hi, rnd.below(10)); e.lo = rnd.below(1000); break;
            case 5: e.hi = rnd.below(~std::uint64_t(0)); e.lo = rnd.below(~std::uint64_t(0)); break;
            case 6: e.lo = ~std::uint64_t(0) - rnd.below(3); break;  // lo's top bits
            default: e.hi += rnd.below(1u << 20) << 16; e.lo = rnd.below(1u << 30); break;  // LRU-K-like
        }
        return e;
    }

    void compare() {
        CHECK(heap.size() == oracle.size());
        CHECK(heap.empty() == oracle.empty());
        if (!oracle.empty()) CHECK(key(heap.top()) == *oracle.begin());
    }

    void compare_contents() {
        std::vector<Key> all;
        heap.for_each([&](const Entry& e) { all.push_back(key(e)); });
        std::sort(all.begin(), all.end());
        CHECK(std::equal(all.begin(), all.end(), oracle.begin(), oracle.end()));
        std::size_t near = 0;
        heap.for_each_near_top(5, [&](const Entry& e) {
            CHECK(oracle.count(key(e)) != 0);
            ++near;
        });
        CHECK(near <= std::min<std::size_t>(5, oracle.size()) && (near != 0) == !oracle.empty());
    }

    void push() {
        const Entry e = draw();
        heap.push(e);
        oracle.insert(key(e));
    }

    void pop() {
        if (oracle.empty()) return;
        last = *oracle.begin();
        heap.pop();
        oracle.erase(oracle.begin());
    }

    // LRU-K's refresh: the minimum replaced by a larger key.
    void replace_top() {
        if (oracle.empty()) return;
        Entry e = heap.top();
        if (rnd.chance(0.5)) {
            e.lo += 1 + rnd.below(1000);
        } else {
            e.hi += 1 + rnd.below(1000);
        }
        last = *oracle.begin();
        oracle.erase(oracle.begin());
        heap.replace_top(e);
        oracle.insert(key(e));
    }

    // Drops about a third, moves some keys down and some up.
    void filter_map() {
        std::multiset<Key> kept;
        heap.filter_map([&](Entry& e) {
            if (e.lo % 3 == 0) return false;
            if (e.lo % 3 == 1 && e.hi > 5) e.hi -= 5;
            kept.insert(key(e));
            return true;
        });
        oracle = std::move(kept);
    }

    void rebuild() {
        std::vector<Entry> entries;
        const std::size_t n = rnd.below(200);
        oracle.clear();
        for (std::size_t i = 0; i < n; ++i) {
            const Entry e = draw();
            entries.push_back(e);
            oracle.insert(key(e));
        }
        heap.rebuild(std::move(entries));
    }
};

void against_multiset(std::uint64_t seed, int ops, double push_share) {
    check::Random rnd(seed);
    Tester t(rnd);
    for (int op = 0; op < ops; ++op) {
        const std::uint64_t what = rnd.below(1000);
        if (what < std::uint64_t(push_share * 1000)) {
            t.push();
        } else if (what < 950) {
            t.pop();
        } else if (what < 990) {
            t.replace_top();
        } else if (what < 997) {
            t.filter_map();
        } else {
            t.rebuild();
        }
        t.compare();
        if (op % 97 == 0) t.compare_contents();
    }
    t.compare_contents();
    while (!t.oracle.empty()) {
        t.pop();
        t.compare();
    }
    t.heap.clear();
    CHECK(t.heap.empty() && t.heap.size() == 0);
}

// Strictly increasing pushes interleaved with pops (the monotone case): the
// side heap is never used, so no entry is ever below the last minimum.
void monotone(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::RadixHeap<Entry, 4> heap;
    std::multiset<Key> oracle;
    std::uint64_t next = 1;
    for (int op = 0; op < 50000; ++op) {
        if (oracle.empty() || rnd.chance(0.55)) {
            next += rnd.below(1000);
            const Entry e{next >> 20, next << 44 | rnd.below(1000)};
            heap.push(e);
            oracle.insert(key(e));
        } else {
            CHECK(key(heap.top()) == *oracle.begin());
            heap.pop();
            oracle.erase(oracle.begin());
        }
        CHECK(heap.size() == oracle.size());
    }
}

// The memory held depends on the largest sizes reached only (of the radix
// part and of the side heap): rounds of 100 pushes below the last minimum, 900
// above it and 1,000 pops, the keys growing from round to round (new high
// bits, new buckets), hold from the second round on what that round held.
void memory_is_the_peak_sizes(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::RadixHeap<Entry, 4> heap;
    std::uint64_t base = 1000, last = 0;
    std::size_t second = 0;
    for (int round = 0; round < 200; ++round) {
        for (int j = 0; j < 100 && round > 0; ++j) heap.push(Entry{last >> 40, (last << 24) - 1 - rnd.below(1000)});
        for (int j = 0; j < (round > 0 ? 900 : 1000); ++j) {
            const std::uint64_t x = last + 1 + rnd.below(base);
            heap.push(Entry{x >> 40, x << 24 | rnd.below(1u << 24)});
        }
        for (int j = 0; j < 1000; ++j) {
            last = std::max(last, heap.top().hi << 40 | heap.top().lo >> 24);
            heap.pop();
        }
        CHECK(heap.empty());
        if (round == 1) second = heap.memory_bytes();
        base += base / 8 + 1;
    }
    CHECK(heap.memory_bytes() == second);
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        against_multiset(seed, 20000, 0.5);
        against_multiset(seed + 100, 20000, 0.7);  // growing
        against_multiset(seed + 200, 5000, 0.3);   // draining: often empty
    }
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        monotone(seed);
        memory_is_the_peak_sizes(seed);
    }
    return check::finish("radix_heap");
}
