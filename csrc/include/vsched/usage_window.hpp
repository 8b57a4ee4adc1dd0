// The sliding window of one VM's usage samples and the statistics the
// reallocator estimates demand from. Python-free; see Reallocator for the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vsched {

// How a VM's demand is estimated from its window (see Reallocator).
enum class Estimator { max, mean, percentile, ewma };

// Parses "max" | "mean" | "percentile" | "ewma"; std::invalid_argument otherwise.
Estimator parse_estimator(const std::string& name);
const char* estimator_name(Estimator estimator);

// What every window of one reallocator shares.
struct WindowConfig {
    std::size_t window = 12;      // W: samples kept per VM
    Estimator estimator = Estimator::max;
    double quantile = 0.95;       // p = percentile / 100
    double alpha = 2.0 / 13.0;    // EWMA weight of the newest sample, 2 / (W + 1)
};

// The last W samples of one VM, with O(1) amortized (max, mean, ewma) or
// O(log W) (percentile) update per sample, without allocation once the
// window is full.
//
// Samples are numbered by seq = 0, 1, 2, ... since the VM was added; sample
// seq lives in ring slot seq % W (tracked incrementally: no division per
// sample), so the slot about to be overwritten always holds the oldest sample
// of a full window. The ring grows to W slots as the first samples arrive.
class UsageWindow {
public:
    void push(double sample, const WindowConfig& config);

    // Samples in the window: min(samples pushed, W).
    std::size_t count() const { return ring_.size(); }
    // Mean of the window (0 if empty). See push() for how sum_ is kept.
    double mean() const;
    // The configured estimator over the window; the window must not be empty.
    double estimate(const WindowConfig& config) const;
    // Hints the cache about the memory the next push() and estimate() touch:
    // with long windows every VM's slot is a cold line, so the reallocator
    // prefetches a few VMs ahead.
    void prefetch() const {
        if (!ring_.empty()) __builtin_prefetch(ring_.data() + (next_slot_ < ring_.size() ? next_slot_ : 0));
        if (!deque_.empty()) {
            __builtin_prefetch(deque_.data() + deque_head_);
            // The back entry (where the next sample is compared) may sit on another line.
            const std::size_t end = deque_head_ + deque_size_;  // one past the back, unwrapped
            const std::size_t last = end == 0 ? 0 : end - 1;
            const std::size_t back = last >= deque_.size() ? last - deque_.size() : last;
            __builtin_prefetch(deque_.data() + back);
        }
    }

private:
    // A sample with its ring slot. The deque and the heaps hold copies of the
    // samples so that a tick reads a line or two of them and never chases an
    // index into the ring: with long windows every line is cold.
    struct Entry {
        double sample;
        std::uint32_t slot;
    };

    // percentile: ring slots in two binary heaps split at rank
    // lo = floor((k - 1) * p): low_ (a max-heap) holds the lo + 1 smallest
    // samples, high_ (a min-heap) the others, so max(low) <= min(high) and
    // the two interpolation points are the two tops. heap_index_[slot] says
    // where a slot sits (i >= 0: low_[i]; i < 0: high_[-i - 1]) so that the
    // evicted sample can be removed in O(log W).
    void heap_insert(bool low, Entry entry);
    Entry heap_remove(std::uint32_t slot);
    void sift_up(bool low, std::size_t i);
    void sift_down(bool low, std::size_t i);
    static bool before(bool low, const Entry& a, const Entry& b) {
        return low ? a.sample > b.sample : a.sample < b.sample;
    }
    void place(bool low, std::size_t i) {
        std::vector<Entry>& heap = low ? low_ : high_;
        heap_index_[heap[i].slot] = low ? static_cast<std::int32_t>(i) : -static_cast<std::int32_t>(i) - 1;
    }

    std::vector<double> ring_;      // samples, slot = seq % W
    std::uint32_t next_slot_ = 0;   // slot of the next sample, = total % W
    bool any_ = false;              // a sample was ever pushed (for the EWMA)
    double sum_ = 0.0;              // running sum of the window (see push)
    // max: monotonic deque of entries whose samples strictly decrease from
    // front to back; the front is the window maximum. A ring of W entries.
    std::vector<Entry> deque_;
    std::uint32_t deque_head_ = 0;
    std::uint32_t deque_size_ = 0;
    std::vector<Entry> low_, high_;
    std::vector<std::int32_t> heap_index_;
    double ewma_ = 0.0;
};

}  // namespace vsched
