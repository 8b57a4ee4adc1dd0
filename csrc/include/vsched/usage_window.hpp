// The sliding windows of every VM's usage samples and the statistics the
// reallocator estimates demand from. Python-free; see Reallocator for the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
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

// Exact linear percentile of one window in O(log W) per sample: the window's
// samples in two binary heaps split at rank lo = floor((k - 1) * p). The low
// heap (a max-heap) holds the lo + 1 smallest, the high heap (a min-heap) the
// others, so max(low) <= min(high) and the two interpolation points are the
// two tops. index[slot] says where the sample of a ring slot sits (i >= 0:
// low[i]; i < 0: high[-i - 1]), so the evicted sample is removed in O(log W).
//
// A view of one VM's block of storage, owned by UsageWindows: W entries (the
// low heap from the front, the high heap from the back: together they hold
// the k <= W samples), W index slots and the two heap sizes. One block per
// VM, side by side, instead of three allocations per VM.
class PercentileHeaps {
public:
    // Heap entries carry a copy of the sample, so that sifting never chases a
    // slot into the ring (whose lines are cold with long windows).
    struct Entry {
        double sample;
        std::uint32_t slot;
    };

    PercentileHeaps(Entry* entries, std::int32_t* index, std::uint32_t* sizes, std::size_t window)
        : entries_(entries), index_(index), sizes_(sizes), window_(window) {}

    // Adds `sample` (ring slot `slot`), first removing the sample that slot
    // held if the window was full; `count` is the window size after the push.
    void push(double sample, std::uint32_t slot, bool full, std::size_t count, const WindowConfig& config);
    double estimate(std::size_t count, const WindowConfig& config) const;

private:
    Entry& at(bool low, std::size_t i) const { return low ? entries_[i] : entries_[window_ - 1 - i]; }
    std::uint32_t& size(bool low) const { return sizes_[low ? 0 : 1]; }
    void insert(bool low, Entry entry);
    Entry remove(std::uint32_t slot);
    void sift_up(bool low, std::size_t i);
    void sift_down(bool low, std::size_t i);
    static bool before(bool low, const Entry& a, const Entry& b) {
        return low ? a.sample > b.sample : a.sample < b.sample;
    }
    void place(bool low, std::size_t i) const {
        index_[at(low, i).slot] = low ? static_cast<std::int32_t>(i) : -static_cast<std::int32_t>(i) - 1;
    }

    Entry* entries_;
    std::int32_t* index_;
    std::uint32_t* sizes_;  // [0]: low heap, [1]: high heap
    std::size_t window_;
};

// The windows of all the VMs of one reallocator, stored by column: every VM
// gets a column when added (a removed VM's column is reused), and every
// per-sample array is a matrix of W rows by `capacity_` columns.
//
// All windows advance together: the reallocator pushes one sample per VM per
// tick, and tick t (counted since the reallocator was made) writes ring row
// t % W. So a tick touches one contiguous row of each matrix (instead of one
// cold line per VM) and the row it overwrites holds, for every full window,
// its oldest sample. A VM added later simply has fewer valid rows: its count
// k = min(samples since added, W) says that its window is the last k rows
// written.
//
// Blocks: the W ticks from a tick with row 0 to the next tick with row W - 1.
// At the end of each block ("wrap"), for every VM:
//   - the running sum is recomputed exactly, oldest sample first (rows
//     W - k .. W - 1), wiping the drift of sum' = (sum - evicted) + sample;
//   - max: suffix[j] = max(valid rows j .. W - 1) of the block just finished,
//     and the prefix maximum of the new block restarts empty.
// Then the maximum of the window, when row s is the next to be written, is
// max(prefix, suffix[s]) (the window is rows 0 .. s-1 of this block and
// rows s .. W-1 of the previous one): O(1) amortized per sample, no branch
// on the data (the van Herk / Gil-Werman sliding maximum).
class UsageWindows {
public:
    explicit UsageWindows(const WindowConfig& config) : config_(config) {}

    // An empty window; returns its column. May allocate (strong guarantee).
    std::uint32_t add();
    // Frees a column for reuse.
    void remove(std::uint32_t column);
    // One tick: samples[i] is pushed onto column columns[i], for i < n; n must
    // be every live column (all windows advance together).
    void push(const std::uint32_t* columns, const double* samples, std::size_t n);

    // Samples in the window of `column`: min(samples pushed, W).
    std::size_t count(std::uint32_t column) const { return count_[column]; }
    double mean(std::uint32_t column) const {
        const std::uint32_t k = count_[column];
        return k == 0 ? 0.0 : sum_[column] / static_cast<double>(k);
    }
    // The configured estimator over the window; the window must not be empty.
    double estimate(std::uint32_t column) const;

    const WindowConfig& config() const { return config_; }

    // percentile: windows up to this long are kept sorted (see push_row).
    static constexpr std::size_t kSortedWindow = 64;

private:
    template <Estimator kind>
    void push_row(const std::uint32_t* columns, const double* samples, std::size_t n);
    void grow();                       // doubles capacity_, keeping every column
    void wrap(const std::uint32_t* columns, std::size_t n);  // end of a block

    WindowConfig config_;
    std::uint32_t next_row_ = 0;       // row of the next tick, = ticks % W
    std::size_t capacity_ = 0;         // columns allocated
    std::uint32_t used_ = 0;           // columns ever handed out
    std::vector<std::uint32_t> free_;  // removed columns, reused last in first out

    std::vector<double> ring_;         // W x capacity_ samples
    std::vector<std::uint32_t> count_; // per column: samples in the window
    std::vector<double> sum_;          // per column: running sum of the window
    std::vector<double> ewma_;         // per column (ewma)
    std::vector<double> prefix_max_;   // per column: max of this block's samples (max)
    std::vector<double> suffix_max_;   // W x capacity_ (max), see the class comment
    // percentile, W <= kSortedWindow: per column the window's samples sorted
    // (an O(W) insertion beats the heaps' O(log W) sifts on short windows).
    bool sorted_lane() const { return config_.window <= kSortedWindow; }
    std::vector<double> sorted_;                          // capacity_ x W
    // percentile, longer windows: per column a block of W heap entries, W index slots and
    // two heap sizes (see PercentileHeaps).
    std::vector<PercentileHeaps::Entry> heap_entries_;  // capacity_ x W
    std::vector<std::int32_t> heap_index_;               // capacity_ x W
    std::vector<std::uint32_t> heap_sizes_;              // capacity_ x 2
    PercentileHeaps heaps(std::uint32_t column) {
        const std::size_t w = config_.window;
        return PercentileHeaps(heap_entries_.data() + column * w, heap_index_.data() + column * w,
                               heap_sizes_.data() + 2 * static_cast<std::size_t>(column), w);
    }
    std::vector<double> percentile_;   // per column: the estimate after the last push
};

}  // namespace vsched
