// sched::WaitingQueue (csrc/include/vsched/scheduler/waiting_queue.hpp), the
// scheduler's queue of not-yet-eligible vCPUs, against a std::multiset in the
// whole (eligible, deadline, slot) order over random operation sequences:
// exact front/pop, pop_due (the same entries, in any order), min_valid_time
// (dropping only invalid entries), filter_map and a checkpoint round trip in
// TwoLaneQueue's layout. Keys come from small ranges, so ties in the eligible
// time (the case the runs keep out of order) are the common case.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "check.hpp"
#include "vsched/scheduler/waiting_queue.hpp"

namespace {

using vsched::sched::Entry;
using vsched::sched::WaitingQueue;

struct Less {
    bool operator()(const Entry& x, const Entry& y) const {
        return std::tie(x.a, x.b, x.slot) < std::tie(y.a, y.b, y.slot);
    }
};
bool same(const Entry& x, const Entry& y) { return x.a == y.a && x.b == y.b && x.slot == y.slot && x.gen == y.gen; }
using Set = std::multiset<Entry, Less>;
bool same_sets(const Set& x, const Set& y) { return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), same); }

// A byte buffer with the put/get calls the queue's save/load use.
struct Buffer {
    std::string bytes;
    std::size_t at = 0;
    template <class T>
    void put(const T& x) { bytes.append(reinterpret_cast<const char*>(&x), sizeof x); }
    template <class T>
    void put_vector(const std::vector<T>& v) {
        put(static_cast<std::uint64_t>(v.size()));
        for (const T& x : v) put(x);
    }
    template <class T>
    T get() {
        T x;
        std::memcpy(&x, bytes.data() + at, sizeof x);
        at += sizeof x;
        return x;
    }
    template <class T>
    std::vector<T> get_vector() {
        std::vector<T> v(get<std::uint64_t>());
        for (T& x : v) x = get<T>();
        return v;
    }
};

// The order pop_due() hands entries out in: (eligible, deadline, slot, gen).
bool due_less(const Entry& x, const Entry& y) { return std::tie(x.a, x.b, x.slot, x.gen) < std::tie(y.a, y.b, y.slot, y.gen); }

std::multiset<Entry, Less> contents(const WaitingQueue& q) {
    std::multiset<Entry, Less> out;
    q.for_each([&](const Entry& e) { out.insert(e); });
    return out;
}

void against_multiset(std::uint64_t seed) {
    check::Random rnd(seed);
    WaitingQueue q;
    std::multiset<Entry, Less> oracle;
    std::int64_t now = 0;
    const std::int64_t spread = 1 + static_cast<std::int64_t>(rnd.below(40));
    std::uint32_t serial = 0;  // the slot: unique, so the whole order is strict
    for (int op = 0; op < 3000; ++op) {
        const std::uint64_t what = rnd.below(100);
        if (what < 55 || oracle.empty()) {
            // Several streams of later times, ties common, any (deadline, slot).
            const std::int64_t stream = static_cast<std::int64_t>(rnd.below(3)) * spread;
            // (Now and then an entry due at kNever: a vCPU of rate 0 never becomes eligible.)
            const std::int64_t due = rnd.chance(0.05) ? vsched::sched::kNever
                                     : now + 1 + stream + static_cast<std::int64_t>(rnd.below(static_cast<std::uint64_t>(spread)));
            const Entry e{due,
                          static_cast<std::int64_t>(rnd.below(5)), serial++, static_cast<std::uint32_t>(rnd.below(4))};
            q.push(e);
            oracle.insert(e);
        } else if (what < 70) {
            CHECK(same(q.front(), *oracle.begin()));
            CHECK(same(q.pop(), *oracle.begin()));
            oracle.erase(oracle.begin());
        } else if (what < 85) {
            now += static_cast<std::int64_t>(rnd.below(static_cast<std::uint64_t>(spread) + 1));
            std::multiset<Entry, Less> got;
            std::vector<Entry> seen;
            q.pop_due(now, [&](const Entry& e) {
                got.insert(e);
                seen.push_back(e);
            });
            std::multiset<Entry, Less> due(oracle.begin(), oracle.upper_bound(Entry{now, INT64_MAX, UINT32_MAX, UINT32_MAX}));
            CHECK(same_sets(got, due));
            CHECK(std::is_sorted(seen.begin(), seen.end(), due_less));
            oracle.erase(oracle.begin(), oracle.upper_bound(Entry{now, INT64_MAX, UINT32_MAX, UINT32_MAX}));
        } else if (what < 92) {
            // Entries of odd gen are "stale": the smallest valid time, and only stale ones dropped.
            auto valid = [](const Entry& e) { return e.gen % 2 == 0; };
            std::int64_t want = vsched::sched::kNever;
            for (const Entry& e : oracle) {
                if (valid(e)) {
                    want = e.a;
                    break;
                }
            }
            CHECK(q.min_valid_time(valid) == want);
            const auto left = contents(q);
            for (const Entry& e : oracle) {
                if (valid(e)) CHECK(left.count(e) == oracle.count(e));
            }
            oracle = left;
        } else if (what < 96) {
            // Drop the entries of one gen (as the compaction drops a removed VM's).
            const std::uint32_t gone = static_cast<std::uint32_t>(rnd.below(4));
            q.filter_map([&](Entry& e) { return e.gen != gone; });
            for (auto it = oracle.begin(); it != oracle.end();) it = it->gen == gone ? oracle.erase(it) : std::next(it);
        } else {
            Buffer buf;
            q.save(buf);
            WaitingQueue restored;
            restored.load(buf);
            CHECK(buf.at == buf.bytes.size());
            q = restored;
        }
        CHECK(q.size() == oracle.size());
        CHECK(q.empty() == oracle.empty());
        CHECK(same_sets(contents(q), oracle));
    }
    while (!oracle.empty()) {
        CHECK(same(q.pop(), *oracle.begin()));
        oracle.erase(oracle.begin());
    }
    CHECK(q.empty());
}

// Large batches falling due at once (the radix path of pop_due): many
// entries share a deadline, slots repeat with other gens and eligible times,
// deadlines may be negative or span more than 2^33 ns. pop_due must hand
// them out exactly as a comparison sort in (eligible, deadline, slot, gen).
void large_batches(std::uint64_t seed) {
    check::Random rnd(seed);
    WaitingQueue q;
    std::int64_t now = 0;
    for (int round = 0; round < 12; ++round) {
        const std::size_t n = 1 + static_cast<std::size_t>(rnd.below(rnd.chance(0.5) ? 300 : 5000));
        const std::uint64_t deadlines = 1 + rnd.below(rnd.chance(0.5) ? 3 : 100000);
        const std::int64_t base = rnd.chance(0.2) ? -static_cast<std::int64_t>(rnd.below(1000000)) : now;
        const std::int64_t scale = rnd.chance(0.1) ? (std::int64_t{1} << 34) : 1 + static_cast<std::int64_t>(rnd.below(1000));
        const std::uint64_t slots = 1 + rnd.below(rnd.chance(0.3) ? 50 : 1u << 20);
        const std::uint32_t slot_base = static_cast<std::uint32_t>(rnd.below(1u << 30));
        std::vector<Entry> want;
        for (std::size_t k = 0; k < n; ++k) {
            const Entry e{now + 1 + static_cast<std::int64_t>(rnd.below(3)),
                          base + scale * static_cast<std::int64_t>(rnd.below(deadlines)),
                          slot_base + static_cast<std::uint32_t>(rnd.below(slots)), static_cast<std::uint32_t>(rnd.below(3))};
            q.push(e);
            want.push_back(e);
        }
        now += 3;
        std::sort(want.begin(), want.end(), due_less);
        std::vector<Entry> seen;
        q.pop_due(now, [&](const Entry& e) { seen.push_back(e); });
        CHECK(seen.size() == want.size());
        CHECK(std::equal(seen.begin(), seen.end(), want.begin(), want.end(), same));
        CHECK(q.empty());
    }
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 120; ++seed) against_multiset(seed);
    for (std::uint64_t seed = 1; seed <= 40; ++seed) large_batches(seed);
    return check::finish("waiting_queue");
}
