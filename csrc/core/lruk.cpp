#include "vsched/lruk.hpp"

#include <algorithm>
#include <stdexcept>

#include "vsched/errors.hpp"
#include "vsched/hash_mix.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

// ---------------------------------------------------------------- policy ---

LruKPolicy::LruKPolicy(int k, std::uint64_t crp) : k_(k), crp_(crp), stride_(std::size_t(3 + k)) {
    if (k < 1 || k > kMaxK) throw std::invalid_argument(message("k = ", k, ": k must be in 1..", kMaxK));
}

void LruKPolicy::resize(std::size_t n) {
    const std::size_t words = n * stride_;
    if (words > words_.capacity()) {
        // Grow by 1/4 (not 2x): records dominate memory per tracked key.
        words_.reserve(std::max(words, words_.capacity() + words_.capacity() / 4 + 64 * stride_));
    }
    words_.resize(words, 0);
}

void LruKPolicy::list_push_back(std::uint32_t slot) {
    std::uint64_t& link = word(slot, kLink);
    link = std::uint64_t(list_tail_) | (std::uint64_t(kNoSlot) << 32);
    if (list_tail_ == kNoSlot) {
        list_head_ = slot;
    } else {
        std::uint64_t& tail_link = word(list_tail_, kLink);
        tail_link = (tail_link & 0xFFFFFFFFu) | (std::uint64_t(slot) << 32);
    }
    list_tail_ = slot;
}

void LruKPolicy::list_unlink(std::uint32_t slot) {
    const std::uint64_t link = word(slot, kLink);
    const auto prev = std::uint32_t(link), next = std::uint32_t(link >> 32);
    if (prev == kNoSlot) {
        list_head_ = next;
    } else {
        std::uint64_t& l = word(prev, kLink);
        l = (l & 0xFFFFFFFFu) | (std::uint64_t(next) << 32);
    }
    if (next == kNoSlot) {
        list_tail_ = prev;
    } else {
        std::uint64_t& l = word(next, kLink);
        l = (l & ~std::uint64_t(0xFFFFFFFFu)) | prev;
    }
}

// 4-ary heap: children of i are 4i+1..4i+4, parent of i is (i-1)/4.
void LruKPolicy::heap_push(const HeapEntry& e) {
    std::size_t i = heap_.size();
    heap_.push_back(e);
    while (i > 0) {
        const std::size_t parent = (i - 1) / 4;
        if (!before(e, heap_[parent])) break;
        heap_[i] = heap_[parent];
        i = parent;
    }
    heap_[i] = e;
}

// Bottom-up sift (Floyd): the entry placed at i is usually a large key (the
// last leaf after a pop, or a refreshed recent key), so walk the hole down
// along the smallest children to a leaf without comparing against it, then
// let it climb back the few levels it needs. Same result as a textbook sift.
void LruKPolicy::heap_sift_down(std::size_t i) {
    const std::size_t n = heap_.size();
    const HeapEntry e = heap_[i];
    std::size_t hole = i;
    for (;;) {
        const std::size_t first = 4 * hole + 1;
        if (first >= n) break;
        const std::size_t end = std::min(first + 4, n);
        // Branches, not selects, on purpose: the walk is a chain of dependent
        // loads through a heap larger than L2, and a predicted branch lets the
        // core start the next level's loads early (measured: a branch-free
        // tournament was ~10 % slower overall, and prefetching all 16
        // grandchildren per level gained nothing measurable).
        std::size_t best = first;
        for (std::size_t c = first + 1; c < end; ++c) {
            if (before(heap_[c], heap_[best])) best = c;
        }
        heap_[hole] = heap_[best];
        hole = best;
    }
    while (hole > i) {
        const std::size_t parent = (hole - 1) / 4;
        if (!before(e, heap_[parent])) break;
        heap_[hole] = heap_[parent];
        hole = parent;
    }
    heap_[hole] = e;
}

void LruKPolicy::heap_pop() {
    heap_[0] = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) heap_sift_down(0);
}

void LruKPolicy::heap_push_current(std::uint32_t slot) {
    const std::uint64_t l = last(slot);
    word(slot, kLink) = l;  // identifies the live entry
    heap_push(HeapEntry{hist(slot, k_ - 1), l, slot});
}

// Dead entries (slot evicted elsewhere, removed, or re-pushed) are skipped
// when popped; rebuild when they outnumber the live ones so the heap stays
// O(resident) in size.
void LruKPolicy::heap_compact() {
    std::size_t out = 0;
    for (const HeapEntry& e : heap_) {
        const std::uint32_t s = e.slot;
        if (resident(s) && finite(s) && word(s, kLink) == e.last) {
            heap_[out++] = HeapEntry{hist(s, k_ - 1), last(s), s};
            word(s, kLink) = last(s);
        }
    }
    heap_.resize(out);
    for (std::size_t i = heap_.size() / 4 + 1; i-- > 0;) {
        if (i < heap_.size()) heap_sift_down(i);
    }
}

void LruKPolicy::place(std::uint32_t slot) {
    if (finite(slot)) {
        heap_push_current(slot);
        ++heap_live_;
    } else {
        list_push_back(slot);
    }
}

void LruKPolicy::reference(std::uint32_t slot, std::uint64_t t) {
    const std::uint64_t last_ref = last(slot);
    const bool was_finite = finite(slot);
    if (t - last_ref > crp_) {
        // Uncorrelated: the correlated period that just ended (HIST(1)..LAST)
        // counts as one reference, so older references move forward by its
        // length: HIST(i) = HIST(i-1) + (LAST - HIST(1)), i = K..2. "None"
        // (0) stays none.
        const std::uint64_t period = last_ref - hist(slot, 0);
        for (int i = k_ - 1; i >= 1; --i) {
            const std::uint64_t older = hist(slot, i - 1);
            word(slot, kHist + i) = older == 0 ? 0 : older + period;
        }
        word(slot, kHist) = t;
    }
    word(slot, kLast) = t | kResidentBit;
    if (!was_finite) {
        // Keep the infinite-distance list in LAST order, or move to the heap
        // once the K-th uncorrelated reference arrived.
        list_unlink(slot);
        place(slot);
    }
    // A finite slot keeps its (now stale) heap entry: see heap_ comment.
}

void LruKPolicy::admit(std::uint32_t slot, std::uint64_t t, bool keep_history) {
    if (keep_history) {
        for (int i = k_ - 1; i >= 1; --i) word(slot, kHist + i) = hist(slot, i - 1);
    } else {
        for (int i = 1; i < k_; ++i) word(slot, kHist + i) = 0;
    }
    word(slot, kHist) = t;
    word(slot, kLast) = t | kResidentBit;
    ++resident_count_;
    place(slot);
}

std::uint32_t LruKPolicy::evict(std::uint64_t t) {
    std::uint32_t victim = kNoSlot;
    // Infinite distance beats any finite one. The list is in LAST order, so
    // if its head is inside its CRP every member is.
    if (list_head_ != kNoSlot && t - last(list_head_) > crp_) {
        victim = list_head_;
        list_unlink(victim);
    } else {
        aside_.clear();
        while (!heap_.empty()) {
            HeapEntry& top = heap_[0];
            const std::uint32_t s = top.slot;
            if (!(resident(s) && finite(s) && word(s, kLink) == top.last)) {  // dead
                heap_pop();
                continue;
            }
            if (top.last != last(s) || top.hist_k != hist(s, k_ - 1)) {
                // Stale lower bound: raise it to the true key in place (keys
                // only grow, so sifting down restores the heap).
                top.hist_k = hist(s, k_ - 1);
                top.last = last(s);
                word(s, kLink) = top.last;
                heap_sift_down(0);
                continue;
            }
            // Current entry with the smallest true key among the rest.
            if (t - top.last <= crp_) {
                // Inside its CRP. LAST values are distinct and < t, so at most
                // crp entries are ever set aside.
                aside_.push_back(top);
                heap_pop();
                continue;
            }
            victim = s;
            --heap_live_;
            heap_pop();
            break;
        }
        if (victim == kNoSlot) {
            // Nothing eligible (capacity <= crp): fall back to the resident
            // page with the least recent LAST, inside its CRP or not.
            std::size_t best = aside_.size();
            std::uint64_t best_last = list_head_ != kNoSlot ? last(list_head_) : ~std::uint64_t(0);
            for (std::size_t i = 0; i < aside_.size(); ++i) {
                if (aside_[i].last < best_last) {
                    best_last = aside_[i].last;
                    best = i;
                }
            }
            if (best == aside_.size()) {
                victim = list_head_;
                list_unlink(victim);
            } else {
                victim = aside_[best].slot;
                aside_.erase(aside_.begin() + std::ptrdiff_t(best));
                --heap_live_;
            }
        }
        for (const HeapEntry& e : aside_) heap_push(e);
    }
    word(victim, kLast) &= ~kResidentBit;
    word(victim, kLink) = 0;
    --resident_count_;
    if (heap_.size() > 2 * heap_live_ + 1024) heap_compact();
    prefetch_next_victims();
    return victim;
}

// The next evict() starts by reading the record of the list head and of the
// heap top, then (after a pop or a refresh) of one of the top's children:
// fetch them now, so that they arrive while the references up to the next
// miss run instead of stalling that eviction.
void LruKPolicy::prefetch_next_victims() const {
    if (list_head_ != kNoSlot) prefetch(list_head_);
    const std::size_t candidates = std::min<std::size_t>(heap_.size(), 5);
    for (std::size_t j = 0; j < candidates; ++j) prefetch(heap_[j].slot);
}

void LruKPolicy::remove(std::uint32_t slot) {
    if (finite(slot)) {
        --heap_live_;  // its heap entry turns dead once the slot is not resident
    } else {
        list_unlink(slot);
    }
    --resident_count_;
    clear(slot);
    if (heap_.size() > 2 * heap_live_ + 1024) heap_compact();
}

void LruKPolicy::clear(std::uint32_t slot) {
    for (std::size_t i = 1; i < stride_; ++i) words_[std::size_t(slot) * stride_ + i] = 0;
}

void LruKPolicy::set_history(std::uint32_t slot, const std::uint64_t* h, std::uint64_t last_ref) {
    for (int i = 0; i < k_; ++i) word(slot, kHist + i) = h[i];
    word(slot, kLast) = last_ref;
}

std::size_t LruKPolicy::memory_bytes() const {
    return sizeof(*this) + words_.capacity() * sizeof(std::uint64_t) + heap_.capacity() * sizeof(HeapEntry) +
           aside_.capacity() * sizeof(HeapEntry);
}

// ----------------------------------------------------------------- cache ---

namespace {

constexpr int kInitialBits = 4;

}  // namespace

LruKCache::LruKCache(std::uint64_t capacity, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
                     std::optional<std::uint64_t> history)
    : capacity_(capacity), rip_(rip), history_(history), bounded_(rip || history), policy_(k, crp) {
    if (capacity < 1) throw std::invalid_argument(message("capacity = ", capacity, ": capacity must be >= 1"));
    slot_bits_ = kInitialBits;
    buckets_.assign(std::size_t(1) << slot_bits_, 0);
}

std::uint32_t LruKCache::find(std::uint64_t key) const { return find_hashed(key, hash_mix(key)); }

std::uint32_t LruKCache::find_hashed(std::uint64_t key, std::uint64_t h) const {
    const std::size_t mask = buckets_.size() - 1;
    const std::uint32_t fp = std::uint32_t(h >> (32 + slot_bits_));
    const std::uint32_t slot_mask = (std::uint32_t(1) << slot_bits_) - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
        const std::uint32_t v = buckets_[i];
        if (v == 0) return LruKPolicy::kNoSlot;
        if ((v >> slot_bits_) == fp) {
            const std::uint32_t slot = (v & slot_mask) - 1;
            if (policy_.key(slot) == key) return slot;
        }
    }
}

void LruKCache::table_insert(std::uint32_t slot, std::uint64_t h) {
    const std::size_t mask = buckets_.size() - 1;
    const std::uint32_t v = (std::uint32_t(h >> (32 + slot_bits_)) << slot_bits_) | (slot + 1);
    std::size_t i = h & mask;
    while (buckets_[i] != 0) i = (i + 1) & mask;
    buckets_[i] = v;
}

void LruKCache::table_grow() {
    if (slot_bits_ >= 31) throw std::overflow_error("LRUK: more than 2**30 tracked keys");
    HugeVector<std::uint32_t> old;
    old.swap(buckets_);
    const std::uint32_t old_mask = (std::uint32_t(1) << slot_bits_) - 1;
    ++slot_bits_;
    buckets_.assign(std::size_t(1) << slot_bits_, 0);
    for (const std::uint32_t v : old) {
        if (v == 0) continue;
        const std::uint32_t slot = (v & old_mask) - 1;
        table_insert(slot, hash_mix(policy_.key(slot)));
    }
}

// Backward-shift deletion keeps every probe chain unbroken without tombstones.
void LruKCache::table_erase(std::uint64_t key) {
    const std::uint64_t h = hash_mix(key);
    const std::size_t mask = buckets_.size() - 1;
    const std::uint32_t slot_mask = (std::uint32_t(1) << slot_bits_) - 1;
    std::size_t i = h & mask;
    while (policy_.key((buckets_[i] & slot_mask) - 1) != key) i = (i + 1) & mask;
    for (std::size_t j = (i + 1) & mask; buckets_[j] != 0; j = (j + 1) & mask) {
        const std::size_t home = hash_mix(policy_.key((buckets_[j] & slot_mask) - 1)) & mask;
        // The entry at j may fill the hole at i unless its home lies
        // cyclically in (i, j].
        const bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_in_range) {
            buckets_[i] = buckets_[j];
            i = j;
        }
    }
    buckets_[i] = 0;
}

std::uint32_t LruKCache::new_slot(std::uint64_t key, std::uint64_t h) {
    std::uint32_t slot;
    if (free_head_ != LruKPolicy::kNoSlot) {
        slot = free_head_;
        free_head_ = std::uint32_t(policy_.key(slot));
    } else {
        if ((used_slots_ + 1) * 2 > buckets_.size()) table_grow();
        slot = std::uint32_t(used_slots_++);
        if (used_slots_ > policy_.slot_count()) policy_.resize(used_slots_);
    }
    policy_.key(slot) = key;
    table_insert(slot, h);
    return slot;
}

void LruKCache::drop(std::uint32_t slot) {
    table_erase(policy_.key(slot));
    policy_.clear(slot);
    policy_.key(slot) = free_head_;
    free_head_ = slot;
    --retained_count_;
}

bool LruKCache::retained_live(const RetainedEntry& e) const {
    // A slot's LAST changes whenever it is referenced, so an entry whose slot
    // came back (or was dropped and reused) no longer matches.
    return !policy_.resident(e.slot) && policy_.last(e.slot) == e.last && policy_.hist(e.slot, 0) != 0;
}

void LruKCache::retained_compact() {
    std::size_t out = 0;
    for (const RetainedEntry& e : retained_heap_) {
        if (retained_live(e)) retained_heap_[out++] = e;
    }
    retained_heap_.resize(out);
    std::make_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
}

void LruKCache::retain(std::uint32_t slot) {
    ++retained_count_;
    if (!bounded_) return;
    retained_heap_.push_back(RetainedEntry{policy_.last(slot), slot});
    std::push_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
    if (history_) {
        // Keep the `history` most recently referenced non-resident keys.
        while (retained_count_ > *history_) {
            std::pop_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
            const RetainedEntry e = retained_heap_.back();
            retained_heap_.pop_back();
            if (retained_live(e)) drop(e.slot);
        }
    }
    if (retained_heap_.size() > 2 * retained_count_ + 1024) retained_compact();
}

// Drops every retained key with t - LAST > rip. Called at the start of each
// reference, so expired history is never used or counted.
void LruKCache::purge_expired() {
    if (!rip_ || t_ <= *rip_) return;
    const std::uint64_t oldest_kept = t_ - *rip_;  // LAST >= t - rip survives
    while (!retained_heap_.empty() && retained_heap_.front().last < oldest_kept) {
        std::pop_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
        const RetainedEntry e = retained_heap_.back();
        retained_heap_.pop_back();
        if (retained_live(e)) drop(e.slot);
    }
}

bool LruKCache::access(std::uint64_t key) { return access_hashed(key, hash_mix(key)); }

bool LruKCache::access_hashed(std::uint64_t key, std::uint64_t h) {
    const std::uint64_t t = ++t_;
    if (bounded_) purge_expired();
    std::uint32_t slot = find_hashed(key, h);
    if (slot != LruKPolicy::kNoSlot && policy_.resident(slot)) {
        policy_.reference(slot, t);
        ++hits_;
        return true;
    }
    ++misses_;
    // Order: the key's own retained history leaves the retained set first,
    // then the victim enters it, then the `history` bound is enforced.
    const bool known = slot != LruKPolicy::kNoSlot;
    if (known) {
        --retained_count_;
    } else {
        slot = new_slot(key, h);
    }
    if (policy_.resident_count() >= capacity_) {
        const std::uint32_t victim = policy_.evict(t);
        ++evictions_;
        retain(victim);
    }
    policy_.admit(slot, t, known);
    return false;
}

// Software pipelining: a reference costs two dependent cache misses (hash
// bucket, then record), and a miss a few more inside evict(). Knowing the keys
// ahead, hash each key once when it enters a window of kBucketAhead keys and
// prefetch its bucket; kRecordAhead keys ahead, that bucket has arrived: probe
// it by fingerprint (no record is read) and prefetch the record it names. So
// the misses of ~kBucketAhead references are in flight at once. Prefetches are
// hints only: a stale guess (the table grew, the key moved, a fingerprint
// collided) costs a wasted load, and results do not depend on them.
void LruKCache::access_many(const std::uint64_t* keys, std::size_t n, bool* hit_out, Interrupt* interrupt) {
    constexpr std::size_t kBucketAhead = 16, kRecordAhead = 8;
    static_assert((kBucketAhead & (kBucketAhead - 1)) == 0, "ring index by mask");
    std::uint64_t hashes[kBucketAhead];  // ring: hash of keys[i] at i % kBucketAhead
    const std::size_t warm = std::min(n, kBucketAhead);
    for (std::size_t i = 0; i < warm; ++i) {
        hashes[i] = hash_mix(keys[i]);
        prefetch_bucket(hashes[i]);
    }
    for (std::size_t i = 0; i < std::min(n, kRecordAhead); ++i) prefetch_record(hashes[i]);
    InterruptPoll poll(interrupt);
    for (std::size_t i = 0; i < n; ++i) {
        poll();  // a boundary: keys 0..i-1 referenced, i not yet
        if (i + kRecordAhead < n) {
            const std::size_t r = i + kRecordAhead;
            prefetch_record(hashes[r % kBucketAhead]);
        }
        const std::uint64_t h = hashes[i % kBucketAhead];
        hit_out[i] = access_hashed(keys[i], h);
        if (i + kBucketAhead < n) {
            const std::size_t b = i + kBucketAhead;  // reuses the ring entry of i, now done
            hashes[b % kBucketAhead] = hash_mix(keys[b]);
            prefetch_bucket(hashes[b % kBucketAhead]);
        }
    }
}

void LruKCache::prefetch_bucket(std::uint64_t h) const { prefetch_line(&buckets_[h & (buckets_.size() - 1)]); }

// The probe of find_hashed() without reading records: the first bucket whose
// fingerprint matches names the record find_hashed() will most likely read.
void LruKCache::prefetch_record(std::uint64_t h) const {
    const std::size_t mask = buckets_.size() - 1;
    const std::uint32_t fp = std::uint32_t(h >> (32 + slot_bits_));
    const std::uint32_t slot_mask = (std::uint32_t(1) << slot_bits_) - 1;
    for (std::size_t i = h & mask, probes = 0; probes < 4; i = (i + 1) & mask, ++probes) {
        const std::uint32_t v = buckets_[i];
        if (v == 0) return;  // a new key: nothing to fetch
        if ((v >> slot_bits_) == fp) {
            policy_.prefetch((v & slot_mask) - 1);
            return;
        }
    }
}

bool LruKCache::contains(std::uint64_t key) const {
    const std::uint32_t slot = find(key);
    return slot != LruKPolicy::kNoSlot && policy_.resident(slot);
}

std::vector<std::uint64_t> LruKCache::history_of(std::uint64_t key) const {
    const std::uint32_t slot = find(key);
    if (slot == LruKPolicy::kNoSlot) return {};
    std::vector<std::uint64_t> out;
    for (int i = 0; i < policy_.k(); ++i) out.push_back(policy_.hist(slot, i));
    out.push_back(policy_.last(slot));
    return out;
}

std::size_t LruKCache::memory_bytes() const {
    return sizeof(*this) - sizeof(policy_) + policy_.memory_bytes() +
           buckets_.capacity() * sizeof(std::uint32_t) + retained_heap_.capacity() * sizeof(RetainedEntry);
}

}  // namespace vsched

// ------------------------------------------------------------ checkpoints ---

namespace vsched {

void LruKPolicy::save(StateWriter& out) const {
    out.put_vector(words_);
    out.put(list_head_);
    out.put(list_tail_);
    out.put_vector(heap_);
    out.put(static_cast<std::uint64_t>(heap_live_));
    out.put(static_cast<std::uint64_t>(resident_count_));
}

void LruKPolicy::load(StateReader& in, std::size_t slots) {
    auto words = in.get_vector<std::uint64_t, HugePageAllocator<std::uint64_t>>();
    const auto head = in.get<std::uint32_t>(), tail = in.get<std::uint32_t>();
    auto heap = in.get_vector<HeapEntry, HugePageAllocator<HeapEntry>>();
    const auto heap_live = in.get<std::uint64_t>(), resident_count = in.get<std::uint64_t>();
    auto bad = [](const char* what) { return std::invalid_argument(message("corrupt LRU-K checkpoint: ", what)); };
    if (words.size() != slots * stride_) throw bad("record count");
    if ((head != kNoSlot && head >= slots) || (tail != kNoSlot && tail >= slots)) throw bad("list ends");
    if (resident_count > slots || heap_live > resident_count) throw bad("counts");
    for (const HeapEntry& e : heap) {
        if (e.slot >= slots) throw bad("heap entry");
    }
    for (std::size_t s = 0; s < slots; ++s) {
        const std::uint64_t w = words[s * stride_ + kLast];
        const std::uint64_t link = words[s * stride_ + kLink];
        const bool infinite = words[s * stride_ + kHist + k_ - 1] == 0;
        if ((w & kResidentBit) && infinite) {
            const auto prev = std::uint32_t(link), next = std::uint32_t(link >> 32);
            if ((prev != kNoSlot && prev >= slots) || (next != kNoSlot && next >= slots)) throw bad("list link");
        }
    }
    words_ = std::move(words);
    list_head_ = head;
    list_tail_ = tail;
    heap_ = std::move(heap);
    heap_live_ = std::size_t(heap_live);
    resident_count_ = std::size_t(resident_count);
}

namespace {
constexpr const char* kLruKKind = "LRUK";
constexpr std::uint32_t kLruKFormat = 1;
}  // namespace

std::string LruKCache::save() const {
    StateWriter out(kLruKKind, kLruKFormat);
    out.put(capacity_);
    out.put(static_cast<std::int32_t>(policy_.k()));
    out.put(policy_.crp());
    out.put(static_cast<std::uint8_t>(rip_.has_value()));
    out.put(rip_.value_or(0));
    out.put(static_cast<std::uint8_t>(history_.has_value()));
    out.put(history_.value_or(0));
    out.put(t_);
    out.put(hits_);
    out.put(misses_);
    out.put(evictions_);
    out.put(static_cast<std::uint64_t>(retained_count_));
    out.put(static_cast<std::int32_t>(slot_bits_));
    out.put(free_head_);
    out.put(static_cast<std::uint64_t>(used_slots_));
    out.put_vector(buckets_);
    out.put_vector(retained_heap_);
    out.put(static_cast<std::uint64_t>(policy_.slot_count()));
    policy_.save(out);
    return out.take();
}

std::unique_ptr<LruKCache> LruKCache::load(const std::string& bytes) {
    StateReader in(bytes, kLruKKind, kLruKFormat);
    auto bad = [](const char* what) { return std::invalid_argument(message("corrupt LRUK checkpoint: ", what)); };
    const auto capacity = in.get<std::uint64_t>();
    const auto k = in.get<std::int32_t>();
    const auto crp = in.get<std::uint64_t>();
    const bool has_rip = in.get<std::uint8_t>() != 0;
    const auto rip = in.get<std::uint64_t>();
    const bool has_history = in.get<std::uint8_t>() != 0;
    const auto history = in.get<std::uint64_t>();
    if (capacity < 1 || k < 1 || k > LruKPolicy::kMaxK) throw bad("configuration");
    auto cache = std::make_unique<LruKCache>(capacity, k, crp, has_rip ? std::optional<std::uint64_t>(rip) : std::nullopt,
                                             has_history ? std::optional<std::uint64_t>(history) : std::nullopt);
    LruKCache& c = *cache;
    c.t_ = in.get<std::uint64_t>();
    c.hits_ = in.get<std::uint64_t>();
    c.misses_ = in.get<std::uint64_t>();
    c.evictions_ = in.get<std::uint64_t>();
    c.retained_count_ = std::size_t(in.get<std::uint64_t>());
    c.slot_bits_ = in.get<std::int32_t>();
    c.free_head_ = in.get<std::uint32_t>();
    c.used_slots_ = std::size_t(in.get<std::uint64_t>());
    c.buckets_ = in.get_vector<std::uint32_t, HugePageAllocator<std::uint32_t>>();
    c.retained_heap_ = in.get_vector<RetainedEntry>();
    const auto slots = in.get<std::uint64_t>();
    if (c.slot_bits_ < kInitialBits || c.slot_bits_ > 31 || c.buckets_.size() != (std::size_t(1) << c.slot_bits_))
        throw bad("hash table");
    if (c.used_slots_ > slots || slots > c.buckets_.size()) throw bad("slot count");
    if (c.free_head_ != LruKPolicy::kNoSlot && c.free_head_ >= slots) throw bad("free list");
    const std::uint32_t slot_mask = (std::uint32_t(1) << c.slot_bits_) - 1;
    for (const std::uint32_t v : c.buckets_) {
        if (v != 0 && ((v & slot_mask) == 0 || (v & slot_mask) > slots)) throw bad("bucket");
    }
    for (const RetainedEntry& e : c.retained_heap_) {
        if (e.slot >= slots) throw bad("retained entry");
    }
    c.policy_.load(in, std::size_t(slots));
    if (c.policy_.resident_count() > capacity || c.retained_count_ > c.used_slots_) throw bad("counts");
    std::size_t free_slots = 0;
    for (std::uint32_t s = c.free_head_; s != LruKPolicy::kNoSlot; s = std::uint32_t(c.policy_.key(s))) {
        if (s >= slots || ++free_slots > c.used_slots_) throw bad("free list");
    }
    in.expect_end();
    return cache;
}

}  // namespace vsched
