// Host memory manager: guest pages of many VMs on a fixed number of host
// frames, content-based sharing (immediate, KSM-like scan, or off) within
// sharing domains, and LRU-K frame replacement. The rules are numbered in
// docs/engines/memory.md; the formulas are commented beside the code.
//
// Residency is exact: a guest page records the frame it maps (or that it is
// untouched / swapped), and every frame keeps the list of the pages mapping
// it (an intrusive doubly linked list through the page records, as Linux's
// reverse map). Evicting a frame walks its mappers and marks each swapped, so
// a page can never come back onto a frame that was reused for other content
// (or another domain), whatever the sequence; and the per-VM counters
// (resident, shared, swapped) are updated at each change instead of being
// recounted from the pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "vsched/containers/lazy_heap.hpp"
#include "vsched/containers/slot_index.hpp"
#include "vsched/exclusive_use.hpp"
#include "vsched/hash_mix.hpp"
#include "vsched/interrupt.hpp"
#include "vsched/lruk.hpp"
#include "vsched/eviction/policy.hpp"

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

// Page states as reported by mapping() / export_vm() (vsched.PageState).
enum PageState : std::uint8_t { kUntouched = 0, kResident = 1, kSwapped = 2 };

struct MemoryTotals {
    std::uint64_t frames = 0, frames_used = 0, pages_resident = 0, pages_shared = 0, pages_sharing = 0,
                  pages_swapped = 0, pages_volatile = 0, hits = 0, first_touches = 0, major_faults = 0,
                  cow_breaks = 0, merges = 0, evictions = 0, full_scans = 0, time = 0, retained = 0,
                  dirtied = 0, imported = 0;
};

// Per-VM counters. resident / shared / swapped are the VM's pages in that
// state now; the others are cumulative event counts (rule 9 of the spec).
struct VmCounters {
    std::uint64_t resident = 0, shared = 0, swapped = 0;
    std::uint64_t major_faults = 0, cow_breaks = 0, first_touches = 0, dirtied = 0;
};

// One row per live VM, in id order.
struct VmRows {
    std::vector<std::int64_t> vm;
    std::vector<std::uint64_t> resident, shared, swapped, major_faults, cow_breaks, first_touches, dirtied;
};

// A VM's pages and counters in plain form (export_vm / import_vm).
struct VmImage {
    std::int64_t domain = 0;
    std::vector<std::uint8_t> state;      // PageState per gpn
    std::vector<std::uint64_t> content;   // the page's content (0 for untouched pages)
    std::uint64_t major_faults = 0, cow_breaks = 0, first_touches = 0, dirtied = 0;
};

class MemoryManager : public ExclusiveUse {
public:
    static constexpr std::uint32_t kMaxFrames = 0xFFFFFFFDu;  // frame numbers below the two markers
    // Page indices are 32-bit: live VMs hold at most this many guest pages in all.
    static constexpr std::uint64_t kMaxPages = 0xFFFFFFFEu;

    // A batch converted into the engine's own memory (see prepare_batch).
    struct Batch {
        std::vector<std::uint32_t> page;     // arena index of each access's page
        std::vector<std::uint64_t> content;  // written content; empty = all reads
        std::vector<std::uint8_t> write;     // empty = every access with content writes
    };

    // Throws std::invalid_argument: frames must be in 1..kMaxFrames, k in 1..64.
    // rip / history bound the LRU-K history retained for evicted content
    // (nullopt = forever / unbounded).
    // policy: "lruk" (the LRU-K records above, history by content) or "lru" /
    // "clock" (`bits` wide counters) over frame numbers (rule M4); those take no
    // k / crp / rip / history (std::invalid_argument unless the defaults).
    MemoryManager(std::uint64_t frames, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
                  std::optional<std::uint64_t> history, MergeMode merge, const std::string& policy = "lruk",
                  int bits = 1);

    // Returns the new VM's id (ids count up from 0 and are never reused).
    // Throws std::invalid_argument for pages < 0 or domain < 0, AdmissionError
    // past kMaxPages live guest pages.
    std::int64_t add_vm(std::int64_t pages, std::int64_t domain);
    void remove_vm(std::int64_t vm);  // KeyError if unknown

    // KeyError for an unknown VM, std::out_of_range for a gpn outside the VM.
    void check_page(std::int64_t vm, std::int64_t gpn, const char* where = "gpn") const;

    // One access; write = false reads (content ignored). Validates first.
    Outcome access(std::int64_t vm, std::int64_t gpn, bool write, std::uint64_t content);

    // Batch: vm has n entries, or 1 (same VM for all); content and write may be
    // null (all reads / all writes when content is given). prepare_batch
    // validates the whole batch and converts it into `out` (page indices, the
    // content and write flags copied), so that run_batch uses exactly what was
    // validated even if the caller's arrays change meanwhile. run_batch polls
    // `interrupt` between accesses: on Interrupted the first i accesses are
    // done, exactly as if the batch had been those i.
    void prepare_batch(const std::int64_t* vm, std::size_t vm_count, const std::int64_t* gpn, std::size_t n,
                       const std::uint64_t* content, const std::uint8_t* write, Batch& out) const;
    void run_batch(const Batch& batch, std::int8_t* out, Interrupt* interrupt = nullptr);

    // KSM-like scanner: visits `pages` guest pages round-robin (std::invalid_argument
    // unless merge == scan and pages >= 0). Polls `interrupt` between visits;
    // on Interrupted the visits done so far stand (the cursor is after them).
    void scan(std::int64_t pages, Interrupt* interrupt = nullptr);

    MemoryTotals totals() const;  // O(1)
    VmRows vm_rows() const;       // O(live VMs)

    // Per page of one VM: state (PageState), content, frame (-1 unless resident).
    void mapping(std::int64_t vm, std::uint8_t* state, std::uint64_t* content, std::int64_t* frame) const;
    std::uint64_t vm_pages(std::int64_t vm) const;
    std::int64_t vm_domain(std::int64_t vm) const;
    std::size_t vm_count() const { return live_vms_; }
    bool has_vm(std::int64_t vm) const { return find_slot(vm) != kNoSlot; }

    // Export / import of one VM (rule 10 of the spec).
    VmImage export_vm(std::int64_t vm) const;
    // Throws (changing nothing) std::invalid_argument for a malformed image,
    // AdmissionError if its resident pages cannot all be resident here.
    std::int64_t import_vm(const VmImage& image);

    // Checkpoint of the whole state (vsched/state_io.hpp) and back.
    std::string save() const;
    static std::unique_ptr<MemoryManager> load(const std::string& bytes);

    // Bytes held by the native structures (arrays at their capacity, hash
    // maps estimated per entry).
    std::size_t memory_bytes() const;

    // Test hooks: a frame's reuse serial (bumped each time it is freed; only
    // the scanner's candidates use it). Setting it lets a test stage what a
    // wrapped counter would look like without 2**64 evictions.
    std::uint64_t frame_serial(std::uint32_t frame) const { return frames_.at(frame).serial; }
    void set_frame_serial(std::uint32_t frame, std::uint64_t serial) { frames_.at(frame).serial = serial; }

    std::uint64_t frames() const { return frames_.size(); }
    MergeMode merge() const { return merge_; }
    int k() const { return lruk_.k(); }
    std::uint64_t crp() const { return lruk_.crp(); }
    std::optional<std::uint64_t> rip() const { return rip_; }
    std::optional<std::uint64_t> history() const { return history_; }
    const std::string& policy() const { return policy_name_; }
    int bits() const { return bits_; }

private:
    static constexpr std::uint32_t kNoFrame = 0xFFFFFFFFu;  // Page::frame of an untouched page
    static constexpr std::uint32_t kOut = 0xFFFFFFFEu;      // Page::frame of a swapped page
    static constexpr std::uint32_t kNoPage = 0xFFFFFFFFu;
    static constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;

    // A guest page (24 bytes). Resident iff frame < kOut; then prev / next
    // link it into its frame's mapper list.
    struct Page {
        std::uint64_t content = 0;  // the page's own content (kept while swapped)
        std::uint32_t frame = kNoFrame;
        std::uint32_t vm = 0;  // slot of the owning VM
        std::uint32_t prev = kNoPage, next = kNoPage;
    };
    struct Frame {
        std::uint64_t content = 0;
        std::int64_t domain = 0;
        std::uint64_t serial = 0;    // bumped each time the frame is freed (64-bit: never wraps)
        std::uint32_t refcount = 0;  // resident guest pages mapping it; 0 = free
        std::uint32_t mappers = kNoPage;  // head of the mapper list
        std::uint8_t stable = 0;          // scan mode: merged by the scanner, write-protected
        std::uint8_t unused[7] = {};      // explicit padding: checkpoints hold no stray bytes
    };
    // A VM slot: `id` < 0 = free. Pages are the arena range [first, first + count).
    struct Vm {
        std::int64_t id = -1;
        std::int64_t domain = 0;
        std::uint64_t first = 0, count = 0;
        VmCounters counters;
    };
    struct OrderEntry {  // live VMs in id order (lazily compacted)
        std::int64_t id;
        std::uint32_t slot;
        std::uint32_t unused = 0;
    };
    static constexpr std::uint8_t kScanned = 1, kVolatile = 2;

    // Index (domain, content) -> frame over frames in use: every frame in
    // immediate mode, the stable (merged) frames in scan mode. A SlotIndex
    // (containers/slot_index.hpp) of a fixed size, at most half full for
    // every frame; the keys are the frames' own (domain, content).
    class FrameIndex {
    public:
        void init(std::size_t frames);
        std::uint32_t find(const HugeVector<Frame>& frames, std::int64_t domain, std::uint64_t content) const;
        void insert(const HugeVector<Frame>& frames, std::uint32_t frame);
        void erase(const HugeVector<Frame>& frames, std::uint32_t frame);
        void prefetch(std::int64_t domain, std::uint64_t content) const;
        std::uint32_t peek(std::int64_t domain, std::uint64_t content) const;
        const HugeVector<std::uint32_t>& buckets() const { return table_.buckets(); }
        std::size_t bytes() const { return table_.bytes(); }
        // A checkpoint's buckets: false unless a power of two >= 2 * frames
        // with every slot a frame.
        bool load(HugeVector<std::uint32_t> buckets, std::size_t frames);

    private:
        SlotIndex<HugeVector<std::uint32_t>> table_;
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
        std::uint32_t frame;
        std::uint32_t unused;
        std::uint64_t serial;
    };
    struct RetainedEntry {  // lazy min-heap entry by LAST
        std::uint64_t last;
        ContentKey key;
    };
    struct RetainedBefore {  // LAST values are distinct (one frame is referenced per access)
        bool operator()(const RetainedEntry& a, const RetainedEntry& b) const { return a.last < b.last; }
    };

    std::uint32_t find_slot(std::int64_t vm) const;
    std::uint32_t slot_of(std::int64_t vm) const;  // KeyError if unknown
    static bool resident(const Page& p) { return p.frame < kOut; }
    bool indexed(const Frame& f) const { return merge_ == MergeMode::immediate || f.stable; }
    void join(std::uint32_t page, std::uint32_t frame);  // map a non-resident page to a frame in use
    void unmap(std::uint32_t page);  // page resident: leaves its frame (freed at refcount 0)
    void free_frame(std::uint32_t frame);
    // n more accesses keep the time below LruKPolicy::kTimeLimit, else std::overflow_error.
    void check_time_room(std::uint64_t n) const;
    std::uint32_t evict_one(std::uint64_t t);  // evicts the LRU-K victim (every mapper swaps out)
    std::uint32_t allocate(std::int64_t domain, std::uint64_t content, std::uint64_t t);
    void fault_in(std::uint32_t page, std::int64_t domain, std::uint64_t t);  // page not resident, content set
    Outcome run(std::uint32_t page, bool write, std::uint64_t content);
    void visit(std::uint32_t page);
    // History retained by content: see the spec.
    void purge_expired(std::uint64_t t);
    bool take_retained(std::int64_t domain, std::uint64_t content);  // into scratch_hist_
    void retain(std::uint32_t frame);
    void drop_retained(const ContentKey& key);
    std::uint32_t retained_at(const ContentKey& key) const;  // offset in retained_pool_, kNoSlot if none
    void release_retained(std::uint32_t at);                 // record at `at` out of the index, to the free list
    void set_volatile(std::uint8_t& flags, bool value);
    // VM slots, arena ranges and the id order.
    std::uint32_t new_slot(std::int64_t id, std::int64_t domain, std::uint64_t pages);
    std::uint64_t take_range(std::uint64_t pages);
    void give_range(std::uint64_t first, std::uint64_t pages);
    bool order_live(const OrderEntry& e) const { return vms_[e.slot].id == e.id; }
    void compact_order();
    void validate_loaded() const;

    // Rule M4: the LRU-K records, or (frame_policy_ set) another policy keyed by frame number.
    void touch(std::uint32_t frame, std::uint64_t t) {
        if (frame_policy_) {
            frame_policy_->access(frame);
        } else {
            lruk_.reference(frame, t);
        }
    }

    MergeMode merge_;
    std::optional<std::uint64_t> rip_, history_;
    std::string policy_name_;
    int bits_;
    std::unique_ptr<EvictionPolicy> frame_policy_;  // null = LRU-K (lruk_)
    LruKPolicy lruk_;  // slot = frame
    // Retained history of evicted content: (domain, content) -> offset of
    // HIST(1..K), LAST in retained_pool_ (stride k + 1).
    SlotIndex<> retained_index_;              // (domain, content) -> record (offset / (k + 1))
    std::vector<ContentKey> retained_keys_;   // per record; domain -1 = free
    std::vector<std::uint64_t> retained_pool_;
    std::vector<std::uint32_t> retained_free_;
    // Only when rip or history is given; binary, the layout checkpoints hold.
    LazyHeap<RetainedEntry, RetainedBefore, 2> retained_heap_;
    bool retained_live(const RetainedEntry& e) const;
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
    // Pages of all live VMs; a removed VM's range is reused (best fit) by
    // later VMs, so churn does not grow the arena.
    HugeVector<Page> pages_;
    std::map<std::uint64_t, std::uint64_t> free_by_start_;          // first -> count
    std::set<std::pair<std::uint64_t, std::uint64_t>> free_by_size_;  // (count, first)
    // Scan mode only, parallel to pages_: content at the previous visit, flags.
    HugeVector<std::uint64_t> seen_;
    std::vector<std::uint8_t> scan_flags_;
    std::vector<std::uint32_t> free_stack_;  // freed frames, reused last-in first-out
    std::uint32_t next_unused_ = 0;          // frames never used yet: next_unused_..frames-1
    FrameIndex index_;
    std::unordered_map<ContentKey, Candidate, ContentKeyHash> unstable_;
    std::vector<Vm> vms_;                // slots, reused
    std::vector<std::uint32_t> free_slots_;
    SlotIndex<> ids_;  // VM id -> slot (the keys are vms_[slot].id)
    static std::uint64_t id_hash(std::int64_t id) { return hash_mix(static_cast<std::uint64_t>(id)); }
    std::uint64_t slot_id_hash(std::uint32_t slot) const { return id_hash(vms_[slot].id); }
    std::vector<OrderEntry> order_;
    std::size_t order_dead_ = 0;
    std::int64_t next_id_ = 0;
    std::size_t live_vms_ = 0;

    std::uint64_t t_ = 0;
    std::uint64_t frames_used_ = 0, pages_resident_ = 0, shared_frames_ = 0, pages_swapped_ = 0,
                  pages_volatile_ = 0;
    std::uint64_t hits_ = 0, first_touches_ = 0, major_faults_ = 0, cow_breaks_ = 0, merges_ = 0,
                  evictions_ = 0, full_scans_ = 0, dirtied_ = 0, imported_ = 0;
    std::uint64_t live_pages_ = 0;
    std::size_t cursor_pos_ = 0;  // scanner: position in order_ ...
    std::uint64_t cursor_gpn_ = 0;  // ... and the next gpn it visits there
};

}  // namespace vsched
