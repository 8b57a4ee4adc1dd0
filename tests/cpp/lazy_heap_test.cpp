// LazyHeap (csrc/include/vsched/containers/lazy_heap.hpp) used the way the
// engines use it: an owner with items whose keys change (each change pushes a
// new entry and leaves the old one stale) or which are deleted (their entries
// turn stale), popping the minimum live item; against a std::map oracle of
// the live items, with the compaction rule checked after every change.
#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "check.hpp"
#include "vsched/containers/lazy_heap.hpp"

namespace {

struct Entry {
    std::uint64_t key;
    std::uint32_t item;
    std::uint32_t version;  // live iff equal to the item's current version
};
struct Before {
    bool operator()(const Entry& a, const Entry& b) const { return a.key != b.key ? a.key < b.key : a.item < b.item; }
};

template <std::size_t D>
struct Owner {
    vsched::LazyHeap<Entry, Before, D> heap;
    std::unordered_map<std::uint32_t, std::uint32_t> version;  // live items
    std::set<std::pair<std::uint64_t, std::uint32_t>> oracle;  // (key, item) of live items
    std::map<std::uint32_t, std::uint64_t> key;
    std::uint32_t next_version = 1;
    int compactions = 0;

    bool live(const Entry& e) const {
        auto it = version.find(e.item);
        return it != version.end() && it->second == e.version;
    }
    void after_change() {
        if (heap.compact_if_due(version.size(), [&](Entry& e) { return live(e); })) ++compactions;
        CHECK(!decltype(heap)::over_limit(heap.size(), version.size()));
        CHECK(heap.size() >= version.size());
    }
    void set(std::uint32_t item, std::uint64_t k) {
        if (version.count(item)) oracle.erase({key[item], item});
        version[item] = next_version;
        key[item] = k;
        oracle.insert({k, item});
        heap.push(Entry{k, item, next_version++});
        after_change();
    }
    void erase(std::uint32_t item) {
        oracle.erase({key[item], item});
        version.erase(item);
        key.erase(item);
        after_change();
    }
    // The minimum live item, skipping (and dropping) stale entries on the way.
    void pop_min() {
        while (!heap.empty() && !live(heap.top())) heap.pop();
        CHECK(heap.empty() == oracle.empty());
        if (oracle.empty()) return;
        CHECK(heap.top().item == oracle.begin()->second);
        CHECK(heap.top().key == oracle.begin()->first);
        const std::uint32_t item = heap.top().item;
        heap.pop();  // before erase(): a compaction there rebuilds the heap
        erase(item);
    }
};

// change_share: the share of operations that re-key or delete an item (they
// create stale entries); delete_share of those delete.
template <std::size_t D>
void against_map(std::uint64_t seed, double change_share, double delete_share, int ops) {
    check::Random rnd(seed);
    Owner<D> owner;
    const std::uint32_t items = 1 + std::uint32_t(rnd.below(3000));
    for (int op = 0; op < ops; ++op) {
        const auto item = std::uint32_t(rnd.below(items));
        const bool present = owner.version.count(item) != 0;
        if (present && rnd.chance(change_share)) {
            if (rnd.chance(delete_share)) {
                owner.erase(item);
            } else {
                owner.set(item, rnd.below(100000));
            }
        } else if (!present && rnd.chance(0.5)) {
            owner.set(item, rnd.below(100000));
        } else {
            owner.pop_min();
        }
    }
    while (!owner.oracle.empty()) owner.pop_min();
    CHECK(owner.version.empty());
}

// Stale entries far beyond the slack: a handful of live items re-keyed many
// times, so most of the heap is stale and compaction must keep it bounded.
void tombstone_flood(std::uint64_t seed) {
    check::Random rnd(seed);
    Owner<4> owner;
    for (std::uint32_t i = 0; i < 10; ++i) owner.set(i, rnd.below(1000));
    for (int op = 0; op < 50000; ++op) owner.set(std::uint32_t(rnd.below(10)), rnd.below(1000));
    CHECK(owner.compactions >= 20);
    CHECK(owner.heap.size() <= 2 * 10 + decltype(owner.heap)::kSlack);
    while (!owner.oracle.empty()) owner.pop_min();
}

// Refreshing a stale lower bound in place (LRU-K's pattern): keys only grow,
// the owner raises the top entry to the item's true key and sifts it down.
void refresh_in_place(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::LazyHeap<Entry, Before, 4> heap;
    std::vector<std::uint64_t> truth(500);
    std::set<std::pair<std::uint64_t, std::uint32_t>> oracle;
    for (std::uint32_t i = 0; i < truth.size(); ++i) {
        truth[i] = rnd.below(1000);
        heap.push(Entry{truth[i], i, 0});
        oracle.insert({truth[i], i});
    }
    for (int op = 0; op < 20000 && !oracle.empty(); ++op) {
        if (rnd.chance(0.7)) {  // an item's key grows; its entry is left as a lower bound
            const auto i = std::uint32_t(rnd.below(truth.size()));
            if (!oracle.count({truth[i], i})) continue;
            oracle.erase({truth[i], i});
            truth[i] += 1 + rnd.below(500);
            oracle.insert({truth[i], i});
            continue;
        }
        for (;;) {
            Entry& top = heap.top_for_update();
            if (top.key == truth[top.item]) break;
            CHECK(top.key < truth[top.item]);
            top.key = truth[top.item];
            heap.top_raised();
        }
        CHECK(heap.top().item == oracle.begin()->second);
        oracle.erase(oracle.begin());
        heap.pop();
    }
}

// filter_map renumbers and drops entries whether or not the rule is due (an
// owner compacting its ids), then pops in order.
void renumber(std::uint64_t seed) {
    check::Random rnd(seed);
    vsched::LazyHeap<Entry, Before, 2> heap;
    std::set<std::pair<std::uint64_t, std::uint32_t>> oracle;
    for (std::uint32_t item = 0; item < 500; ++item) {
        const std::uint64_t k = rnd.below(100);
        heap.push(Entry{k, item, 0});
        oracle.insert({k, item});
    }
    // Items divisible by 3 go; the others are renumbered to item / 3 * 2 + item % 3 - 1.
    auto renumbered = [](std::uint32_t item) { return item / 3 * 2 + item % 3 - 1; };
    heap.filter_map([&](Entry& e) {
        if (e.item % 3 == 0) return false;
        e.item = renumbered(e.item);
        return true;
    });
    std::set<std::pair<std::uint64_t, std::uint32_t>> kept;
    for (const auto& [k, item] : oracle) {
        if (item % 3 != 0) kept.insert({k, renumbered(item)});
    }
    CHECK(heap.size() == kept.size());
    for (const auto& [k, item] : kept) {
        CHECK(heap.top().key == k && heap.top().item == item);
        heap.pop();
    }
    CHECK(heap.empty());
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        against_map<4>(seed, 0.3, 0.3, 20000);
        against_map<2>(seed, 0.3, 0.5, 20000);
        against_map<4>(seed + 50, 0.9, 0.1, 20000);  // re-key heavy: stale entries pile up
        against_map<4>(seed + 90, 0.9, 0.9, 20000);  // erase heavy
    }
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        tombstone_flood(seed);
        refresh_in_place(seed);
        renumber(seed);
    }
    return check::finish("lazy_heap");
}
