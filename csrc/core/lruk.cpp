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
    words_.resize(words);  // new records are zero
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

void LruKPolicy::heap_push_current(std::uint32_t slot) {
    const std::uint64_t l = last(slot);
    word(slot, kLink) = l;  // identifies the live entry
    heap_.push(HeapEntry::make(hist(slot, k_ - 1), l, slot));
}

// Dead entries (slot evicted elsewhere, removed, or re-pushed) are skipped
// when popped.
bool LruKPolicy::heap_live(const HeapEntry& e) const {
    const std::uint32_t s = e.slot();
    return resident(s) && finite(s) && word(s, kLink) == e.last();
}

// The lazy heap's compaction rule (containers/lazy_heap.hpp); the live
// entries kept are refreshed to their true keys.
void LruKPolicy::heap_compact_if_due() {
    if (!LazyHeap<HeapEntry, HeapBefore>::over_limit(heap_.size(), heap_live_)) return;
    heap_.filter_map([&](HeapEntry& e) {
        if (!heap_live(e)) return false;
        const std::uint32_t s = e.slot();
        e = HeapEntry::make(hist(s, k_ - 1), last(s), s);
        word(s, kLink) = last(s);
        return true;
    });
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
            const HeapEntry top = heap_.top();
            const std::uint32_t s = top.slot();
            if (!heap_live(top)) {  // dead
                heap_.pop();
                continue;
            }
            if (top.last() != last(s) || top.hist_k() != hist(s, k_ - 1)) {
                // Stale lower bound: replace it by the true key (keys only
                // grow: the stored key was a lower bound).
                word(s, kLink) = last(s);
                heap_.replace_top(HeapEntry::make(hist(s, k_ - 1), last(s), s));
                continue;
            }
            // Current entry with the smallest true key among the rest.
            if (t - top.last() <= crp_) {
                // Inside its CRP. LAST values are distinct and < t, so at most
                // crp entries are ever set aside.
                aside_.push_back(top);
                heap_.pop();
                continue;
            }
            victim = s;
            --heap_live_;
            heap_.pop();
            break;
        }
        if (victim == kNoSlot) {
            // Nothing eligible (capacity <= crp): fall back to the resident
            // page with the least recent LAST, inside its CRP or not.
            std::size_t best = aside_.size();
            std::uint64_t best_last = list_head_ != kNoSlot ? last(list_head_) : ~std::uint64_t(0);
            for (std::size_t i = 0; i < aside_.size(); ++i) {
                if (aside_[i].last() < best_last) {
                    best_last = aside_[i].last();
                    best = i;
                }
            }
            if (best == aside_.size()) {
                victim = list_head_;
                list_unlink(victim);
            } else {
                victim = aside_[best].slot();
                aside_.erase(aside_.begin() + std::ptrdiff_t(best));
                --heap_live_;
            }
        }
        for (const HeapEntry& e : aside_) heap_.push(e);
    }
    word(victim, kLast) &= ~kResidentBit;
    word(victim, kLink) = 0;
    --resident_count_;
    heap_compact_if_due();
    prefetch_next_victims();
    return victim;
}

// The next evict() starts by reading the record of the list head and of the
// queue's minimum, then (after a pop or a refresh) of the entries next to it:
// fetch them now, so that they arrive while the references up to the next
// miss run instead of stalling that eviction.
void LruKPolicy::prefetch_next_victims() const {
    if (list_head_ != kNoSlot) prefetch(list_head_);
    heap_.for_each_near_top(5, [&](const HeapEntry& e) { prefetch(e.slot()); });
}

void LruKPolicy::remove(std::uint32_t slot) {
    if (finite(slot)) {
        --heap_live_;  // its heap entry turns dead once the slot is not resident
    } else {
        list_unlink(slot);
    }
    --resident_count_;
    clear(slot);
    heap_compact_if_due();
}

void LruKPolicy::clear(std::uint32_t slot) {
    for (std::size_t i = 1; i < stride_; ++i) words_[std::size_t(slot) * stride_ + i] = 0;
}

void LruKPolicy::set_history(std::uint32_t slot, const std::uint64_t* h, std::uint64_t last_ref) {
    for (int i = 0; i < k_; ++i) word(slot, kHist + i) = h[i];
    word(slot, kLast) = last_ref;
}

std::size_t LruKPolicy::memory_bytes() const {
    return sizeof(*this) + words_.capacity() * sizeof(std::uint64_t) + heap_.memory_bytes() +
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
    table_.reset(kInitialBits);
}

std::uint32_t LruKCache::find(std::uint64_t key) const { return find_hashed(key, hash_mix(key)); }

std::uint32_t LruKCache::find_hashed(std::uint64_t key, std::uint64_t h) const {
    return table_.find(h, [&](std::uint32_t s) { return policy_.key(s) == key; });  // kNone == kNoSlot
}

std::uint32_t LruKCache::new_slot(std::uint64_t key, std::uint64_t h) {
    std::uint32_t slot;
    if (free_head_ != LruKPolicy::kNoSlot) {
        slot = free_head_;
        free_head_ = std::uint32_t(policy_.key(slot));
    } else {
        if ((used_slots_ + 1) * 2 > table_.bucket_count()) {
            // The slot field is as wide as the table's bit count.
            if (table_.bits() >= 31) throw std::overflow_error("LRUK: more than 2**30 tracked keys");
            // In record order: the keys are read sequentially. The indexed
            // slots are exactly those below used_slots_ with HIST(1) != 0
            // (free slots are cleared; load() checks this).
            table_.rebuild(table_.bits() + 1, [&](auto insert) {
                for (std::size_t s = 0; s < used_slots_; ++s) {
                    if (policy_.hist(std::uint32_t(s), 0) != 0) insert(slot_hash(std::uint32_t(s)), std::uint32_t(s));
                }
            });
        }
        slot = std::uint32_t(used_slots_++);
        if (used_slots_ > policy_.slot_count()) policy_.resize(used_slots_);
    }
    policy_.key(slot) = key;
    table_.insert(h, slot);
    return slot;
}

void LruKCache::drop(std::uint32_t slot) {
    table_.erase(slot_hash(slot), slot, [&](std::uint32_t s) { return slot_hash(s); });
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

void LruKCache::retain(std::uint32_t slot) {
    ++retained_count_;
    if (!bounded_) return;
    retained_heap_.push(RetainedEntry{policy_.last(slot), slot});
    if (history_) {
        // Keep the `history` most recently referenced non-resident keys.
        while (retained_count_ > *history_) {
            const RetainedEntry e = retained_heap_.top();
            retained_heap_.pop();
            if (retained_live(e)) drop(e.slot);
        }
    }
    retained_heap_.compact_if_due(retained_count_, [&](const RetainedEntry& e) { return retained_live(e); });
}

// Drops every retained key with t - LAST > rip. Called at the start of each
// reference, so expired history is never used or counted.
void LruKCache::purge_expired() {
    if (!rip_ || t_ <= *rip_) return;
    const std::uint64_t oldest_kept = t_ - *rip_;  // LAST >= t - rip survives
    while (!retained_heap_.empty() && retained_heap_.top().last < oldest_kept) {
        const RetainedEntry e = retained_heap_.top();
        retained_heap_.pop();
        if (retained_live(e)) drop(e.slot);
    }
}

void LruKCache::check_time_room(std::uint64_t n) const {
    if (n >= LruKPolicy::kTimeLimit - t_) {
        throw std::overflow_error(message("LRUK: time ", t_, " + ", n, " references reaches 2**48"));
    }
}

bool LruKCache::access(std::uint64_t key) {
    check_time_room(1);
    return access_hashed(key, hash_mix(key));
}

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
    check_time_room(n);
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

void LruKCache::prefetch_bucket(std::uint64_t h) const { table_.prefetch(h); }

// The probe of find_hashed() without reading records (SlotIndex::probe_guess):
// the first bucket whose fingerprint matches names the record find_hashed()
// will most likely read; a new key finds none, and nothing is fetched.
void LruKCache::prefetch_record(std::uint64_t h) const {
    const std::uint32_t guess = table_.probe_guess(h, 4);
    if (guess != LruKPolicy::kNoSlot) policy_.prefetch(guess);
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
    return sizeof(*this) - sizeof(policy_) + policy_.memory_bytes() + table_.bytes() +
           retained_heap_.capacity() * sizeof(RetainedEntry);
}

}  // namespace vsched

// ------------------------------------------------------------ checkpoints ---

namespace vsched {

void LruKPolicy::save(StateWriter& out) const {
    out.put_array(words_.data(), words_.size());
    out.put(list_head_);
    out.put(list_tail_);
    // In queue order: a sorted array is a valid 4-ary heap (the layout saved
    // since format 1), and the bytes depend only on the entries held.
    std::vector<HeapEntry> entries;
    entries.reserve(heap_.size());
    heap_.for_each([&](const HeapEntry& e) { entries.push_back(e); });
    std::sort(entries.begin(), entries.end(), HeapBefore{});
    std::vector<SavedHeapEntry> saved;
    saved.reserve(entries.size());
    for (const HeapEntry& e : entries) saved.push_back(SavedHeapEntry{e.hist_k(), e.last(), e.slot()});
    out.put_vector(saved);
    out.put(static_cast<std::uint64_t>(heap_live_));
    out.put(static_cast<std::uint64_t>(resident_count_));
}

void LruKPolicy::load(StateReader& in, std::size_t slots) {
    const auto words = in.get_vector<std::uint64_t>();
    const auto head = in.get<std::uint32_t>(), tail = in.get<std::uint32_t>();
    const auto saved = in.get_vector<SavedHeapEntry>();
    const auto heap_live = in.get<std::uint64_t>(), resident_count = in.get<std::uint64_t>();
    auto bad = [](const char* what) { return std::invalid_argument(message("corrupt LRU-K checkpoint: ", what)); };
    if (words.size() != slots * stride_) throw bad("record count");
    if ((head != kNoSlot && head >= slots) || (tail != kNoSlot && tail >= slots)) throw bad("list ends");
    if (resident_count > slots || heap_live > resident_count) throw bad("counts");
    std::vector<HeapEntry> heap;
    heap.reserve(saved.size());
    for (const SavedHeapEntry& e : saved) {
        if (e.slot >= slots) throw bad("heap entry");
        if (e.hist_k >= kTimeLimit || e.last >= kTimeLimit) throw bad("heap entry time");
        heap.push_back(HeapEntry::make(e.hist_k, e.last, e.slot));
    }
    if (!heap::is_heap<4>(heap, HeapBefore{})) throw bad("heap order");
    for (std::size_t s = 0; s < slots; ++s) {
        const std::uint64_t w = words[s * stride_ + kLast];
        const std::uint64_t link = words[s * stride_ + kLink];
        const bool infinite = words[s * stride_ + kHist + k_ - 1] == 0;
        if ((w & kResidentBit) && infinite) {
            const auto prev = std::uint32_t(link), next = std::uint32_t(link >> 32);
            if ((prev != kNoSlot && prev >= slots) || (next != kNoSlot && next >= slots)) throw bad("list link");
        }
    }
    RemapArray<std::uint64_t> records;
    records.assign(words.data(), words.size());  // may throw bad_alloc: nothing changed yet
    RadixHeap<HeapEntry, 4> queue;
    queue.rebuild(std::move(heap));  // likewise
    words_ = std::move(records);
    list_head_ = head;
    list_tail_ = tail;
    heap_ = std::move(queue);  // checked above
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
    out.put(static_cast<std::int32_t>(table_.bits()));
    out.put(free_head_);
    out.put(static_cast<std::uint64_t>(used_slots_));
    out.put_vector(table_.buckets());
    out.put_vector(retained_heap_.entries());
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
    if (c.t_ >= LruKPolicy::kTimeLimit) throw bad("time");
    c.hits_ = in.get<std::uint64_t>();
    c.misses_ = in.get<std::uint64_t>();
    c.evictions_ = in.get<std::uint64_t>();
    c.retained_count_ = std::size_t(in.get<std::uint64_t>());
    const auto bits = in.get<std::int32_t>();
    c.free_head_ = in.get<std::uint32_t>();
    c.used_slots_ = std::size_t(in.get<std::uint64_t>());
    auto buckets = in.get_vector<std::uint32_t, HugePageAllocator<std::uint32_t>>();
    auto retained_heap = in.get_vector<RetainedEntry>();
    const auto slots = in.get<std::uint64_t>();
    if (bits < kInitialBits || bits > 31 || buckets.size() != (std::size_t(1) << bits)) throw bad("hash table");
    if (c.used_slots_ > slots || slots > buckets.size()) throw bad("slot count");
    if (c.free_head_ != LruKPolicy::kNoSlot && c.free_head_ >= slots) throw bad("free list");
    if (!c.table_.load(bits, std::move(buckets), std::size_t(slots))) throw bad("bucket");
    for (const RetainedEntry& e : retained_heap) {
        if (e.slot >= slots) throw bad("retained entry");
    }
    if (!c.retained_heap_.load(std::move(retained_heap))) throw bad("retained heap order");
    c.policy_.load(in, std::size_t(slots));
    if (c.policy_.resident_count() > capacity || c.retained_count_ > c.used_slots_) throw bad("counts");
    std::size_t free_slots = 0;
    for (std::uint32_t s = c.free_head_; s != LruKPolicy::kNoSlot; s = std::uint32_t(c.policy_.key(s))) {
        if (s >= slots || ++free_slots > c.used_slots_) throw bad("free list");
        if (c.policy_.hist(s, 0) != 0) throw bad("free list");
    }
    // The indexed slots are exactly the tracked ones: below used_slots_, with
    // HIST(1) != 0, each once (new_slot() rebuilds the index from this).
    std::vector<std::uint8_t> indexed(std::size_t(slots), 0);
    bool index_ok = true;
    c.table_.for_each_slot([&](std::uint32_t s) {
        if (s >= c.used_slots_ || indexed[s] != 0) index_ok = false;
        if (s < indexed.size()) indexed[s] = 1;
    });
    for (std::size_t s = 0; s < c.used_slots_ && index_ok; ++s) {
        index_ok = (indexed[s] != 0) == (c.policy_.hist(std::uint32_t(s), 0) != 0);
    }
    if (!index_ok) throw bad("hash table entries");
    in.expect_end();
    return cache;
}

}  // namespace vsched
