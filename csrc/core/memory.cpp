#include "vsched/memory.hpp"

#include <algorithm>
#include <stdexcept>

#include "vsched/errors.hpp"
#include "vsched/hash_mix.hpp"

namespace vsched {

namespace {

inline std::uint64_t content_hash(std::int64_t domain, std::uint64_t content) {
    return hash_mix(content ^ hash_mix(static_cast<std::uint64_t>(domain) + 0x9e3779b97f4a7c15ULL));
}

}  // namespace

// ------------------------------------------------------------ FrameIndex ---

void MemoryManager::FrameIndex::init(std::size_t frames) {
    std::size_t size = 16;
    while (size < 2 * frames) size *= 2;  // at most half full: short probe chains
    buckets_.assign(size, 0);
}

std::uint32_t MemoryManager::FrameIndex::find(const HugeVector<Frame>& frames, std::int64_t domain,
                                              std::uint64_t content) const {
    const std::size_t mask = buckets_.size() - 1;
    for (std::size_t i = content_hash(domain, content) & mask;; i = (i + 1) & mask) {
        const std::uint32_t v = buckets_[i];
        if (v == 0) return kNoFrame;
        const Frame& f = frames[v - 1];
        if (f.content == content && f.domain == domain) return v - 1;
    }
}

void MemoryManager::FrameIndex::insert(const HugeVector<Frame>& frames, std::uint32_t frame) {
    const std::size_t mask = buckets_.size() - 1;
    std::size_t i = content_hash(frames[frame].domain, frames[frame].content) & mask;
    while (buckets_[i] != 0) i = (i + 1) & mask;
    buckets_[i] = frame + 1;
}

// Backward-shift deletion (no tombstones): an entry after the hole moves into
// it unless its home bucket lies cyclically in (hole, entry].
void MemoryManager::FrameIndex::erase(const HugeVector<Frame>& frames, std::uint32_t frame) {
    const std::size_t mask = buckets_.size() - 1;
    std::size_t i = content_hash(frames[frame].domain, frames[frame].content) & mask;
    while (buckets_[i] != frame + 1) i = (i + 1) & mask;
    for (std::size_t j = (i + 1) & mask; buckets_[j] != 0; j = (j + 1) & mask) {
        const Frame& f = frames[buckets_[j] - 1];
        const std::size_t home = content_hash(f.domain, f.content) & mask;
        const bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_in_range) {
            buckets_[i] = buckets_[j];
            i = j;
        }
    }
    buckets_[i] = 0;
}

void MemoryManager::FrameIndex::prefetch(std::int64_t domain, std::uint64_t content) const {
    __builtin_prefetch(&buckets_[content_hash(domain, content) & (buckets_.size() - 1)]);
}

// The frame in the content's home bucket (a guess for prefetching only).
std::uint32_t MemoryManager::FrameIndex::peek(std::int64_t domain, std::uint64_t content) const {
    return buckets_[content_hash(domain, content) & (buckets_.size() - 1)] - 1;
}

std::size_t MemoryManager::ContentKeyHash::operator()(const ContentKey& k) const {
    return static_cast<std::size_t>(content_hash(k.domain, k.content));
}

// ------------------------------------------------------------ lifecycle ---

MemoryManager::MemoryManager(std::uint64_t frames, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
                             std::optional<std::uint64_t> history, MergeMode merge)
    : merge_(merge), rip_(rip), history_(history), lruk_(k, crp) {
    scratch_hist_.assign(std::size_t(k) + 1, 0);
    std::size_t filter = 1024;
    while (filter < 2 * frames && filter < (std::size_t(1) << 24)) filter *= 2;
    retained_filter_.assign(filter, 0);
    if (frames < 1 || frames >= kNoFrame) {
        throw std::invalid_argument(message("frames = ", frames, ": frames must be in 1..", kNoFrame - 1));
    }
    frames_.resize(frames);
    lruk_.resize(frames);
    index_.init(frames);
}

std::int64_t MemoryManager::add_vm(std::int64_t pages, std::int64_t domain) {
    if (pages < 0) throw std::invalid_argument(message("pages = ", pages, ": pages must be >= 0"));
    if (domain < 0) throw std::invalid_argument(message("domain = ", domain, ": domain must be >= 0"));
    Vm v;
    v.domain = domain;
    v.pages.first = page_arena_.size();
    v.pages.count = static_cast<std::size_t>(pages);
    const std::size_t needed = page_arena_.size() + v.pages.count;
    if (needed > page_arena_.capacity()) {
        // Grow by 1/4: the arena is the bulk of the memory.
        page_arena_.reserve(std::max(needed, page_arena_.capacity() + page_arena_.capacity() / 4));
    }
    page_arena_.resize(needed);
    if (merge_ == MergeMode::scan) {
        v.seen.assign(static_cast<std::size_t>(pages), 0);
        v.scan_flags.assign(static_cast<std::size_t>(pages), 0);
    }
    vms_.push_back(std::move(v));
    rebase_pages();
    live_pages_ += static_cast<std::uint64_t>(pages);
    return static_cast<std::int64_t>(vms_.size() - 1);
}

void MemoryManager::rebase_pages() {
    for (Vm& v : vms_) v.pages.ptr = page_arena_.data() + v.pages.first;
}

MemoryManager::Vm& MemoryManager::vm_ref(std::int64_t vm) {
    if (vm < 0 || static_cast<std::uint64_t>(vm) >= vms_.size() || !vms_[std::size_t(vm)].live) {
        throw KeyError(message("vm = ", vm, ": no such VM"));
    }
    return vms_[std::size_t(vm)];
}

const MemoryManager::Vm& MemoryManager::vm_ref(std::int64_t vm) const {
    return const_cast<MemoryManager*>(this)->vm_ref(vm);
}

void MemoryManager::remove_vm(std::int64_t vm) {
    Vm& v = vm_ref(vm);
    // Pages leave in gpn order; a frame is freed when its last mapper leaves.
    for (Page& p : v.pages) {
        if (resident(p)) unmap(p);
    }
    if (merge_ == MergeMode::scan) {
        for (std::uint8_t flags : v.scan_flags) pages_volatile_ -= (flags & kVolatile) ? 1 : 0;
    }
    live_pages_ -= v.pages.size();
    v.live = false;
    // Close the gap in the arena: later VMs' pages move down (pages are
    // found through their VM, frames never point at pages, so moving is safe).
    const std::size_t first = v.pages.first, count = v.pages.count;
    page_arena_.erase(page_arena_.begin() + std::ptrdiff_t(first),
                      page_arena_.begin() + std::ptrdiff_t(first + count));
    for (Vm& other : vms_) {
        if (other.pages.first > first) other.pages.first -= count;
    }
    v.pages.first = 0;
    v.pages.count = 0;
    rebase_pages();
    std::vector<std::uint64_t>().swap(v.seen);
    std::vector<std::uint8_t>().swap(v.scan_flags);
}

void MemoryManager::check_page(std::int64_t vm, std::int64_t gpn, const char* where) const {
    const Vm& v = vm_ref(vm);
    if (gpn < 0 || static_cast<std::uint64_t>(gpn) >= v.pages.size()) {
        throw std::out_of_range(
            message(where, " = ", gpn, ": VM ", vm, " has ", v.pages.size(), " pages (gpn 0..", v.pages.size(), ")"));
    }
}

// -------------------------------------------------------- frame helpers ---

void MemoryManager::join(Page& p, std::uint32_t frame) {
    Frame& f = frames_[frame];
    p.frame = frame;
    p.gen = f.gen;
    // pages_shared counts frames with refcount >= 2
    if (++f.refcount == 2) ++shared_frames_;
    ++pages_resident_;
}

void MemoryManager::unmap(Page& p) {
    Frame& f = frames_[p.frame];
    if (f.refcount-- == 2) --shared_frames_;
    --pages_resident_;
    if (f.refcount == 0) {
        lruk_.remove(p.frame);
        free_frame(p.frame);
    }
}

// The frame's mappers (if any) are dropped by the caller; bumping the
// generation turns every remaining mapping into a swapped page.
void MemoryManager::free_frame(std::uint32_t frame) {
    Frame& f = frames_[frame];
    if (indexed(f)) index_.erase(frames_, frame);
    f.stable = false;
    f.refcount = 0;
    ++f.gen;
    free_stack_.push_back(frame);
    --frames_used_;
}

std::uint32_t MemoryManager::allocate(std::int64_t domain, std::uint64_t content, std::uint64_t t) {
    // As in LRUK: the content's own retained history leaves the retained set
    // first, then the victim's history enters it, then the bound applies.
    const bool has_history = take_retained(domain, content);
    if (frames_used_ == frames_.size()) {
        // Out of frames: LRU-K picks the victim; all its mappers swap out.
        const std::uint32_t victim = lruk_.evict(t);
        Frame& v = frames_[victim];
        pages_resident_ -= v.refcount;
        if (v.refcount >= 2) --shared_frames_;
        ++evictions_;
        retain(victim);
        free_frame(victim);
    }
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
    ++frames_used_;
    if (has_history) lruk_.set_history(frame, scratch_hist_.data(), scratch_hist_[std::size_t(lruk_.k())]);
    lruk_.admit(frame, t, has_history);  // retained history continues, else a fresh one
    if (merge_ == MergeMode::immediate) index_.insert(frames_, frame);
    return frame;
}

// ----------------------------------------------------- retained history ---

void MemoryManager::drop_retained(const ContentKey& key) {
    filter_remove(key);
    auto it = retained_.find(key);
    retained_free_.push_back(it->second);
    retained_.erase(it);
}

bool MemoryManager::take_retained(std::int64_t domain, std::uint64_t content) {
    const ContentKey key{domain, content};
    if (retained_.empty() || filter_count(key) == 0) return false;
    auto it = retained_.find(key);
    if (it == retained_.end()) return false;
    filter_remove(key);
    const std::size_t stride = std::size_t(lruk_.k()) + 1;
    std::copy_n(retained_pool_.begin() + std::ptrdiff_t(it->second), stride, scratch_hist_.begin());
    retained_free_.push_back(it->second);
    retained_.erase(it);
    return true;
}

void MemoryManager::retain(std::uint32_t frame) {
    const int k = lruk_.k();
    const std::size_t stride = std::size_t(k) + 1;
    const ContentKey key{frames_[frame].domain, frames_[frame].content};
    const std::uint64_t last = lruk_.last(frame);
    std::uint32_t at;
    auto it = retained_.find(key);
    if (it != retained_.end()) {
        // Two frames of equal content (merge off/scan): keep the more recent.
        at = it->second;
        if (retained_pool_[at + std::size_t(k)] > last) return;
    } else {
        if (!retained_free_.empty()) {
            at = retained_free_.back();
            retained_free_.pop_back();
        } else {
            at = std::uint32_t(retained_pool_.size());
            retained_pool_.resize(retained_pool_.size() + stride);
        }
        retained_.emplace(key, at);
        filter_add(key);
    }
    for (int i = 0; i < k; ++i) retained_pool_[at + std::size_t(i)] = lruk_.hist(frame, i);
    retained_pool_[at + std::size_t(k)] = last;
    if (!rip_ && !history_) return;
    retained_heap_.push_back(RetainedEntry{last, key});
    std::push_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
    auto live = [&](const RetainedEntry& e) {
        auto found = retained_.find(e.key);
        return found != retained_.end() && retained_pool_[found->second + std::size_t(k)] == e.last;
    };
    if (history_) {
        // Keep the `history` most recently referenced contents.
        while (retained_.size() > *history_) {
            std::pop_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
            const RetainedEntry e = retained_heap_.back();
            retained_heap_.pop_back();
            if (live(e)) drop_retained(e.key);
        }
    }
    if (retained_heap_.size() > 2 * retained_.size() + 1024) {
        std::vector<RetainedEntry> kept;
        for (const RetainedEntry& e : retained_heap_) {
            if (live(e)) kept.push_back(e);
        }
        retained_heap_.swap(kept);
        std::make_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
    }
}

// Forgets retained history with t - LAST > rip (at the start of each access).
void MemoryManager::purge_expired(std::uint64_t t) {
    if (!rip_ || t <= *rip_) return;
    const std::uint64_t oldest_kept = t - *rip_;
    const std::size_t at_last = std::size_t(lruk_.k());
    while (!retained_heap_.empty() && retained_heap_.front().last < oldest_kept) {
        std::pop_heap(retained_heap_.begin(), retained_heap_.end(), RetainedAfter{});
        const RetainedEntry e = retained_heap_.back();
        retained_heap_.pop_back();
        auto found = retained_.find(e.key);
        if (found != retained_.end() && retained_pool_[found->second + at_last] == e.last) drop_retained(e.key);
    }
}

void MemoryManager::fault_in(Page& p, std::int64_t domain, std::uint64_t t) {
    if (merge_ == MergeMode::immediate) {
        const std::uint32_t existing = index_.find(frames_, domain, p.content);
        if (existing != kNoFrame) {
            join(p, existing);
            lruk_.reference(existing, t);  // a reference to a shared frame is a reference to it
            return;
        }
    }
    join(p, allocate(domain, p.content, t));
}

// -------------------------------------------------------------- accesses ---

Outcome MemoryManager::run(Vm& v, Page& p, bool write, std::uint64_t content) {
    const std::uint64_t t = ++t_;
    if (rip_) purge_expired(t);
    if (resident(p)) {
        const std::uint32_t frame = p.frame;
        Frame& f = frames_[frame];
        if (!write || f.content == content) {
            ++hits_;
            lruk_.reference(frame, t);
            return kHit;
        }
        if (f.refcount > 1 || f.stable) {
            // Copy-on-write: the page leaves the shared (or write-protected
            // merged) frame and faults in its new content.
            ++cow_breaks_;
            ++v.cow_breaks;
            unmap(p);
            p.content = content;
            fault_in(p, v.domain, t);
            return kCowBreak;
        }
        if (merge_ == MergeMode::immediate) {
            const std::uint32_t existing = index_.find(frames_, f.domain, content);
            if (existing != kNoFrame) {
                // Keeps "no two frames of a domain hold equal content".
                ++merges_;
                unmap(p);
                p.content = content;
                join(p, existing);
                lruk_.reference(existing, t);
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
        lruk_.reference(frame, t);
        return kHit;
    }
    if (p.frame == kNoFrame) {
        ++first_touches_;
        ++v.first_touches;
        p.content = write ? content : 0;  // a first read sees the zero page
        fault_in(p, v.domain, t);
        return kFirstTouch;
    }
    ++major_faults_;
    ++v.major_faults;
    if (write) p.content = content;
    fault_in(p, v.domain, t);
    return kMajorFault;
}

Outcome MemoryManager::access(std::int64_t vm, std::int64_t gpn, bool write, std::uint64_t content) {
    check_page(vm, gpn);
    Vm& v = vms_[std::size_t(vm)];
    return run(v, v.pages[std::size_t(gpn)], write, content);
}

void MemoryManager::validate_batch(const std::int64_t* vm, std::size_t vm_count, const std::int64_t* gpn,
                                   std::size_t n) const {
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t id = vm[vm_count == 1 ? 0 : i];
        if (id < 0 || static_cast<std::uint64_t>(id) >= vms_.size() || !vms_[std::size_t(id)].live) {
            if (vm_count == 1) throw KeyError(message("vm = ", id, ": no such VM"));
            throw KeyError(message("vm[", i, "] = ", id, ": no such VM"));
        }
        const std::size_t pages = vms_[std::size_t(id)].pages.size();
        if (gpn[i] < 0 || static_cast<std::uint64_t>(gpn[i]) >= pages) {
            throw std::out_of_range(
                message("gpn[", i, "] = ", gpn[i], ": VM ", id, " has ", pages, " pages (gpn 0..", pages, ")"));
        }
    }
}

void MemoryManager::access_batch(const std::int64_t* vm, std::size_t vm_count, const std::int64_t* gpn,
                                 std::size_t n, const std::uint64_t* content, const std::uint8_t* write,
                                 std::int8_t* out) {
    // Software pipelining (hints only, results do not depend on them): a
    // guest page record, then its frame and LRU-K record, then (for writes)
    // the content index bucket are dependent cache misses over gigabytes of
    // page tables; prefetching a few accesses ahead keeps several in flight.
    constexpr std::size_t kPageAhead = 24, kFrameAhead = 12;
    for (std::size_t i = 0; i < n; ++i) {
        if (i + kPageAhead < n) {
            const std::size_t j = i + kPageAhead;
            const Vm& ahead = vms_[std::size_t(vm[vm_count == 1 ? 0 : j])];
            __builtin_prefetch(ahead.pages.data() + gpn[j]);
            if (content != nullptr && (write == nullptr || write[j])) index_.prefetch(ahead.domain, content[j]);
        }
        if (i + kFrameAhead < n) {
            const std::size_t j = i + kFrameAhead;
            const Vm& ahead = vms_[std::size_t(vm[vm_count == 1 ? 0 : j])];
            const Page& p = ahead.pages[std::size_t(gpn[j])];
            if (content != nullptr && (write == nullptr || write[j])) {
                const std::uint32_t known = index_.peek(ahead.domain, content[j]);
                if (known != kNoFrame && known < frames_.size()) {
                    __builtin_prefetch(&frames_[known]);
                    lruk_.prefetch(known);
                }
            }
            if (p.frame != kNoFrame) {
                __builtin_prefetch(&frames_[p.frame]);
                lruk_.prefetch(p.frame);
            }
        }
        Vm& v = vms_[std::size_t(vm[vm_count == 1 ? 0 : i])];
        const bool is_write = content != nullptr && (write == nullptr || write[i] != 0);
        out[i] = run(v, v.pages[std::size_t(gpn[i])], is_write, is_write ? content[i] : 0);
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

void MemoryManager::visit(Vm& v, std::size_t gpn) {
    Page& p = v.pages[gpn];
    std::uint8_t& flags = v.scan_flags[gpn];
    if (!resident(p)) {  // not in memory: nothing to merge, forget what was seen
        set_volatile(flags, false);
        flags = 0;
        return;
    }
    const std::uint32_t frame = p.frame;
    const std::uint64_t content = p.content;
    const bool seen_before = (flags & kScanned) != 0;
    const bool unchanged = seen_before && v.seen[gpn] == content;
    v.seen[gpn] = content;
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
    const std::uint32_t stable = index_.find(frames_, v.domain, content);
    if (stable != kNoFrame) {
        ++merges_;
        unmap(p);
        join(p, stable);
        return;
    }
    const ContentKey key{v.domain, content};
    auto it = unstable_.find(key);
    if (it != unstable_.end()) {
        const std::uint32_t other = it->second.frame;
        const Frame& o = frames_[other];
        if (other != frame && o.gen == it->second.gen && o.refcount > 0 && !o.stable && o.content == content) {
            unstable_.erase(it);
            frames_[other].stable = true;
            index_.insert(frames_, other);
            ++merges_;
            unmap(p);
            join(p, other);
            return;
        }
        it->second = Candidate{frame, frames_[frame].gen};  // stale candidate replaced
        return;
    }
    unstable_.emplace(key, Candidate{frame, frames_[frame].gen});
}

void MemoryManager::scan(std::int64_t pages) {
    if (merge_ != MergeMode::scan) throw std::invalid_argument("scan() needs merge='scan'");
    if (pages < 0) throw std::invalid_argument(message("pages = ", pages, ": pages must be >= 0"));
    if (live_pages_ == 0) return;
    for (std::int64_t done = 0; done < pages; ++done) {
        // Advance to the next live page; passing the last VM completes a full
        // scan, which (as in KSM) forgets the unstable candidates.
        while (cursor_vm_ >= vms_.size() || !vms_[cursor_vm_].live || cursor_gpn_ >= vms_[cursor_vm_].pages.size()) {
            if (cursor_vm_ >= vms_.size()) {
                cursor_vm_ = 0;
                ++full_scans_;
                unstable_.clear();
            } else {
                ++cursor_vm_;
            }
            cursor_gpn_ = 0;
        }
        visit(vms_[cursor_vm_], cursor_gpn_);
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
    s.pages_volatile = pages_volatile_;
    s.hits = hits_;
    s.first_touches = first_touches_;
    s.major_faults = major_faults_;
    s.cow_breaks = cow_breaks_;
    s.merges = merges_;
    s.evictions = evictions_;
    s.full_scans = full_scans_;
    s.time = t_;
    s.retained = retained_.size();
    for (const Vm& v : vms_) {
        for (const Page& p : v.pages) s.pages_swapped += (p.frame != kNoFrame && !resident(p)) ? 1 : 0;
    }
    return s;
}

VmCounts MemoryManager::vm_counts() const {
    VmCounts c;
    const std::size_t n = vms_.size();
    c.resident.assign(n, 0);
    c.shared.assign(n, 0);
    c.swapped.assign(n, 0);
    c.major_faults.assign(n, 0);
    c.cow_breaks.assign(n, 0);
    c.first_touches.assign(n, 0);
    c.live.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const Vm& v = vms_[i];
        c.live[i] = v.live;
        c.major_faults[i] = v.major_faults;
        c.cow_breaks[i] = v.cow_breaks;
        c.first_touches[i] = v.first_touches;
        for (const Page& p : v.pages) {
            if (p.frame == kNoFrame) continue;
            if (resident(p)) {
                ++c.resident[i];
                if (frames_[p.frame].refcount >= 2) ++c.shared[i];
            } else {
                ++c.swapped[i];
            }
        }
    }
    return c;
}

void MemoryManager::mapping(std::int64_t vm, std::uint8_t* state, std::uint64_t* content,
                            std::int64_t* frame) const {
    const Vm& v = vm_ref(vm);
    for (std::size_t i = 0; i < v.pages.size(); ++i) {
        const Page& p = v.pages[i];
        state[i] = p.frame == kNoFrame ? 0 : resident(p) ? 1 : 2;
        content[i] = p.content;
        frame[i] = state[i] == 1 ? std::int64_t(p.frame) : -1;
    }
}

std::uint64_t MemoryManager::vm_pages(std::int64_t vm) const { return vm_ref(vm).pages.size(); }
std::int64_t MemoryManager::vm_domain(std::int64_t vm) const { return vm_ref(vm).domain; }

}  // namespace vsched
