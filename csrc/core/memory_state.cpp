// Checkpoints of the memory manager (docs/engines/memory.md, rule M11): the
// whole state as one flat, versioned byte string (vsched/state_io.hpp), and
// back. Loading checks the layout, the kind, the version, the length and that
// every stored index points inside its array, so that a damaged checkpoint is
// a ValueError rather than a crash later.
#include <algorithm>
#include <stdexcept>

#include "vsched/errors.hpp"
#include "vsched/memory.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

namespace {
constexpr const char* kKind = "MemoryManager";
constexpr std::uint32_t kFormat = 3;  // 2: the frame eviction policy; 3: fingerprints in the content index

std::invalid_argument corrupt(const char* what) {
    return std::invalid_argument(message("corrupt MemoryManager checkpoint: ", what));
}
}  // namespace

std::string MemoryManager::save() const {
    StateWriter out(kKind, kFormat);
    out.put(static_cast<std::uint64_t>(frames_.size()));
    out.put(static_cast<std::int32_t>(lruk_.k()));
    out.put(lruk_.crp());
    out.put(static_cast<std::uint8_t>(rip_.has_value()));
    out.put(rip_.value_or(0));
    out.put(static_cast<std::uint8_t>(history_.has_value()));
    out.put(history_.value_or(0));
    out.put(static_cast<std::uint8_t>(merge_));
    out.put_string(policy_name_);
    out.put(static_cast<std::int32_t>(bits_));
    lruk_.save(out);
    if (frame_policy_) frame_policy_->save(out);
    // Hash maps are written sorted by key: equal states give equal bytes.
    auto by_key = [](const ContentKey& a, const ContentKey& b) {
        return a.domain != b.domain ? a.domain < b.domain : a.content < b.content;
    };
    std::vector<std::pair<ContentKey, std::uint32_t>> retained;
    const std::uint32_t stride = std::uint32_t(lruk_.k() + 1);
    for (std::uint32_t r = 0; r < retained_keys_.size(); ++r) {
        if (retained_keys_[r].domain >= 0) retained.emplace_back(retained_keys_[r], r * stride);
    }
    std::sort(retained.begin(), retained.end(), [&](const auto& a, const auto& b) { return by_key(a.first, b.first); });
    std::vector<ContentKey> retained_keys;
    std::vector<std::uint32_t> retained_at;
    for (const auto& [key, at] : retained) {
        retained_keys.push_back(key);
        retained_at.push_back(at);
    }
    out.put_vector(retained_keys);
    out.put_vector(retained_at);
    out.put_vector(retained_pool_);
    out.put_vector(retained_free_);
    out.put_vector(retained_heap_.entries());
    out.put_vector(retained_filter_);
    out.put_vector(frames_);
    out.put_vector(pages_);
    std::vector<std::uint64_t> free_ranges;
    for (const auto& [first, count] : free_by_start_) {
        free_ranges.push_back(first);
        free_ranges.push_back(count);
    }
    out.put_vector(free_ranges);
    out.put_vector(seen_);
    out.put_vector(scan_flags_);
    out.put_vector(free_stack_);
    out.put(next_unused_);
    out.put_vector(index_.buckets());
    std::vector<ContentKey> unstable_keys;
    std::vector<Candidate> unstable_values;
    std::vector<std::pair<ContentKey, Candidate>> unstable(unstable_.begin(), unstable_.end());
    std::sort(unstable.begin(), unstable.end(), [&](const auto& a, const auto& b) { return by_key(a.first, b.first); });
    for (const auto& [key, candidate] : unstable) {
        unstable_keys.push_back(key);
        unstable_values.push_back(candidate);
    }
    out.put_vector(unstable_keys);
    out.put_vector(unstable_values);
    out.put_vector(vms_);
    out.put_vector(free_slots_);
    out.put_vector(order_);
    out.put(static_cast<std::uint64_t>(order_dead_));
    out.put(next_id_);
    for (const std::uint64_t value : {t_, frames_used_, pages_resident_, shared_frames_, pages_swapped_,
                                      pages_volatile_, hits_, first_touches_, major_faults_, cow_breaks_, merges_,
                                      evictions_, full_scans_, dirtied_, imported_, live_pages_,
                                      static_cast<std::uint64_t>(cursor_pos_), cursor_gpn_}) {
        out.put(value);
    }
    return out.take();
}

std::unique_ptr<MemoryManager> MemoryManager::load(const std::string& bytes) {
    StateReader in(bytes, kKind, kFormat);
    const auto frames = in.get<std::uint64_t>();
    const auto k = in.get<std::int32_t>();
    const auto crp = in.get<std::uint64_t>();
    const bool has_rip = in.get<std::uint8_t>() != 0;
    const auto rip = in.get<std::uint64_t>();
    const bool has_history = in.get<std::uint8_t>() != 0;
    const auto history = in.get<std::uint64_t>();
    const auto merge = in.get<std::uint8_t>();
    const std::string policy = in.get_string();
    const auto bits = in.get<std::int32_t>();
    if (frames < 1 || frames > kMaxFrames || k < 1 || k > LruKPolicy::kMaxK || merge > 2) throw corrupt("configuration");
    auto mm = std::make_unique<MemoryManager>(frames, k, crp, has_rip ? std::optional<std::uint64_t>(rip) : std::nullopt,
                                              has_history ? std::optional<std::uint64_t>(history) : std::nullopt,
                                              MergeMode(merge), policy, bits);
    MemoryManager& m = *mm;
    m.lruk_.load(in, std::size_t(frames));
    if (m.frame_policy_) m.frame_policy_->load(in);
    const auto retained_keys = in.get_vector<ContentKey>();
    const auto retained_at = in.get_vector<std::uint32_t>();
    m.retained_pool_ = in.get_vector<std::uint64_t>();
    m.retained_free_ = in.get_vector<std::uint32_t>();
    if (!m.retained_heap_.load(in.get_vector<RetainedEntry>())) throw corrupt("retained heap");
    const auto filter = in.get_vector<std::uint8_t>();
    if (filter.size() != m.retained_filter_.size()) throw corrupt("filter size");
    m.retained_filter_ = filter;
    const std::size_t stride = std::size_t(k) + 1;
    if (retained_keys.size() != retained_at.size() || m.retained_pool_.size() % stride != 0) {
        throw corrupt("retained history");
    }
    m.retained_keys_.assign(m.retained_pool_.size() / stride, ContentKey{-1, 0});
    // (The index is still empty: growing it rehashes nothing.)
    m.retained_index_.grow_to_hold(m.retained_keys_.size(), [](std::uint32_t) { return std::uint64_t(0); });
    for (std::size_t i = 0; i < retained_keys.size(); ++i) {
        if (std::size_t(retained_at[i]) + stride > m.retained_pool_.size() || retained_at[i] % stride != 0) {
            throw corrupt("retained offset");
        }
        const std::uint32_t r = retained_at[i] / std::uint32_t(stride);
        if (retained_keys[i].domain < 0 || m.retained_keys_[r].domain >= 0 || m.retained_at(retained_keys[i]) != kNoSlot) {
            throw corrupt("retained history");
        }
        m.retained_keys_[r] = retained_keys[i];
        m.retained_index_.insert(ContentKeyHash{}(retained_keys[i]), r);
    }
    for (const std::uint32_t at : m.retained_free_) {
        if (std::size_t(at) + stride > m.retained_pool_.size() || at % stride != 0 ||
            m.retained_keys_[at / stride].domain >= 0) {
            throw corrupt("retained free list");
        }
    }
    m.frames_ = in.get_vector<Frame, HugePageAllocator<Frame>>();
    m.pages_ = in.get_vector<Page, HugePageAllocator<Page>>();
    const auto free_ranges = in.get_vector<std::uint64_t>();
    if (free_ranges.size() % 2 != 0) throw corrupt("free ranges");
    for (std::size_t i = 0; i < free_ranges.size(); i += 2) {
        m.free_by_start_.emplace(free_ranges[i], free_ranges[i + 1]);
        m.free_by_size_.emplace(free_ranges[i + 1], free_ranges[i]);
    }
    m.seen_ = in.get_vector<std::uint64_t, HugePageAllocator<std::uint64_t>>();
    m.scan_flags_ = in.get_vector<std::uint8_t>();
    m.free_stack_ = in.get_vector<std::uint32_t>();
    m.next_unused_ = in.get<std::uint32_t>();
    if (!m.index_.load(in.get_vector<std::uint32_t, HugePageAllocator<std::uint32_t>>(), std::size_t(frames))) {
        throw corrupt("index");
    }
    const auto unstable_keys = in.get_vector<ContentKey>();
    const auto unstable_values = in.get_vector<Candidate>();
    if (unstable_keys.size() != unstable_values.size()) throw corrupt("candidates");
    for (std::size_t i = 0; i < unstable_keys.size(); ++i) {
        if (unstable_values[i].frame >= frames) throw corrupt("candidate frame");
        m.unstable_.emplace(unstable_keys[i], unstable_values[i]);
    }
    m.vms_ = in.get_vector<Vm>();
    m.free_slots_ = in.get_vector<std::uint32_t>();
    m.order_ = in.get_vector<OrderEntry>();
    m.order_dead_ = std::size_t(in.get<std::uint64_t>());
    m.next_id_ = in.get<std::int64_t>();
    for (std::uint64_t* value : {&m.t_, &m.frames_used_, &m.pages_resident_, &m.shared_frames_, &m.pages_swapped_,
                                 &m.pages_volatile_, &m.hits_, &m.first_touches_, &m.major_faults_, &m.cow_breaks_,
                                 &m.merges_, &m.evictions_, &m.full_scans_, &m.dirtied_, &m.imported_,
                                 &m.live_pages_}) {
        *value = in.get<std::uint64_t>();
    }
    m.cursor_pos_ = std::size_t(in.get<std::uint64_t>());
    m.cursor_gpn_ = in.get<std::uint64_t>();
    in.expect_end();
    m.live_vms_ = 0;
    for (std::uint32_t slot = 0; slot < m.vms_.size(); ++slot) {
        const Vm& v = m.vms_[slot];
        if (v.id < 0) continue;
        if (v.id >= m.next_id_ || m.find_slot(v.id) != kNoSlot) throw corrupt("VM ids");
        m.ids_.grow_to_hold(m.vms_.size(), [&](std::uint32_t s) { return m.slot_id_hash(s); });
        m.ids_.insert(id_hash(v.id), slot);
        ++m.live_vms_;
    }
    m.validate_loaded();
    return mm;
}

// Every index a later call follows must point inside its array.
void MemoryManager::validate_loaded() const {
    const std::uint64_t frames = frames_.size(), pages = pages_.size(), slots = vms_.size();
    if (frames != lruk_.slot_count()) throw corrupt("frame count");
    if (t_ >= LruKPolicy::kTimeLimit) throw corrupt("time");
    if (frame_policy_) {  // exactly the frames in use, so that every victim is one
        if (frame_policy_->size() != frames_used_) throw corrupt("eviction policy");
        for (std::uint32_t f = 0; f < frames; ++f) {
            if ((frames_[f].refcount > 0) != frame_policy_->contains(f)) throw corrupt("eviction policy");
        }
    }
    for (const Frame& f : frames_) {
        if (f.mappers != kNoPage && f.mappers >= pages) throw corrupt("frame mappers");
    }
    for (const Page& p : pages_) {
        if (p.frame < kOut && p.frame >= frames) throw corrupt("page frame");
        if ((p.prev != kNoPage && p.prev >= pages) || (p.next != kNoPage && p.next >= pages)) {
            throw corrupt("page links");
        }
    }
    if (merge_ == MergeMode::scan ? (seen_.size() != pages || scan_flags_.size() != pages)
                                  : (!seen_.empty() || !scan_flags_.empty())) {
        throw corrupt("scan records");
    }
    for (std::uint32_t slot = 0; slot < slots; ++slot) {
        const Vm& v = vms_[slot];
        if (v.id < 0) continue;
        if (v.first > pages || v.count > pages - v.first) throw corrupt("VM range");
        for (std::uint64_t i = v.first; i < v.first + v.count; ++i) {
            if (pages_[i].vm != slot) throw corrupt("page owner");
        }
    }
    for (const auto& [first, count] : free_by_start_) {
        if (first > pages || count > pages - first) throw corrupt("free range");
    }
    for (const std::uint32_t slot : free_slots_) {
        if (slot >= slots || vms_[slot].id >= 0) throw corrupt("free slots");
    }
    for (const OrderEntry& e : order_) {
        if (e.slot >= slots) throw corrupt("VM order");
    }
    for (const std::uint32_t f : free_stack_) {
        if (f >= frames) throw corrupt("free frames");
    }
    if (next_unused_ > frames || frames_used_ > frames || cursor_pos_ > order_.size()) throw corrupt("counters");
}

}  // namespace vsched
