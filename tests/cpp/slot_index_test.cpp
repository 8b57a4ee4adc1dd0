// SlotIndex (csrc/include/vsched/containers/slot_index.hpp) against
// std::unordered_map over random insert / erase / find / relabel sequences,
// with weak hashes (long runs, wrap-around at the table's end) as well as a
// good one, and the probe-path invariant checked bucket by bucket.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "check.hpp"
#include "vsched/containers/slot_index.hpp"
#include "vsched/hash_mix.hpp"

namespace {

using Index = vsched::SlotIndex<>;

// Hash functions of different quality: a weak one clusters keys into long
// runs, so deletions shift many entries and runs wrap around the table end.
std::uint64_t hash_of_key(int kind, std::uint64_t key) {
    switch (kind) {
        case 0: return vsched::hash_mix(key);
        case 1: return key;                                  // consecutive keys, consecutive homes
        case 2: return (key % 7) * 0x9E3779B97F4A7C15ULL;    // 7 homes: runs of hundreds
        default: return ~std::uint64_t(0) - (key % 3);       // homes at the very end: every run wraps
    }
}

// The owner of the keys: records by slot, a free list, and the oracle.
struct Owner {
    int kind;
    Index index;
    std::vector<std::uint64_t> key_at;  // slot -> key
    std::vector<std::uint32_t> free;
    std::unordered_map<std::uint64_t, std::uint32_t> oracle;  // key -> slot

    std::uint64_t hash(std::uint64_t key) const { return hash_of_key(kind, key); }
    std::uint64_t slot_hash(std::uint32_t s) const { return hash(key_at[s]); }
    std::uint32_t find(std::uint64_t key) const {
        return index.find(hash(key), [&](std::uint32_t s) { return key_at[s] == key; });
    }
    void insert(std::uint64_t key) {
        std::uint32_t slot;
        if (!free.empty()) {
            slot = free.back();
            free.pop_back();
        } else {
            slot = std::uint32_t(key_at.size());
            key_at.push_back(0);
            index.grow_to_hold(key_at.size(), [&](std::uint32_t s) { return slot_hash(s); });
        }
        key_at[slot] = key;
        index.insert(hash(key), slot);
        oracle[key] = slot;
    }
    void erase(std::uint64_t key) {
        const std::uint32_t slot = oracle.at(key);
        index.erase(hash(key), slot, [&](std::uint32_t s) { return slot_hash(s); });
        free.push_back(slot);
        oracle.erase(key);
    }
    // Every entry reachable from its home without crossing an empty bucket,
    // every oracle key found at its slot, and the counts equal.
    void verify() const {
        const auto& b = index.buckets();
        const std::size_t mask = b.size() - 1;
        const std::uint32_t slot_mask =
            index.slot_bits() >= 32 ? 0xFFFFFFFFu : (std::uint32_t(1) << index.slot_bits()) - 1;
        std::size_t used = 0;
        for (std::size_t i = 0; i < b.size(); ++i) {
            if (b[i] == 0) continue;
            ++used;
            const std::uint32_t slot = (b[i] & slot_mask) - 1;
            CHECK(slot < key_at.size());
            for (std::size_t j = slot_hash(slot) & mask; j != i; j = (j + 1) & mask) CHECK(b[j] != 0);
        }
        CHECK(used == oracle.size());
        CHECK(index.size() == oracle.size());
        CHECK(2 * oracle.size() <= b.size());
        for (const auto& [key, slot] : oracle) CHECK(find(key) == slot);
    }
};

void against_unordered_map(std::uint64_t seed, int kind, double erase_share, int ops) {
    check::Random rnd(seed);
    Owner owner{kind, Index(), {}, {}, {}};
    const std::uint64_t key_range = 1 + rnd.below(kind == 0 ? 5000 : 800);
    for (int op = 0; op < ops; ++op) {
        const std::uint64_t key = rnd.below(key_range) * 0x10001 + 3;
        const bool present = owner.oracle.count(key) != 0;
        const std::uint32_t found = owner.find(key);
        CHECK(present ? found == owner.oracle[key] : found == Index::kNone);
        if (present && rnd.chance(erase_share)) {
            owner.erase(key);
        } else if (!present && rnd.chance(1.0 - erase_share)) {
            owner.insert(key);
        }
        if (op % 997 == 0) owner.verify();
    }
    owner.verify();
    // rebuild() from the owner's records, in slot order, at this size and one
    // larger: the same entries, every probe path intact, and for_each_slot
    // lists each indexed slot once.
    for (int grow = 0; grow <= 1; ++grow) {
        const int bits = owner.index.bits() + grow;
        owner.index.rebuild(bits, [&](auto insert) {
            std::vector<bool> is_free(owner.key_at.size(), false);
            for (const std::uint32_t f : owner.free) is_free[f] = true;
            for (std::uint32_t s = 0; s < owner.key_at.size(); ++s) {
                if (!is_free[s]) insert(owner.slot_hash(s), s);
            }
        });
        CHECK(owner.index.bits() == bits);
        owner.verify();
        std::vector<int> seen(owner.key_at.size(), 0);
        owner.index.for_each_slot([&](std::uint32_t s) { ++seen.at(s); });
        for (const auto& kv : owner.oracle) CHECK(seen[kv.second] == 1);
        std::size_t listed = 0;
        for (const int n : seen) listed += std::size_t(n);
        CHECK(listed == owner.oracle.size());
    }
    // Erase everything: the table ends empty, all buckets zero.
    std::vector<std::uint64_t> keys;
    for (const auto& kv : owner.oracle) keys.push_back(kv.first);
    for (const std::uint64_t key : keys) owner.erase(key);
    owner.verify();
    for (const std::uint32_t v : owner.index.buckets()) CHECK(v == 0);
}

// Dense renumbering (the reallocator's and the network's columns): removing
// column c moves every later column down by one.
void dense_relabel(std::uint64_t seed) {
    check::Random rnd(seed);
    Index index;
    std::vector<std::int64_t> ids;  // column -> id
    auto h = [](std::int64_t id) { return vsched::hash_mix(std::uint64_t(id)); };
    auto hash_of = [&](std::uint32_t c) { return h(ids[c]); };
    std::int64_t next = 0;
    for (int op = 0; op < 4000; ++op) {
        if (ids.empty() || rnd.chance(0.55)) {
            ids.push_back(next);
            index.grow_to_hold(ids.size(), hash_of);
            index.insert(h(next), std::uint32_t(ids.size() - 1));
            next += 1 + std::int64_t(rnd.below(3));
        } else {
            const auto c = std::uint32_t(rnd.below(ids.size()));
            index.erase(h(ids[c]), c, hash_of);
            for (std::uint32_t i = c + 1; i < ids.size(); ++i) index.relabel(h(ids[i]), i, i - 1);
            ids.erase(ids.begin() + c);
        }
        if (op % 101 == 0) {
            for (std::uint32_t c = 0; c < ids.size(); ++c) {
                CHECK(index.find(h(ids[c]), [&](std::uint32_t s) { return ids[s] == ids[c]; }) == c);
            }
            CHECK(index.find(h(-5), [&](std::uint32_t s) { return ids[s] == -5; }) == Index::kNone);
        }
    }
}

// Fingerprints: a key whose hash differs from a stored key's only in the
// fingerprint bits is rejected without calling match.
void fingerprints_spare_records() {
    Index index(8);
    index.insert(0x1234000000000005ULL, 3);
    int calls = 0;
    const std::uint32_t found = index.find(0x9999000000000005ULL, [&](std::uint32_t) {
        ++calls;
        return true;
    });
    CHECK(found == Index::kNone);
    CHECK(calls == 0);
    CHECK(index.find(0x1234000000000005ULL, [&](std::uint32_t s) { return s == 3; }) == 3);
    CHECK(index.home_slot(0x1234000000000005ULL) == 3);
    CHECK(index.home_slot(0x1234000000000006ULL) == Index::kNone);
    // probe_guess: the first fingerprint match along the probe, without match().
    index.insert(0x5678000000000005ULL, 9);  // same home, next bucket
    CHECK(index.probe_guess(0x5678000000000005ULL, 4) == 9);
    CHECK(index.probe_guess(0x5678000000000005ULL, 1) == Index::kNone);
    CHECK(index.probe_guess(0x1234000000000005ULL, 4) == 3);
    CHECK(index.probe_guess(0x9999000000000005ULL, 4) == Index::kNone);
}

// load() takes a valid image and refuses bad ones without changing anything.
void load_checks() {
    Index index(4);
    index.insert(vsched::hash_mix(10), 0);
    std::vector<std::uint32_t> copy = index.buckets();
    Index other;
    CHECK(other.load(4, copy, 1));
    CHECK(other.size() == 1);
    CHECK(!other.load(5, copy, 1));      // size does not match bits
    CHECK(!other.load(4, copy, 0));      // slot beyond the records
    std::vector<std::uint32_t> zero_slot(16, 0);
    zero_slot[3] = 1u << 4;              // fingerprint bits but slot field 0
    CHECK(!other.load(4, zero_slot, 5));
    CHECK(other.size() == 1 && other.buckets() == copy);
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
        for (int kind = 0; kind < 4; ++kind) {
            against_unordered_map(seed, kind, 0.3, 6000);
            against_unordered_map(seed + 1000, kind, 0.7, 6000);  // erase-heavy
        }
    }
    for (std::uint64_t seed = 1; seed <= 5; ++seed) dense_relabel(seed);
    fingerprints_spare_records();
    load_checks();
    return check::finish("slot_index");
}
