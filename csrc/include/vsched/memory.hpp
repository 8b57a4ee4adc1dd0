// Host memory manager: guest pages of many VMs on a fixed number of host
// frames, content-based sharing (immediate, KSM-like scan, or off) within
// sharing domains, and LRU-K frame replacement. The rules are written in
// src/vsched/memory.py (MemoryManager docstring); the formulas are commented
// beside the code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "vsched/lruk.hpp"

namespace vsched {

enum class MergeMode : std::uint8_t { immediate = 0, scan = 1, off = 2 };

// Outcome of one access; the values are vsched.Outcome.
enum Outcome : std::int8_t {
    kHit = 0,         // resident, served by its frame (read, same-content or private write)
    kFirstTouch = 1,  // the page had never been touched
    kMajorFault = 2,  // the page was swapped out (swap-in)
    kCowBreak = 3,    // write of new content to a shared (or KSM-merged) frame
    kMerged = 4,      // write to a private page whose new content already has a frame: joined it
};

struct MemoryTotals {
    std::uint64_t frames = 0, frames_used = 0, pages_resident = 0, pages_shared = 0, pages_sharing = 0,
                  pages_swapped = 0, pages_volatile = 0, hits = 0, first_touches = 0, major_faults = 0,
                  cow_breaks = 0, merges = 0, evictions = 0, full_scans = 0, time = 0, retained = 0;
};

struct VmCounts {
    std::vector<std::uint64_t> resident, shared, swapped, major_faults, cow_breaks, first_touches;
    std::vector<std::uint8_t> live;
};

class MemoryManager {
public:
    static constexpr std::uint32_t kNoFrame = 0xFFFFFFFFu;

    // Throws std::invalid_argument: frames must be in 1..2**32-2, k in 1..64.
    // rip / history bound the LRU-K history retained for evicted content
    // (nullopt = forever / unbounded).
    MemoryManager(std::uint64_t frames, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
                  std::optional<std::uint64_t> history, MergeMode merge);

    // Returns the new VM's id (ids count up from 0 and are never reused).
    // Throws std::invalid_argument for pages < 0 or domain < 0.
    std::int64_t add_vm(std::int64_t pages, std::int64_t domain);
    void remove_vm(std::int64_t vm);  // KeyError if unknown

    // KeyError for an unknown VM, std::out_of_range for a gpn outside the VM.
    void check_page(std::int64_t vm, std::int64_t gpn, const char* where = "gpn") const;

    // One access; write = false reads (content ignored). Validates first.
    Outcome access(std::int64_t vm, std::int64_t gpn, bool write, std::uint64_t content);

    // Batch: vm has n entries, or 1 (same VM for all); content and write may be
    // null (all reads / all writes when content is given). Validates the whole
    // batch before the first access.
    void validate_batch(const std::int64_t* vm, std::size_t vm_count, const std::int64_t* gpn,
                        std::size_t n) const;
    void access_batch(const std::int64_t* vm, std::size_t vm_count, const std::int64_t* gpn, std::size_t n,
                      const std::uint64_t* content, const std::uint8_t* write, std::int8_t* out);

    // KSM-like scanner: visits `pages` guest pages round-robin (std::invalid_argument
    // unless merge == scan and pages >= 0).
    void scan(std::int64_t pages);

    MemoryTotals totals() const;
    VmCounts vm_counts() const;

    // Per page of one VM: state (0 untouched, 1 resident, 2 swapped), content,
    // frame (-1 unless resident).
    void mapping(std::int64_t vm, std::uint8_t* state, std::uint64_t* content, std::int64_t* frame) const;
    std::uint64_t vm_pages(std::int64_t vm) const;
    std::int64_t vm_domain(std::int64_t vm) const;
    std::size_t vm_count() const { return vms_.size(); }

    std::uint64_t frames() const { return frames_.size(); }
    MergeMode merge() const { return merge_; }
    int k() const { return lruk_.k(); }
    std::uint64_t crp() const { return lruk_.crp(); }
    std::optional<std::uint64_t> rip() const { return rip_; }
    std::optional<std::uint64_t> history() const { return history_; }

private:
    // A guest page. frame == kNoFrame: never touched. Otherwise it was mapped
    // to `frame` when the frame's generation was `gen`; it is still resident
    // iff the frame's generation is unchanged. Evicting a frame bumps its
    // generation, which swaps out every mapper at once in O(1); `content` is
    // always the page's own content, so a swapped page keeps it.
    struct Page {
        std::uint64_t content = 0;
        std::uint32_t frame = kNoFrame;
        std::uint32_t gen = 0;
    };
    struct Frame {
        std::uint64_t content = 0;
        std::int64_t domain = 0;
        std::uint32_t refcount = 0;  // resident guest pages mapping it; 0 = free
        std::uint32_t gen = 0;       // bumped each time the frame is freed
        bool stable = false;         // scan mode: merged by the scanner, write-protected
    };
    // A VM's pages: a range of the shared page arena (one huge-page-backed
    // array for all VMs, see huge_pages.hpp). `ptr` is re-derived whenever
    // the arena moves.
    struct PageSpan {
        Page* ptr = nullptr;
        std::size_t first = 0, count = 0;
        std::size_t size() const { return count; }
        Page& operator[](std::size_t i) const { return ptr[i]; }
        Page* data() const { return ptr; }
        Page* begin() const { return ptr; }
        Page* end() const { return ptr + count; }
    };
    struct Vm {
        bool live = true;
        std::int64_t domain = 0;
        PageSpan pages;
        std::uint64_t major_faults = 0, cow_breaks = 0, first_touches = 0;
        // scan mode only: content seen by the previous visit, and flags
        std::vector<std::uint64_t> seen;
        std::vector<std::uint8_t> scan_flags;
    };
    static constexpr std::uint8_t kScanned = 1, kVolatile = 2;

    // Open-addressing index (domain, content) -> frame over frames in use:
    // every frame in immediate mode, the stable (merged) frames in scan mode.
    class FrameIndex {
    public:
        void init(std::size_t frames);
        std::uint32_t find(const HugeVector<Frame>& frames, std::int64_t domain, std::uint64_t content) const;
        void insert(const HugeVector<Frame>& frames, std::uint32_t frame);
        void erase(const HugeVector<Frame>& frames, std::uint32_t frame);
        void prefetch(std::int64_t domain, std::uint64_t content) const;
        std::uint32_t peek(std::int64_t domain, std::uint64_t content) const;

    private:
        HugeVector<std::uint32_t> buckets_;  // frame + 1, 0 = empty
    };
    struct ContentKey {
        std::int64_t domain;
        std::uint64_t content;
        bool operator==(const ContentKey& o) const { return domain == o.domain && content == o.content; }
    };
    struct ContentKeyHash {
        std::size_t operator()(const ContentKey& k) const;
    };
    struct Candidate {
        std::uint32_t frame, gen;
    };
    struct RetainedEntry {  // lazy min-heap entry by LAST
        std::uint64_t last;
        ContentKey key;
    };
    struct RetainedAfter {
        bool operator()(const RetainedEntry& a, const RetainedEntry& b) const { return a.last > b.last; }
    };

    Vm& vm_ref(std::int64_t vm);
    const Vm& vm_ref(std::int64_t vm) const;
    bool resident(const Page& p) const { return p.frame != kNoFrame && frames_[p.frame].gen == p.gen; }
    bool indexed(const Frame& f) const { return merge_ == MergeMode::immediate || f.stable; }
    void join(Page& p, std::uint32_t frame);  // map p to a frame in use
    void unmap(Page& p);                      // p resident; frees its frame at refcount 0
    void free_frame(std::uint32_t frame);
    std::uint32_t allocate(std::int64_t domain, std::uint64_t content, std::uint64_t t);
    void fault_in(Page& p, std::int64_t domain, std::uint64_t t);  // p unmapped, p.content set
    Outcome run(Vm& v, Page& p, bool write, std::uint64_t content);
    void visit(Vm& v, std::size_t gpn);
    // History retained by content: see the MemoryManager docstring.
    void purge_expired(std::uint64_t t);
    bool take_retained(std::int64_t domain, std::uint64_t content);  // into scratch_hist_
    void retain(std::uint32_t frame);
    void drop_retained(const ContentKey& key);
    void set_volatile(std::uint8_t& flags, bool value);

    MergeMode merge_;
    std::optional<std::uint64_t> rip_, history_;
    LruKPolicy lruk_;  // slot = frame
    // Retained history of evicted content: (domain, content) -> offset of
    // HIST(1..K), LAST in retained_pool_ (stride k + 1).
    std::unordered_map<ContentKey, std::uint32_t, ContentKeyHash> retained_;
    std::vector<std::uint64_t> retained_pool_;
    std::vector<std::uint32_t> retained_free_;
    std::vector<RetainedEntry> retained_heap_;  // only when rip or history is given
    std::vector<std::uint64_t> scratch_hist_;   // K + 1 words
    // Counting filter over retained keys (saturating at 255, then never
    // decremented): a zero count proves a content has no retained history,
    // which spares the hash-map lookup for most allocations (new content).
    std::vector<std::uint8_t> retained_filter_;
    std::uint8_t& filter_count(const ContentKey& key) {
        return retained_filter_[ContentKeyHash{}(key) & (retained_filter_.size() - 1)];
    }
    void filter_add(const ContentKey& key) {
        std::uint8_t& c = filter_count(key);
        if (c != 255) ++c;
    }
    void filter_remove(const ContentKey& key) {
        std::uint8_t& c = filter_count(key);
        if (c != 255) --c;
    }
    HugeVector<Frame> frames_;
    HugeVector<Page> page_arena_;  // pages of all live VMs, VM after VM
    void rebase_pages();
    std::vector<std::uint32_t> free_stack_;  // freed frames, reused last-in first-out
    std::uint32_t next_unused_ = 0;          // frames never used yet: next_unused_..frames-1
    FrameIndex index_;
    std::unordered_map<ContentKey, Candidate, ContentKeyHash> unstable_;
    std::vector<Vm> vms_;

    std::uint64_t t_ = 0;
    std::uint64_t frames_used_ = 0, pages_resident_ = 0, shared_frames_ = 0, pages_volatile_ = 0;
    std::uint64_t hits_ = 0, first_touches_ = 0, major_faults_ = 0, cow_breaks_ = 0, merges_ = 0,
                  evictions_ = 0, full_scans_ = 0;
    std::uint64_t live_pages_ = 0;
    std::size_t cursor_vm_ = 0, cursor_gpn_ = 0;  // next page the scanner visits
};

}  // namespace vsched
