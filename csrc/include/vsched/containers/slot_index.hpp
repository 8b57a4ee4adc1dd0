// An open-addressing index from keys to slot numbers: linear probing, 32-bit
// buckets holding a fingerprint and the slot, backward-shift deletion.
//
// Why this shape. The engines keep their records in dense arrays (LRU-K
// records, frames, VM columns, list nodes) and need key -> record number.
// The key itself already lives in the record, so the table stores only the
// slot, 4 bytes a bucket: a probe sequence is a few consecutive words of one
// cache line, and the table is small enough to stay in cache far longer than
// a node-based std::unordered_map (one heap node and a pointer chase per
// entry). The spare high bits of a bucket hold a fingerprint of the key's
// hash, so a probe that meets another key's bucket is nearly always rejected
// without reading that key's record (the load that costs a cache miss).
//
// Bucket format, with `slot_bits` = min(32, log2(bucket count)):
//     0                                   empty
//     (fingerprint << slot_bits) | (slot + 1)
// fingerprint = the top (32 - slot_bits) bits of the 64-bit hash; home
// bucket = hash & (bucket count - 1) (the low bits). With 2^32 buckets or
// more there are no fingerprint bits and every probe compares keys.
//
// Invariants, between calls:
//   * at most half the buckets are used (the owner calls grow_to_hold before
//     inserting, with an upper bound n on the entries and on slot + 1), so an
//     unsuccessful probe ends after ~2.5 buckets on average;
//   * every entry lies on the probe path from its home bucket with no empty
//     bucket in between. Deletion keeps this without tombstones (backward
//     shift): after emptying bucket i, the next entry j of the run moves into
//     i unless its home lies cyclically in (i, j], and so on to the end of
//     the run. So lookups never slow down with churn and nothing needs
//     rebuilding.
//
// The keys are the owner's: lookups take match(slot) (does slot hold the
// key?), deletion and growth take hash_of(slot) (the hash of the key stored
// in slot), both called only with slots in the index. The owner must give
// the same hash function everywhere.
//
// Complexity: find / insert / erase expected O(1) at load <= 1/2; growth
// doubles the table and reinserts in bucket order, O(buckets), amortised
// O(1) per insert. Bytes: 4 per bucket, 8-16 per entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "vsched/prefetch.hpp"

namespace vsched {

template <class Buckets = std::vector<std::uint32_t>>
class SlotIndex {
public:
    static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
    static constexpr int kMinBits = 4;

    // An empty table of 2^bits buckets (bits >= kMinBits).
    explicit SlotIndex(int bits = kMinBits) { reset(bits); }
    void reset(int bits) {
        set_bits(bits);
        buckets_.assign(std::size_t(1) << bits, 0);
        size_ = 0;
    }

    int bits() const { return bits_; }
    int slot_bits() const { return slot_bits_; }
    std::size_t size() const { return size_; }
    std::size_t bucket_count() const { return buckets_.size(); }
    std::size_t bytes() const { return buckets_.capacity() * sizeof(std::uint32_t); }

    // The slot holding the key of hash h (match(slot) says whether it does), or kNone.
    template <class Match>
    std::uint32_t find(std::uint64_t h, Match match) const {
        const std::size_t mask = buckets_.size() - 1;
        const std::uint64_t fp = fingerprint(h);
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            const std::uint32_t v = buckets_[i];
            if (v == 0) return kNone;
            if ((std::uint64_t(v) >> slot_bits_) == fp) {
                const std::uint32_t slot = (v & slot_mask_) - 1;
                if (match(slot)) return slot;
            }
        }
    }

    // Adds slot (not in the index, slot + 1 < 2^slot_bits) under hash h; room must have been made.
    void insert(std::uint64_t h, std::uint32_t slot) {
        const std::size_t mask = buckets_.size() - 1;
        std::size_t i = h & mask;
        while (buckets_[i] != 0) i = (i + 1) & mask;
        buckets_[i] = encode(h, slot);
        ++size_;
    }

    // Removes slot (in the index under hash h); hash_of(s) = the hash of the key in slot s.
    template <class HashOf>
    void erase(std::uint64_t h, std::uint32_t slot, HashOf hash_of) {
        const std::size_t mask = buckets_.size() - 1;
        std::size_t i = h & mask;
        while ((buckets_[i] & slot_mask_) != slot + 1) i = (i + 1) & mask;
        for (std::size_t j = (i + 1) & mask; buckets_[j] != 0; j = (j + 1) & mask) {
            const std::size_t home = hash_of((buckets_[j] & slot_mask_) - 1) & mask;
            // The entry at j may fill the hole at i unless its home lies
            // cyclically in (i, j].
            const bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!home_in_range) {
                buckets_[i] = buckets_[j];
                i = j;
            }
        }
        buckets_[i] = 0;
        --size_;
    }

    // Renumbers an entry in place: slot `from` (under hash h) becomes `to` (to < from).
    void relabel(std::uint64_t h, std::uint32_t from, std::uint32_t to) {
        const std::size_t mask = buckets_.size() - 1;
        std::size_t i = h & mask;
        while ((buckets_[i] & slot_mask_) != from + 1) i = (i + 1) & mask;
        buckets_[i] = (buckets_[i] & ~slot_mask_) | (to + 1);
    }

    // The slot for a new entry of an owner that reuses freed slots (kept in
    // `free`, last freed first) and numbers new ones densely (`slots` so far):
    // the last freed slot (taken from `free`), else `slots`, after growing the
    // table to hold slots + 1 (the owner then appends that record; hash_of is
    // called only for slots in the index). The owner still inserts the entry.
    template <class HashOf>
    std::uint32_t take_slot(std::vector<std::uint32_t>& free, std::size_t slots, HashOf hash_of) {
        if (!free.empty()) {
            const std::uint32_t slot = free.back();
            free.pop_back();
            return slot;
        }
        grow_to_hold(slots + 1, hash_of);
        return std::uint32_t(slots);
    }

    // Doubles the table until n entries with slots < n fit at most half full.
    template <class HashOf>
    void grow_to_hold(std::size_t n, HashOf hash_of) {
        if (2 * n <= buckets_.size()) return;
        int bits = bits_;
        while ((std::size_t(2) * n) > (std::size_t(1) << bits)) ++bits;
        rehash(bits, hash_of);
    }

    // Rebuilds at 2^bits buckets, reinserting the entries in bucket order. The
    // new table is allocated first: a bad_alloc leaves the index as it was.
    template <class HashOf>
    void rehash(int bits, HashOf hash_of) {
        Buckets old(std::size_t(1) << bits, 0);
        old.swap(buckets_);
        const std::uint32_t old_mask = slot_mask_;
        set_bits(bits);
        size_ = 0;
        for (const std::uint32_t v : old) {
            if (v == 0) continue;
            const std::uint32_t slot = (v & old_mask) - 1;
            insert(hash_of(slot), slot);
        }
    }

    // Rebuilds at 2^bits buckets from the owner's entries: for_each(insert)
    // calls insert(h, slot) once for every entry now in the index, in the
    // owner's order (e.g. record order, so that the keys are read
    // sequentially, not in bucket order: one cache miss per entry). The new
    // table is allocated first: a bad_alloc leaves the index as it was. The
    // buckets may come out in another order than rehash() gives (lookups find
    // the same slots).
    template <class ForEach>
    void rebuild(int bits, ForEach for_each) {
        Buckets old(std::size_t(1) << bits, 0);
        old.swap(buckets_);
        set_bits(bits);
        size_ = 0;
        for_each([this](std::uint64_t h, std::uint32_t slot) { insert(h, slot); });
    }

    // f(slot) for every entry, in bucket order.
    template <class F>
    void for_each_slot(F f) const {
        for (const std::uint32_t v : buckets_) {
            if (v != 0) f((v & slot_mask_) - 1);
        }
    }

    // Hints for pipelined lookups (no effect on results): the home bucket of
    // h into cache (prefetch_line: a prefetch the compiler cannot drop); the
    // slot the home bucket holds now (kNone if empty); and the probe of find()
    // without reading records: the first slot within max_probes buckets whose
    // fingerprint matches, i.e. the record find() will most likely read
    // (kNone if the probe meets an empty bucket or nothing matches).
    void prefetch(std::uint64_t h) const { prefetch_line(&buckets_[h & (buckets_.size() - 1)]); }
    std::uint32_t home_slot(std::uint64_t h) const {
        const std::uint32_t v = buckets_[h & (buckets_.size() - 1)];
        return v == 0 ? kNone : (v & slot_mask_) - 1;
    }
    std::uint32_t probe_guess(std::uint64_t h, std::size_t max_probes) const {
        const std::size_t mask = buckets_.size() - 1;
        const std::uint64_t fp = fingerprint(h);
        std::size_t i = h & mask;
        for (std::size_t probes = 0; probes < max_probes; ++probes, i = (i + 1) & mask) {
            const std::uint32_t v = buckets_[i];
            if (v == 0) return kNone;
            if ((std::uint64_t(v) >> slot_bits_) == fp) return (v & slot_mask_) - 1;
        }
        return kNone;
    }

    // The buckets exactly as they are (checkpoints), and back: load() takes
    // 2^bits buckets whose slots are all below `slots` and returns false
    // (changing nothing) otherwise. The probe paths are the owner's to trust.
    const Buckets& buckets() const { return buckets_; }
    bool load(int bits, Buckets buckets, std::size_t slots) {
        if (bits < kMinBits || bits > 40 || buckets.size() != (std::size_t(1) << bits)) return false;
        const std::uint32_t mask = bits >= 32 ? 0xFFFFFFFFu : (std::uint32_t(1) << bits) - 1;
        std::size_t used = 0;
        for (const std::uint32_t v : buckets) {
            if (v == 0) continue;
            if ((v & mask) == 0 || (v & mask) > slots) return false;
            ++used;
        }
        set_bits(bits);
        buckets_ = std::move(buckets);
        size_ = used;
        return true;
    }

private:
    void set_bits(int bits) {
        bits_ = bits;
        slot_bits_ = bits < 32 ? bits : 32;
        slot_mask_ = slot_bits_ >= 32 ? 0xFFFFFFFFu : (std::uint32_t(1) << slot_bits_) - 1;
    }
    std::uint64_t fingerprint(std::uint64_t h) const { return (h >> 32) >> slot_bits_; }
    std::uint32_t encode(std::uint64_t h, std::uint32_t slot) const {
        return std::uint32_t((fingerprint(h) << slot_bits_) | (slot + 1));
    }

    Buckets buckets_;
    int bits_ = 0, slot_bits_ = 0;
    std::uint32_t slot_mask_ = 0;
    std::size_t size_ = 0;
};

}  // namespace vsched
