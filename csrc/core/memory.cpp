// The memory manager (docs/engines/memory.md, rules M1-M12).
//
// Invariants between public calls:
//   * a page is resident iff page.frame < kOut; then it is in the mapper list
//     of that frame, whose refcount = the list's length >= 1;
//   * frames_used = frames with refcount >= 1 = frames in the LRU-K policy;
//   * immediate mode: the index holds every frame in use, and no two frames of
//     a domain hold equal content; scan mode: it holds the stable frames;
//   * each VM's counters.resident / shared / swapped = its pages in that state
//     (shared = resident on a frame of refcount >= 2); the totals are the sums.
#include "vsched/memory.hpp"

#include "vsched/eviction/clock.hpp"
#include "vsched/eviction/lru.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "vsched/errors.hpp"
#include "vsched/hash_mix.hpp"
#include "vsched/prefetch.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

namespace {

inline std::uint64_t content_hash(std::int64_t domain, std::uint64_t content) {
    return hash_mix(content ^ hash_mix(static_cast<std::uint64_t>(domain) + 0x9e3779b97f4a7c15ULL));
}

}  // namespace

// ------------------------------------------------------------ FrameIndex ---

void MemoryManager::FrameIndex::init(std::size_t frames) {
    int bits = SlotIndex<>::kMinBits;
    while ((std::size_t(1) << bits) < 2 * frames) ++bits;  // at most half full: short probe chains
    table_.reset(bits);
}

std::uint32_t MemoryManager::FrameIndex::find(const HugeVector<Frame>& frames, std::int64_t domain,
                                              std::uint64_t content) const {
    const std::uint32_t frame = table_.find(content_hash(domain, content), [&](std::uint32_t f) {
        return frames[f].content == content && frames[f].domain == domain;
    });
    return frame == SlotIndex<>::kNone ? kNoFrame : frame;
}

void MemoryManager::FrameIndex::insert(const HugeVector<Frame>& frames, std::uint32_t frame) {
    table_.insert(content_hash(frames[frame].domain, frames[frame].content), frame);
}

void MemoryManager::FrameIndex::erase(const HugeVector<Frame>& frames, std::uint32_t frame) {
    table_.erase(content_hash(frames[frame].domain, frames[frame].content), frame,
                 [&](std::uint32_t f) { return content_hash(frames[f].domain, frames[f].content); });
}

void MemoryManager::FrameIndex::prefetch(std::int64_t domain, std::uint64_t content) const {
    table_.prefetch(content_hash(domain, content));
}

// The frame in the content's home bucket (a guess for prefetching only).
std::uint32_t MemoryManager::FrameIndex::peek(std::int64_t domain, std::uint64_t content) const {
    return table_.home_slot(content_hash(domain, content));
}

bool MemoryManager::FrameIndex::load(HugeVector<std::uint32_t> buckets, std::size_t frames) {
    int bits = 0;
    while (bits < 40 && (std::size_t(1) << bits) < buckets.size()) ++bits;
    if (buckets.size() < 2 * frames) return false;
    return table_.load(bits, std::move(buckets), frames);
}

std::size_t MemoryManager::ContentKeyHash::operator()(const ContentKey& k) const {
    return static_cast<std::size_t>(content_hash(k.domain, k.content));
}

// ------------------------------------------------------------ lifecycle ---

MemoryManager::MemoryManager(std::uint64_t frames, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
                             std::optional<std::uint64_t> history, MergeMode merge, const std::string& policy,
                             int bits)
    : merge_(merge), rip_(rip), history_(history), policy_name_(policy), bits_(bits), lruk_(k, crp) {
    if (frames < 1 || frames > kMaxFrames) {
        throw std::invalid_argument(message("frames = ", frames, ": frames must be in 1..", kMaxFrames));
    }
    if (policy != "lruk") {
        if (policy != "lru" && policy != "clock") {
            throw std::invalid_argument(message("policy = '", policy, "': policy must be one of lruk, lru, clock"));
        }
        if (k != 2 || crp != 0 || rip || history) {
            throw std::invalid_argument(
                message("policy = '", policy, "': k, crp, rip and history are arguments of policy 'lruk' only"));
        }
        if (policy == "clock" && (bits < 1 || bits > 8)) {
            throw std::invalid_argument(message("bits = ", bits, ": bits must be in 1..8"));
        }
        if (policy == "lru") {
            frame_policy_ = std::make_unique<LruPolicy>(frames);
        } else {
            frame_policy_ = std::make_unique<ClockPolicy>(frames, bits);
        }
    }
    if (bits != 1 && policy != "clock") {
        throw std::invalid_argument(message("bits = ", bits, ": bits is an argument of policy 'clock' only"));
    }
    scratch_hist_.assign(std::size_t(k) + 1, 0);
    std::size_t filter = 1024;
    while (filter < 2 * frames && filter < (std::size_t(1) << 24)) filter *= 2;
    retained_filter_.assign(filter, 0);
    frames_.resize(frames);
    lruk_.resize(frames);
    index_.init(frames);
}

// Rule M8: a removed VM's range of the page arena is reused, best fit
// (smallest free range that holds it, lowest start among equals); a free
// range at the end of the arena is extended rather than left behind.
std::uint64_t MemoryManager::take_range(std::uint64_t pages) {
    auto fit = free_by_size_.lower_bound({pages, 0});
    if (fit != free_by_size_.end()) {
        const auto [count, first] = *fit;
        free_by_size_.erase(fit);
        free_by_start_.erase(first);
        if (count > pages) {
            free_by_start_.emplace(first + pages, count - pages);
            free_by_size_.emplace(count - pages, first + pages);
        }
        return first;
    }
    std::uint64_t first = pages_.size();
    if (!free_by_start_.empty()) {
        auto last = std::prev(free_by_start_.end());
        if (last->first + last->second == pages_.size()) {  // the free tail grows into the new range
            first = last->first;
            free_by_size_.erase({last->second, last->first});
            free_by_start_.erase(last);
        }
    }
    const std::uint64_t needed = first + pages;
    if (needed > pages_.capacity()) {
        // Grow by 1/4: the arena is the bulk of the memory.
        pages_.reserve(std::max<std::size_t>(needed, pages_.capacity() + pages_.capacity() / 4));
    }
    if (needed > pages_.size()) {
        pages_.resize(needed);
        if (merge_ == MergeMode::scan) {
            seen_.resize(needed, 0);
            scan_flags_.resize(needed, 0);
        }
    }
    return first;
}

void MemoryManager::give_range(std::uint64_t first, std::uint64_t pages) {
    if (pages == 0) return;
    auto next = free_by_start_.lower_bound(first);
    if (next != free_by_start_.end() && next->first == first + pages) {  // merge with the range after
        pages += next->second;
        free_by_size_.erase({next->second, next->first});
        next = free_by_start_.erase(next);
    }
    if (next != free_by_start_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == first) {  // and with the one before
            first = prev->first;
            pages += prev->second;
            free_by_size_.erase({prev->second, prev->first});
            free_by_start_.erase(prev);
        }
    }
    free_by_start_.emplace(first, pages);
    free_by_size_.emplace(pages, first);
}

std::uint32_t MemoryManager::new_slot(std::int64_t id, std::int64_t domain, std::uint64_t pages) {
    const std::uint32_t slot = ids_.take_slot(free_slots_, vms_.size(), [&](std::uint32_t s) { return slot_id_hash(s); });
    if (slot == vms_.size()) vms_.emplace_back();
    Vm& v = vms_[slot];
    v = Vm{};
    v.id = id;
    v.domain = domain;
    v.count = pages;
    v.first = pages == 0 ? 0 : take_range(pages);
    for (std::uint64_t i = v.first; i < v.first + pages; ++i) {
        pages_[i] = Page{};
        pages_[i].vm = slot;
    }
    if (merge_ == MergeMode::scan) {
        std::fill_n(seen_.begin() + std::ptrdiff_t(v.first), pages, 0);
        std::fill_n(scan_flags_.begin() + std::ptrdiff_t(v.first), pages, 0);
    }
    ids_.insert(id_hash(id), slot);
    order_.push_back(OrderEntry{id, slot});  // ids only grow, so order_ stays sorted
    ++live_vms_;
    live_pages_ += pages;
    return slot;
}

std::int64_t MemoryManager::add_vm(std::int64_t pages, std::int64_t domain) {
    if (pages < 0) throw std::invalid_argument(message("pages = ", pages, ": pages must be >= 0"));
    if (domain < 0) throw std::invalid_argument(message("domain = ", domain, ": domain must be >= 0"));
    if (std::uint64_t(pages) > kMaxPages - live_pages_) {
        throw AdmissionError(message("pages = ", pages, ": live VMs would hold more than ", kMaxPages,
                                     " guest pages in all (", live_pages_, " now)"));
    }
    const std::int64_t id = next_id_++;
    new_slot(id, domain, std::uint64_t(pages));
    return id;
}

std::uint32_t MemoryManager::find_slot(std::int64_t vm) const {
    if (vm < 0) return kNoSlot;
    return ids_.find(id_hash(vm), [&](std::uint32_t s) { return vms_[s].id == vm; });  // kNone == kNoSlot
}

std::uint32_t MemoryManager::slot_of(std::int64_t vm) const {
    const std::uint32_t slot = find_slot(vm);
    if (slot == kNoSlot) throw KeyError(message("vm = ", vm, ": no such VM"));
    return slot;
}

void MemoryManager::compact_order() {
    std::size_t out = 0, cursor = order_.size();
    for (std::size_t i = 0; i < order_.size(); ++i) {
        if (i == cursor_pos_) {
            cursor = out;
            if (!order_live(order_[i])) cursor_gpn_ = 0;  // the scanner moves on to the next VM
        }
        if (order_live(order_[i])) order_[out++] = order_[i];
    }
    cursor_pos_ = cursor_pos_ >= order_.size() ? out : cursor;
    order_.resize(out);
    order_dead_ = 0;
}

// Rule M7: pages leave in gpn order; a frame is freed when its last mapper
// leaves. The VM's fault counters stay in the totals.
void MemoryManager::remove_vm(std::int64_t vm) {
    const std::uint32_t slot = slot_of(vm);
    Vm& v = vms_[slot];
    for (std::uint64_t i = v.first; i < v.first + v.count; ++i) {
        if (resident(pages_[i])) unmap(std::uint32_t(i));
    }
    if (merge_ == MergeMode::scan) {
        for (std::uint64_t i = v.first; i < v.first + v.count; ++i) {
            pages_volatile_ -= (scan_flags_[i] & kVolatile) ? 1 : 0;
        }
    }
    pages_swapped_ -= v.counters.swapped;
    live_pages_ -= v.count;
    give_range(v.first, v.count);
    ids_.erase(id_hash(vm), slot, [&](std::uint32_t s) { return slot_id_hash(s); });
    v.id = -1;
    free_slots_.push_back(slot);
    --live_vms_;
    if (++order_dead_ > live_vms_ + 64) compact_order();
}

void MemoryManager::check_page(std::int64_t vm, std::int64_t gpn, const char* where) const {
    const Vm& v = vms_[slot_of(vm)];
    if (gpn < 0 || static_cast<std::uint64_t>(gpn) >= v.count) {
        throw std::out_of_range(
            message(where, " = ", gpn, ": VM ", vm, " has ", v.count, " pages (gpn 0..", v.count, ")"));
    }
}

// -------------------------------------------------------- frame helpers ---

// Rule M9: shared = resident on a frame with refcount >= 2, so the second
// mapper makes the first one shared too.
void MemoryManager::join(std::uint32_t page, std::uint32_t frame) {
    Page& p = pages_[page];
    Frame& f = frames_[frame];
    p.frame = frame;
    p.prev = kNoPage;
    p.next = f.mappers;
    if (f.mappers != kNoPage) pages_[f.mappers].prev = page;
    f.mappers = page;
    VmCounters& c = vms_[p.vm].counters;
    ++c.resident;
    ++pages_resident_;
    if (++f.refcount == 2) {
        ++shared_frames_;
        ++c.shared;
        ++vms_[pages_[p.next].vm].counters.shared;
    } else if (f.refcount > 2) {
        ++c.shared;
    }
}

void MemoryManager::unmap(std::uint32_t page) {
    Page& p = pages_[page];
    const std::uint32_t frame = p.frame;
    Frame& f = frames_[frame];
    if (p.prev != kNoPage) {
        pages_[p.prev].next = p.next;
    } else {
        f.mappers = p.next;
    }
    if (p.next != kNoPage) pages_[p.next].prev = p.prev;
    p.prev = p.next = kNoPage;
    p.frame = kOut;  // the caller maps it again or drops it
    VmCounters& c = vms_[p.vm].counters;
    --c.resident;
    --pages_resident_;
    if (f.refcount == 2) {
        --shared_frames_;
        --c.shared;
        --vms_[pages_[f.mappers].vm].counters.shared;  // the one mapper left
    } else if (f.refcount > 2) {
        --c.shared;
    }
    if (--f.refcount == 0) {
        if (frame_policy_) {
            frame_policy_->remove(frame);
        } else {
            lruk_.remove(frame);
        }
        free_frame(frame);
    }
}

void MemoryManager::free_frame(std::uint32_t frame) {
    Frame& f = frames_[frame];
    if (indexed(f)) index_.erase(frames_, frame);
    f.stable = 0;
    f.refcount = 0;
    f.mappers = kNoPage;
    ++f.serial;
    free_stack_.push_back(frame);
    --frames_used_;
}

// Rule M3: out of frames, LRU-K picks the victim frame and every page mapping
// it becomes swapped (keeping its content); the victim's history is retained
// under its (domain, content).
std::uint32_t MemoryManager::evict_one(std::uint64_t t) {
    const std::uint32_t victim = frame_policy_ ? std::uint32_t(*frame_policy_->evict()) : lruk_.evict(t);
    Frame& f = frames_[victim];
    const bool shared = f.refcount >= 2;
    for (std::uint32_t page = f.mappers; page != kNoPage;) {
        Page& p = pages_[page];
        const std::uint32_t next = p.next;
        VmCounters& c = vms_[p.vm].counters;
        --c.resident;
        ++c.swapped;
        if (shared) --c.shared;
        p.frame = kOut;
        p.prev = p.next = kNoPage;
        page = next;
    }
    pages_resident_ -= f.refcount;
    pages_swapped_ += f.refcount;
    if (shared) --shared_frames_;
    ++evictions_;
    if (!frame_policy_) retain(victim);  // only LRU-K keeps history (M4)
    free_frame(victim);  // keeps content and domain until the frame is reused
    return victim;
}

std::uint32_t MemoryManager::allocate(std::int64_t domain, std::uint64_t content, std::uint64_t t) {
    // As in LRUK: the content's own retained history leaves the retained set
    // first, then the victim's history enters it, then the bound applies.
    const bool has_history = take_retained(domain, content);
    if (frames_used_ == frames_.size()) evict_one(t);
    std::uint32_t frame;
    if (!free_stack_.empty()) {
        frame = free_stack_.back();
        free_stack_.pop_back();
    } else {
        frame = next_unused_++;
    }
    Frame& f = frames_[frame];
    f.content = content;
    f.domain = domain;
    f.refcount = 0;
    f.mappers = kNoPage;
    ++frames_used_;
    if (frame_policy_) {
        frame_policy_->access(frame);  // a miss: the frame was free
        frame_policy_->admit(frame);   // never evicts: a frame was free
    } else {
        if (has_history) lruk_.set_history(frame, scratch_hist_.data(), scratch_hist_[std::size_t(lruk_.k())]);
        lruk_.admit(frame, t, has_history);  // retained history continues, else a fresh one
    }
    if (merge_ == MergeMode::immediate) index_.insert(frames_, frame);
    return frame;
}

// ----------------------------------------------------- retained history ---

// Retained records are numbered r = offset / (k + 1) in retained_pool_; the
// index maps (domain, content) -> r, the key being retained_keys_[r] (domain
// -1 while the record is free).
std::uint32_t MemoryManager::retained_at(const ContentKey& key) const {
    const std::uint32_t r = retained_index_.find(ContentKeyHash{}(key), [&](std::uint32_t s) {
        return retained_keys_[s] == key;
    });
    return r == SlotIndex<>::kNone ? kNoSlot : r * std::uint32_t(lruk_.k() + 1);
}

void MemoryManager::release_retained(std::uint32_t at) {
    const std::uint32_t r = at / std::uint32_t(lruk_.k() + 1);
    retained_index_.erase(ContentKeyHash{}(retained_keys_[r]), r,
                          [&](std::uint32_t s) { return ContentKeyHash{}(retained_keys_[s]); });
    retained_keys_[r] = ContentKey{-1, 0};
    retained_free_.push_back(at);
}

void MemoryManager::drop_retained(const ContentKey& key) {
    filter_remove(key);
    release_retained(retained_at(key));
}

bool MemoryManager::take_retained(std::int64_t domain, std::uint64_t content) {
    const ContentKey key{domain, content};
    if (retained_index_.size() == 0 || filter_count(key) == 0) return false;
    const std::uint32_t at = retained_at(key);
    if (at == kNoSlot) return false;
    filter_remove(key);
    const std::size_t stride = std::size_t(lruk_.k()) + 1;
    std::copy_n(retained_pool_.begin() + std::ptrdiff_t(at), stride, scratch_hist_.begin());
    release_retained(at);
    return true;
}

void MemoryManager::retain(std::uint32_t frame) {
    const int k = lruk_.k();
    const std::size_t stride = std::size_t(k) + 1;
    const ContentKey key{frames_[frame].domain, frames_[frame].content};
    const std::uint64_t last = lruk_.last(frame);
    std::uint32_t at = retained_at(key);
    if (at != kNoSlot) {
        // Two frames of equal content (merge off/scan): keep the more recent.
        if (retained_pool_[at + std::size_t(k)] > last) return;
    } else {
        if (!retained_free_.empty()) {
            at = retained_free_.back();
            retained_free_.pop_back();
        } else {
            at = std::uint32_t(retained_pool_.size());
            retained_pool_.resize(retained_pool_.size() + stride);
            retained_keys_.resize(retained_pool_.size() / stride, ContentKey{-1, 0});
            retained_index_.grow_to_hold(retained_keys_.size(),
                                         [&](std::uint32_t s) { return ContentKeyHash{}(retained_keys_[s]); });
        }
        const std::uint32_t r = at / std::uint32_t(stride);
        retained_keys_[r] = key;
        retained_index_.insert(ContentKeyHash{}(key), r);
        filter_add(key);
    }
    for (int i = 0; i < k; ++i) retained_pool_[at + std::size_t(i)] = lruk_.hist(frame, i);
    retained_pool_[at + std::size_t(k)] = last;
    if (!rip_ && !history_) return;
    retained_heap_.push(RetainedEntry{last, key});
    if (history_) {
        // Keep the `history` most recently referenced contents.
        while (retained_index_.size() > *history_) {
            const RetainedEntry e = retained_heap_.top();
            retained_heap_.pop();
            if (retained_live(e)) drop_retained(e.key);
        }
    }
    retained_heap_.compact_if_due(retained_index_.size(), [&](const RetainedEntry& e) { return retained_live(e); });
}

// An entry is live while its content's retained history is the one it was pushed for.
bool MemoryManager::retained_live(const RetainedEntry& e) const {
    const std::uint32_t at = retained_at(e.key);
    return at != kNoSlot && retained_pool_[at + std::size_t(lruk_.k())] == e.last;
}

// Forgets retained history with t - LAST > rip (at the start of each access).
void MemoryManager::purge_expired(std::uint64_t t) {
    if (!rip_ || t <= *rip_) return;
    const std::uint64_t oldest_kept = t - *rip_;
    while (!retained_heap_.empty() && retained_heap_.top().last < oldest_kept) {
        const RetainedEntry e = retained_heap_.top();
        retained_heap_.pop();
        if (retained_live(e)) drop_retained(e.key);
    }
}

// Rule M3: in immediate mode join the domain's frame holding the content,
// else allocate one.
void MemoryManager::fault_in(std::uint32_t page, std::int64_t domain, std::uint64_t t) {
    const std::uint64_t content = pages_[page].content;
    if (merge_ == MergeMode::immediate) {
        const std::uint32_t existing = index_.find(frames_, domain, content);
        if (existing != kNoFrame) {
            join(page, existing);
            touch(existing, t);  // a reference to a shared frame is a reference to it
            return;
        }
    }
    join(page, allocate(domain, content, t));
}

// -------------------------------------------------------------- accesses ---

// Rule M2 (one access at time t = ++time). Rule M9: a write dirties the page
// when it changes the page's content or touches it first.
Outcome MemoryManager::run(std::uint32_t page, bool write, std::uint64_t content) {
    const std::uint64_t t = ++t_;
    if (rip_) purge_expired(t);
    Page& p = pages_[page];
    Vm& v = vms_[p.vm];
    if (resident(p)) {
        const std::uint32_t frame = p.frame;
        if (!write || p.content == content) {
            ++hits_;
            touch(frame, t);
            return kHit;
        }
        ++v.counters.dirtied;
        ++dirtied_;
        Frame& f = frames_[frame];
        if (f.refcount > 1 || f.stable) {
            // Copy-on-write: the page leaves the shared (or write-protected
            // merged) frame and faults in its new content.
            ++cow_breaks_;
            ++v.counters.cow_breaks;
            unmap(page);
            p.content = content;
            fault_in(page, v.domain, t);
            return kCowBreak;
        }
        if (merge_ == MergeMode::immediate) {
            const std::uint32_t existing = index_.find(frames_, f.domain, content);
            if (existing != kNoFrame) {
                // Keeps "no two frames of a domain hold equal content".
                ++merges_;
                unmap(page);
                p.content = content;
                join(page, existing);
                touch(existing, t);
                return kMerged;
            }
            index_.erase(frames_, frame);
            f.content = content;
            index_.insert(frames_, frame);
        } else {
            f.content = content;  // private frame rewritten in place
        }
        p.content = content;
        ++hits_;
        touch(frame, t);
        return kHit;
    }
    if (p.frame == kNoFrame) {
        ++first_touches_;
        ++v.counters.first_touches;
        if (write) {
            ++v.counters.dirtied;
            ++dirtied_;
        }
        p.content = write ? content : 0;  // a first read sees the zero page
        fault_in(page, v.domain, t);
        return kFirstTouch;
    }
    ++major_faults_;
    ++v.counters.major_faults;
    --v.counters.swapped;
    --pages_swapped_;
    if (write && p.content != content) {
        ++v.counters.dirtied;
        ++dirtied_;
        p.content = content;
    }
    fault_in(page, v.domain, t);
    return kMajorFault;
}

void MemoryManager::check_time_room(std::uint64_t n) const {
    if (n >= LruKPolicy::kTimeLimit - t_) {
        throw std::overflow_error(message("MemoryManager: time ", t_, " + ", n, " accesses reaches 2**48"));
    }
}

Outcome MemoryManager::access(std::int64_t vm, std::int64_t gpn, bool write, std::uint64_t content) {
    check_page(vm, gpn);
    check_time_room(1);
    const Vm& v = vms_[find_slot(vm)];
    return run(std::uint32_t(v.first + std::uint64_t(gpn)), write, content);
}

void MemoryManager::prepare_batch(const std::int64_t* vm, std::size_t vm_count, const std::int64_t* gpn,
                                  std::size_t n, const std::uint64_t* content, const std::uint8_t* write,
                                  Batch& out) const {
    check_time_room(n);
    out.page.resize(n);
    if (vm_count == 1 && n > 0) {  // one VM for the whole batch: one lookup
        const std::uint32_t only = find_slot(vm[0]);
        if (only == kNoSlot) throw KeyError(message("vm = ", vm[0], ": no such VM"));
        const Vm& v = vms_[only];
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t g = gpn[i];
            if (g < 0 || static_cast<std::uint64_t>(g) >= v.count) {
                throw std::out_of_range(message("gpn[", i, "] = ", g, ": VM ", vm[0], " has ", v.count,
                                                " pages (gpn 0..", v.count, ")"));
            }
            out.page[i] = std::uint32_t(v.first + std::uint64_t(g));
        }
        vm_count = 0;  // done: skip the general loop
    }
    std::uint32_t slot = kNoSlot;
    std::int64_t last_id = -1;
    for (std::size_t i = 0; i < (vm_count == 0 ? 0 : n); ++i) {
        const std::int64_t id = vm[i];
        if (id != last_id || slot == kNoSlot) {
            slot = find_slot(id);
            last_id = id;
            if (slot == kNoSlot) throw KeyError(message("vm[", i, "] = ", id, ": no such VM"));
        }
        const Vm& v = vms_[slot];
        const std::int64_t g = gpn[i];
        if (g < 0 || static_cast<std::uint64_t>(g) >= v.count) {
            throw std::out_of_range(
                message("gpn[", i, "] = ", g, ": VM ", id, " has ", v.count, " pages (gpn 0..", v.count, ")"));
        }
        out.page[i] = std::uint32_t(v.first + std::uint64_t(g));
    }
    if (content != nullptr) {
        out.content.assign(content, content + n);
    } else {
        out.content.clear();
    }
    if (content != nullptr && write != nullptr) {
        out.write.assign(write, write + n);
    } else {
        out.write.clear();
    }
}

void MemoryManager::run_batch(const Batch& batch, std::int8_t* out, Interrupt* interrupt) {
    // Software pipelining (hints only, results do not depend on them): a
    // guest page record, then its frame and LRU-K record (and, for writes,
    // the content index bucket) are dependent cache misses over gigabytes of
    // page tables; prefetching a few accesses ahead keeps several in flight.
    constexpr std::size_t kPageAhead = 24, kFrameAhead = 12;
    const std::size_t n = batch.page.size();
    const std::uint32_t* page = batch.page.data();
    const std::uint64_t* content = batch.content.empty() ? nullptr : batch.content.data();
    const std::uint8_t* write = batch.write.empty() ? nullptr : batch.write.data();
    InterruptPoll poll(interrupt);
    for (std::size_t i = 0; i < n; ++i) {
        poll();  // a boundary: accesses 0..i-1 are done, i not started
        if (i + kPageAhead < n) prefetch_line(&pages_[page[i + kPageAhead]]);
        if (i + kFrameAhead < n) {
            const std::size_t j = i + kFrameAhead;
            const Page& p = pages_[page[j]];
            if (content != nullptr && (write == nullptr || write[j])) {
                const std::int64_t domain = vms_[p.vm].domain;
                index_.prefetch(domain, content[j]);
                const std::uint32_t known = index_.peek(domain, content[j]);
                if (known < frames_.size()) {
                    prefetch_line(&frames_[known]);
                    lruk_.prefetch(known);
                }
            }
            if (resident(p)) {
                prefetch_line(&frames_[p.frame]);
                lruk_.prefetch(p.frame);
            }
        }
        const bool is_write = content != nullptr && (write == nullptr || write[i] != 0);
        out[i] = run(page[i], is_write, is_write ? content[i] : 0);
    }
}

// ----------------------------------------------------------------- scan ---

void MemoryManager::set_volatile(std::uint8_t& flags, bool value) {
    const bool was = (flags & kVolatile) != 0;
    if (was == value) return;
    if (value) {
        flags |= kVolatile;
        ++pages_volatile_;
    } else {
        flags &= std::uint8_t(~kVolatile);
        --pages_volatile_;
    }
}

// Rule M6: a visited resident page merges only if its content is unchanged
// since its previous visit.
void MemoryManager::visit(std::uint32_t page) {
    Page& p = pages_[page];
    std::uint8_t& flags = scan_flags_[page];
    if (!resident(p)) {  // not in memory: nothing to merge, forget what was seen
        set_volatile(flags, false);
        flags = 0;
        return;
    }
    const std::uint32_t frame = p.frame;
    const std::uint64_t content = p.content;
    const std::int64_t domain = vms_[p.vm].domain;
    const bool seen_before = (flags & kScanned) != 0;
    const bool unchanged = seen_before && seen_[page] == content;
    seen_[page] = content;
    flags |= kScanned;
    if (frames_[frame].stable) {  // already merged
        set_volatile(flags, false);
        return;
    }
    if (!seen_before) return;  // first sight: just remember the content
    if (!unchanged) {          // changed since the previous visit: volatile, no merge
        set_volatile(flags, true);
        return;
    }
    set_volatile(flags, false);
    // Unchanged since the previous visit: merge with a stable frame of equal
    // content in the domain, else with an unstable candidate (which becomes
    // stable), else become a candidate.
    const std::uint32_t stable = index_.find(frames_, domain, content);
    if (stable != kNoFrame) {
        ++merges_;
        unmap(page);
        join(page, stable);
        return;
    }
    const ContentKey key{domain, content};
    auto it = unstable_.find(key);
    if (it != unstable_.end()) {
        const std::uint32_t other = it->second.frame;
        const Frame& o = frames_[other];
        // The candidate frame must still be the one seen (same serial: not
        // freed since), in use, unmerged and holding this domain's content.
        if (other != frame && o.serial == it->second.serial && o.refcount > 0 && !o.stable &&
            o.content == content && o.domain == domain) {
            unstable_.erase(it);
            frames_[other].stable = 1;
            index_.insert(frames_, other);
            ++merges_;
            unmap(page);
            join(page, other);
            return;
        }
        it->second = Candidate{frame, 0, frames_[frame].serial};  // stale candidate replaced
        return;
    }
    unstable_.emplace(key, Candidate{frame, 0, frames_[frame].serial});
}

// Rule M6, cost bounded (docs/engines/memory.md): a scan of more pages than a
// few passes fast-forwards once a whole pass changed nothing, since every
// later pass then repeats it; only the full-scan count and the cursor move.
void MemoryManager::scan(std::int64_t pages, Interrupt* interrupt) {
    if (merge_ != MergeMode::scan) throw std::invalid_argument("scan() needs merge='scan'");
    if (pages < 0) throw std::invalid_argument(message("pages = ", pages, ": pages must be >= 0"));
    if (live_pages_ == 0) return;
    InterruptPoll poll(interrupt);
    int wraps = 0;  // full scans completed in this call
    std::uint64_t merges_at_wrap = 0, volatile_at_wrap = 0;
    for (std::int64_t done = 0; done < pages; ++done) {
        // Advance to the next live page (VMs in id order); passing the last
        // VM completes a full scan, which (as in KSM) forgets the unstable
        // candidates.
        while (cursor_pos_ >= order_.size() || !order_live(order_[cursor_pos_]) ||
               cursor_gpn_ >= vms_[order_[cursor_pos_].slot].count) {
            if (cursor_pos_ >= order_.size()) {
                // The pass that ends here followed a whole pass of this call (so
                // every resident page was seen with its current content); if it
                // merged nothing and cleared no volatile mark, it left the state
                // as it found it and each further pass repeats it: skip all but
                // the last whole pass (its candidates are the state at the end).
                if (wraps >= 2 && merges_ == merges_at_wrap && pages_volatile_ == volatile_at_wrap) {
                    const auto pass = std::int64_t(live_pages_);
                    const std::int64_t skip = (pages - done) / pass - 1;
                    if (skip > 0) {
                        full_scans_ += std::uint64_t(skip);
                        done += skip * pass;
                    }
                }
                ++wraps;
                merges_at_wrap = merges_;
                volatile_at_wrap = pages_volatile_;
                cursor_pos_ = 0;
                ++full_scans_;
                unstable_.clear();
            } else {
                ++cursor_pos_;
            }
            cursor_gpn_ = 0;
        }
        poll();  // between two visits the state is consistent (the cursor is a member)
        visit(std::uint32_t(vms_[order_[cursor_pos_].slot].first + cursor_gpn_));
        ++cursor_gpn_;
    }
}

// ---------------------------------------------------------------- stats ---

MemoryTotals MemoryManager::totals() const {
    MemoryTotals s;
    s.frames = frames_.size();
    s.frames_used = frames_used_;
    s.pages_resident = pages_resident_;
    s.pages_shared = shared_frames_;
    s.pages_sharing = pages_resident_ - frames_used_;  // mappings that cost no frame
    s.pages_swapped = pages_swapped_;
    s.pages_volatile = pages_volatile_;
    s.hits = hits_;
    s.first_touches = first_touches_;
    s.major_faults = major_faults_;
    s.cow_breaks = cow_breaks_;
    s.merges = merges_;
    s.evictions = evictions_;
    s.full_scans = full_scans_;
    s.time = t_;
    s.retained = retained_index_.size();
    s.dirtied = dirtied_;
    s.imported = imported_;
    return s;
}

VmRows MemoryManager::vm_rows() const {
    VmRows r;
    for (auto* column : {&r.resident, &r.shared, &r.swapped, &r.major_faults, &r.cow_breaks, &r.first_touches,
                         &r.dirtied}) {
        column->reserve(live_vms_);
    }
    r.vm.reserve(live_vms_);
    for (const OrderEntry& e : order_) {
        if (!order_live(e)) continue;
        const VmCounters& c = vms_[e.slot].counters;
        r.vm.push_back(e.id);
        r.resident.push_back(c.resident);
        r.shared.push_back(c.shared);
        r.swapped.push_back(c.swapped);
        r.major_faults.push_back(c.major_faults);
        r.cow_breaks.push_back(c.cow_breaks);
        r.first_touches.push_back(c.first_touches);
        r.dirtied.push_back(c.dirtied);
    }
    return r;
}

void MemoryManager::mapping(std::int64_t vm, std::uint8_t* state, std::uint64_t* content,
                            std::int64_t* frame) const {
    const Vm& v = vms_[slot_of(vm)];
    for (std::uint64_t i = 0; i < v.count; ++i) {
        const Page& p = pages_[v.first + i];
        state[i] = p.frame == kNoFrame ? kUntouched : resident(p) ? kResident : kSwapped;
        content[i] = p.content;
        frame[i] = resident(p) ? std::int64_t(p.frame) : -1;
    }
}

std::size_t MemoryManager::memory_bytes() const {
    constexpr std::size_t kMapEntry = 48;  // a node of std::map / std::set / std::unordered_map, roughly
    return sizeof(*this) + lruk_.memory_bytes() + (frame_policy_ ? frame_policy_->memory_bytes() : 0) +
           frames_.capacity() * sizeof(Frame) +
           pages_.capacity() * sizeof(Page) + seen_.capacity() * sizeof(std::uint64_t) + scan_flags_.capacity() +
           index_.buckets().capacity() * sizeof(std::uint32_t) + vms_.capacity() * sizeof(Vm) +
           free_slots_.capacity() * sizeof(std::uint32_t) + ids_.bytes() + order_.capacity() * sizeof(OrderEntry) +
           free_stack_.capacity() * sizeof(std::uint32_t) + retained_pool_.capacity() * sizeof(std::uint64_t) +
           retained_free_.capacity() * sizeof(std::uint32_t) + retained_heap_.capacity() * sizeof(RetainedEntry) +
           retained_filter_.capacity() + retained_index_.bytes() + retained_keys_.capacity() * sizeof(ContentKey) +
           unstable_.size() * kMapEntry +
           (free_by_start_.size() + free_by_size_.size()) * kMapEntry;
}

std::uint64_t MemoryManager::vm_pages(std::int64_t vm) const { return vms_[slot_of(vm)].count; }
std::int64_t MemoryManager::vm_domain(std::int64_t vm) const { return vms_[slot_of(vm)].domain; }

// ------------------------------------------------------ export / import ---

VmImage MemoryManager::export_vm(std::int64_t vm) const {
    const Vm& v = vms_[slot_of(vm)];
    VmImage image;
    image.domain = v.domain;
    image.state.resize(v.count);
    image.content.resize(v.count);
    for (std::uint64_t i = 0; i < v.count; ++i) {
        const Page& p = pages_[v.first + i];
        image.state[i] = p.frame == kNoFrame ? kUntouched : resident(p) ? kResident : kSwapped;
        image.content[i] = p.content;
    }
    image.major_faults = v.counters.major_faults;
    image.cow_breaks = v.counters.cow_breaks;
    image.first_touches = v.counters.first_touches;
    image.dirtied = v.counters.dirtied;
    return image;
}

// Rule M10. Resident pages come in by content, in gpn order, one time step
// each: in immediate mode a page joins the domain's frame of equal content,
// else it gets a new frame (fresh LRU-K history, or the content's retained
// one). Frames needed beyond the free ones are evicted first, all at the time
// of the first imported page, by LRU-K as for a fault; an eviction of a frame
// the import would have joined makes one more frame needed. Refused (nothing
// changed) if the VM's distinct resident contents (immediate) or resident
// pages (scan, off) outnumber the frames.
std::int64_t MemoryManager::import_vm(const VmImage& image) {
    const std::size_t n = image.state.size();
    if (image.content.size() != n) {
        throw std::invalid_argument(message("content has length ", image.content.size(), ", expected ", n));
    }
    if (image.domain < 0) {
        throw std::invalid_argument(message("domain = ", image.domain, ": domain must be >= 0"));
    }
    std::uint64_t resident_pages = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (image.state[i] > kSwapped) {
            throw std::invalid_argument(message("state[", i, "] = ", int(image.state[i]),
                                                ": page states are 0 (untouched), 1 (resident), 2 (swapped)"));
        }
        if (image.state[i] == kUntouched && image.content[i] != 0) {
            throw std::invalid_argument(
                message("content[", i, "] = ", image.content[i], ": an untouched page holds content 0"));
        }
        resident_pages += image.state[i] == kResident ? 1 : 0;
    }
    if (std::uint64_t(n) > kMaxPages - live_pages_) {
        throw AdmissionError(message("pages = ", n, ": live VMs would hold more than ", kMaxPages,
                                     " guest pages in all (", live_pages_, " now)"));
    }
    std::unordered_set<std::uint64_t> contents;  // immediate mode: distinct resident contents
    if (merge_ == MergeMode::immediate) {
        for (std::size_t i = 0; i < n; ++i) {
            if (image.state[i] == kResident) contents.insert(image.content[i]);
        }
    }
    const std::uint64_t frames_needed_at_most =
        merge_ == MergeMode::immediate ? std::uint64_t(contents.size()) : resident_pages;
    if (frames_needed_at_most > frames_.size()) {
        throw AdmissionError(message("import_vm: the VM has ", frames_needed_at_most,
                                     merge_ == MergeMode::immediate ? " distinct resident contents"
                                                                    : " resident pages",
                                     ", more than the ", frames_.size(), " frames here"));
    }
    check_time_room(resident_pages);
    // Validated: from here on nothing fails.
    const std::int64_t id = next_id_++;
    const std::uint32_t slot = new_slot(id, image.domain, n);
    Vm& v = vms_[slot];
    v.counters.major_faults = image.major_faults;
    v.counters.cow_breaks = image.cow_breaks;
    v.counters.first_touches = image.first_touches;
    v.counters.dirtied = image.dirtied;
    for (std::size_t i = 0; i < n; ++i) {
        Page& p = pages_[v.first + i];
        p.content = image.content[i];
        if (image.state[i] == kSwapped) {
            p.frame = kOut;
            ++v.counters.swapped;
            ++pages_swapped_;
        }
    }
    if (resident_pages == 0) return id;
    const std::uint64_t first_t = t_ + 1;
    if (rip_) purge_expired(first_t);
    std::uint64_t needed = 0;  // new frames the resident pages need
    if (merge_ == MergeMode::immediate) {
        for (const std::uint64_t c : contents) needed += index_.find(frames_, image.domain, c) == kNoFrame ? 1 : 0;
    } else {
        needed = resident_pages;
    }
    while (frames_used_ + needed > frames_.size()) {
        const Frame& f = frames_[evict_one(first_t)];
        if (merge_ == MergeMode::immediate && f.domain == image.domain && contents.count(f.content)) ++needed;
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (image.state[i] != kResident) continue;
        const std::uint64_t t = ++t_;
        if (rip_) purge_expired(t);
        ++imported_;
        fault_in(std::uint32_t(v.first + i), image.domain, t);
    }
    return id;
}

}  // namespace vsched
