// LRU-K replacement (O'Neil, O'Neil & Weikum, SIGMOD 1993) with correlated
// reference period (CRP) and retained information period (RIP).
//
// Two layers:
//   LruKPolicy  the policy over dense slot numbers: per-slot history records,
//               the resident set and victim selection. The memory manager uses
//               it directly with slot = frame number.
//   LruKCache   a cache of 64-bit keys: key -> slot hash table, retained
//               history of non-resident keys (bounded by RIP and `history`).
//
// Time is the number of references made so far: the n-th reference happens at
// t = n (t starts at 1), so a time value of 0 means "no such reference".
// The rules are specified once, in docs/engines/memory.md (section `LRUK`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vsched/containers/lazy_heap.hpp"
#include "vsched/containers/radix_heap.hpp"
#include "vsched/containers/remap_array.hpp"
#include "vsched/containers/slot_index.hpp"
#include "vsched/exclusive_use.hpp"
#include "vsched/huge_pages.hpp"
#include "vsched/hash_mix.hpp"
#include "vsched/interrupt.hpp"
#include "vsched/prefetch.hpp"

namespace vsched {

class StateWriter;
class StateReader;

class LruKPolicy {
public:
    static constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;
    static constexpr int kMaxK = 64;
    // Times are below 2^48 (heap entries pack two of them with a slot in 16
    // bytes): 2.8e14 references, about 300 days at 10 M references/s.
    static constexpr std::uint64_t kTimeLimit = std::uint64_t(1) << 48;

    // Throws std::invalid_argument unless 1 <= k <= kMaxK.
    LruKPolicy(int k, std::uint64_t crp);

    int k() const { return k_; }
    std::uint64_t crp() const { return crp_; }

    // Makes room for slots [0, n); new slots are non-resident and empty.
    void resize(std::size_t n);
    std::size_t slot_count() const { return words_.size() / stride_; }

    // Record fields. HIST(p, i) is hist(slot, i - 1); 0 = none.
    std::uint64_t& key(std::uint32_t slot) { return words_[std::size_t(slot) * stride_]; }
    std::uint64_t key(std::uint32_t slot) const { return words_[std::size_t(slot) * stride_]; }
    bool resident(std::uint32_t slot) const { return (word(slot, kLast) & kResidentBit) != 0; }
    std::uint64_t last(std::uint32_t slot) const { return word(slot, kLast) & ~kResidentBit; }
    std::uint64_t hist(std::uint32_t slot, int i) const { return word(slot, kHist + i); }

    // A reference at time t to a resident slot (a hit): correlated references
    // (t - LAST <= crp) only move LAST; uncorrelated ones shift the history by
    // the correlated period just ended and set HIST(1) = LAST = t.
    void reference(std::uint32_t slot, std::uint64_t t);

    // A reference at time t to a non-resident slot, which becomes resident.
    // keep_history: the slot's record holds retained history (shifted by one:
    // HIST(i) = HIST(i-1), HIST(1) = t); otherwise it starts fresh
    // (HIST(1) = t, older entries none). The caller makes room first.
    void admit(std::uint32_t slot, std::uint64_t t, bool keep_history);

    // Chooses the victim at time t among resident slots and makes it
    // non-resident (its history record is left intact). Requires at least one
    // resident slot. Rule: the eligible slot (t - LAST > crp) with the largest
    // backward K-distance; fewer than K uncorrelated references = infinite
    // distance; ties by least recent LAST. No eligible slot: the resident slot
    // with the least recent LAST.
    std::uint32_t evict(std::uint64_t t);

    // Takes a resident slot out of the resident set without choosing it as a
    // victim (the memory manager frees frames this way). Its record is cleared.
    void remove(std::uint32_t slot);

    // Clears a non-resident slot's record (its retained history is dropped).
    void clear(std::uint32_t slot);

    // Loads HIST(1..K) and LAST into a non-resident slot's record (history
    // retained elsewhere, e.g. by content in the memory manager); admit(slot,
    // t, true) then continues it.
    void set_history(std::uint32_t slot, const std::uint64_t* hist, std::uint64_t last);

    std::size_t resident_count() const { return resident_count_; }
    std::size_t memory_bytes() const;

    // The whole policy state, for checkpoints (k and crp are the owner's to
    // check). load() throws std::invalid_argument unless the records are
    // `slots` slots and every link is in range.
    void save(StateWriter& out) const;
    void load(StateReader& in, std::size_t slots);

    // Hint: the slot's record will be needed soon (no effect on results).
    void prefetch(std::uint32_t slot) const {
        const std::size_t at = std::size_t(slot) * stride_;
        if (at < words_.size()) {
            prefetch_line(words_.data() + at);
            prefetch_line(words_.data() + at + stride_ - 1);  // records may straddle two lines
        }
    }

private:
    // Record layout, `stride_` = 3 + k words per slot, one contiguous block so
    // that a reference touches one or two cache lines:
    //   kKey   the cache key (unused by the memory manager)
    //   kLast  LAST, with kResidentBit set while resident
    //   kLink  while resident with infinite distance: prev (low 32) and next
    //          (high 32) in the LRU list; while resident with finite distance:
    //          the LAST value stored in the slot's live heap entry
    //   kHist  HIST(1..K)
    static constexpr int kKey = 0, kLast = 1, kLink = 2, kHist = 3;
    static constexpr std::uint64_t kResidentBit = std::uint64_t(1) << 63;

    // 16 bytes: the 48-bit times HIST(K) and LAST when pushed (LAST:
    // tie-break, and identity) and the slot, packed so that comparing
    // (hi, lo) compares (HIST(K), LAST, slot), the victim queue's order:
    //   hi = HIST(K) << 16 | LAST >> 32,   lo = LAST << 32 | slot.
    struct HeapEntry {
        std::uint64_t hi = 0, lo = 0;
        static HeapEntry make(std::uint64_t hist_k, std::uint64_t last, std::uint32_t slot) {
            return HeapEntry{hist_k << 16 | last >> 32, last << 32 | slot};
        }
        std::uint64_t hist_k() const { return hi >> 16; }
        std::uint64_t last() const { return (hi & 0xFFFF) << 32 | lo >> 32; }
        std::uint32_t slot() const { return std::uint32_t(lo); }
    };
    // Queue order: the entry with the smallest (HIST(K), LAST) = the largest
    // backward K-distance, ties by least recent LAST, is at the top. (LAST
    // values of different slots differ, so the slot never decides between
    // two slots' entries; it only makes the packed order total.) The same
    // order as RadixHeap's; checkpoints hold the entries as a 4-ary heap
    // array in it.
    struct HeapBefore {
        bool operator()(const HeapEntry& a, const HeapEntry& b) const {
            return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
        }
    };
    // The checkpoint layout of a heap entry (unchanged since the first
    // layout; the packed entry is converted on save and load).
    struct SavedHeapEntry {
        std::uint64_t hist_k;
        std::uint64_t last;
        std::uint32_t slot;
        std::uint32_t unused = 0;  // explicit padding: checkpoints hold no stray bytes
    };

    std::uint64_t& word(std::uint32_t slot, int field) { return words_[std::size_t(slot) * stride_ + field]; }
    std::uint64_t word(std::uint32_t slot, int field) const { return words_[std::size_t(slot) * stride_ + field]; }
    bool finite(std::uint32_t slot) const { return hist(slot, k_ - 1) != 0; }

    void list_push_back(std::uint32_t slot);
    void list_unlink(std::uint32_t slot);
    void heap_push_current(std::uint32_t slot);
    bool heap_live(const HeapEntry& e) const;
    void heap_compact_if_due();
    void place(std::uint32_t slot);  // resident slot into list or heap
    void prefetch_next_victims() const;

    int k_;
    std::uint64_t crp_;
    std::size_t stride_;
    RemapArray<std::uint64_t> words_;  // grows without copying (containers/remap_array.hpp)
    // LRU list (by LAST) of resident slots with fewer than K uncorrelated
    // references: their backward K-distance is infinite, so they go first.
    std::uint32_t list_head_ = kNoSlot, list_tail_ = kNoSlot;
    // Lazy min-queue (containers/radix_heap.hpp: no log-depth walk per pop;
    // the lazy rules and the compaction rule of containers/lazy_heap.hpp) of
    // resident slots with finite distance. A hit does not touch the queue:
    // keys only grow while a slot is resident (HIST(K) and LAST never
    // decrease), so a stored key is a lower bound of the true key and an entry
    // found stale at the top is pushed again with its true key. An entry is
    // live iff its slot is resident, finite, and entry.last == kLink word.
    // Pushes are mostly not below the last minimum taken out (admitted keys
    // are new); those that are (an admitted key's retained HIST(K), entries
    // set aside inside their CRP) go to the radix heap's side heap.
    RadixHeap<HeapEntry, 4> heap_;
    std::size_t heap_live_ = 0;
    std::vector<HeapEntry> aside_;  // scratch: ineligible entries during evict()
    std::size_t resident_count_ = 0;
};

class LruKCache : public ExclusiveUse {
public:
    // Throws std::invalid_argument naming the bad argument: capacity >= 1,
    // 1 <= k <= 64. rip/history: nullopt = forever / unbounded.
    LruKCache(std::uint64_t capacity, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
              std::optional<std::uint64_t> history);

    // Both throw std::overflow_error (nothing changed) if the time would reach
    // LruKPolicy::kTimeLimit.
    bool access(std::uint64_t key);
    // References keys[0..n) in order; polls `interrupt` between references:
    // on Interrupted the first i keys are referenced, as if only they were given.
    void access_many(const std::uint64_t* keys, std::size_t n, bool* hit_out, Interrupt* interrupt = nullptr);
    bool contains(std::uint64_t key) const;  // resident?

    std::uint64_t capacity() const { return capacity_; }
    int k() const { return policy_.k(); }
    std::uint64_t crp() const { return policy_.crp(); }
    std::optional<std::uint64_t> rip() const { return rip_; }
    std::optional<std::uint64_t> history() const { return history_; }
    std::uint64_t time() const { return t_; }
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }
    std::uint64_t evictions() const { return evictions_; }
    std::size_t size() const { return policy_.resident_count(); }
    std::size_t retained() const { return retained_count_; }
    std::size_t tracked() const { return policy_.resident_count() + retained_count_; }
    std::size_t memory_bytes() const;

    // Times of the uncorrelated references HIST(1..K) and LAST of a tracked
    // key (resident or retained); empty if the key is not tracked.
    std::vector<std::uint64_t> history_of(std::uint64_t key) const;

    // Checkpoint of the whole state (vsched/state_io.hpp) and back.
    std::string save() const;
    static std::unique_ptr<LruKCache> load(const std::string& bytes);

private:
    struct RetainedEntry {
        std::uint64_t last;
        std::uint32_t slot;
        std::uint32_t unused = 0;  // explicit padding: checkpoints hold no stray bytes
    };
    struct RetainedBefore {  // min-heap by LAST (LAST values are unique)
        bool operator()(const RetainedEntry& a, const RetainedEntry& b) const { return a.last < b.last; }
    };

    void check_time_room(std::uint64_t n) const;  // n more references fit below kTimeLimit
    std::uint32_t find(std::uint64_t key) const;
    std::uint32_t find_hashed(std::uint64_t key, std::uint64_t h) const;  // h = hash_mix(key)
    bool access_hashed(std::uint64_t key, std::uint64_t h);
    void prefetch_bucket(std::uint64_t h) const;
    void prefetch_record(std::uint64_t h) const;
    std::uint32_t new_slot(std::uint64_t key, std::uint64_t h);
    void drop(std::uint32_t slot);  // forget a retained key entirely
    void retain(std::uint32_t slot);
    void purge_expired();
    bool retained_live(const RetainedEntry& e) const;
    std::uint64_t slot_hash(std::uint32_t slot) const { return hash_mix(policy_.key(slot)); }

    std::uint64_t capacity_;
    std::optional<std::uint64_t> rip_, history_;
    bool bounded_;  // rip or history given: keep the retained heap
    LruKPolicy policy_;
    std::uint64_t t_ = 0, hits_ = 0, misses_ = 0, evictions_ = 0;
    std::size_t retained_count_ = 0;

    // key -> slot (containers/slot_index.hpp): 32-bit buckets of fingerprint
    // and slot, at most half full; its bit count is also the slots' limit.
    SlotIndex<HugeVector<std::uint32_t>> table_;
    std::uint32_t free_head_ = LruKPolicy::kNoSlot;  // free slots chained via key word
    std::size_t used_slots_ = 0;                     // slots ever handed out

    LazyHeap<RetainedEntry, RetainedBefore, 2> retained_heap_;  // live entries = retained keys; binary as checkpointed
};

}  // namespace vsched
