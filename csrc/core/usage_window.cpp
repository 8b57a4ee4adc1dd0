// Windowed statistics of every VM's usage: a ring matrix, running sums, the
// block (van Herk / Gil-Werman) sliding maximum, two indexed heaps split at a
// rank for an exact percentile, EWMA.
//
// Every formula here is mirrored operation for operation by
// src/vsched/reference/reallocation.py (which keeps each window as a plain
// list and computes max and percentile from scratch), so both agree bit for bit.
#include "vsched/usage_window.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "vsched/errors.hpp"

namespace vsched {

Estimator parse_estimator(const std::string& name) {
    if (name == "max") return Estimator::max;
    if (name == "mean") return Estimator::mean;
    if (name == "percentile") return Estimator::percentile;
    if (name == "ewma") return Estimator::ewma;
    throw std::invalid_argument(message("estimator = '", name,
                                        "': estimator must be one of 'max', 'mean', 'percentile', 'ewma'"));
}

const char* estimator_name(Estimator estimator) {
    switch (estimator) {
        case Estimator::max: return "max";
        case Estimator::mean: return "mean";
        case Estimator::percentile: return "percentile";
        case Estimator::ewma: return "ewma";
    }
    return "?";
}

namespace {

// Rank (0-based, ascending) of the lower interpolation point of the linear
// percentile over k samples, h = (k - 1) * p, as numpy.percentile computes it.
inline std::size_t lower_rank(std::size_t k, double quantile) {
    return static_cast<std::size_t>(std::floor(static_cast<double>(k - 1) * quantile));
}

constexpr double kNone = -std::numeric_limits<double>::infinity();  // max of no samples

// numpy.percentile's default ('linear') from the samples of rank lo and
// lo + 1 (below, above): h = (k - 1) * p, g = h - floor(h), lerp exactly as
// numpy's _lerp does it (from the nearer end).
inline double lerp_at(double gamma, double below, double above) {
    const double diff = above - below;
    return gamma >= 0.5 ? above - diff * (1.0 - gamma) : below + diff * gamma;
}

inline double fraction_of_rank(std::size_t count, double quantile) {
    const double h = static_cast<double>(count - 1) * quantile;
    return h - std::floor(h);
}

inline double lerp_percentile(std::size_t count, double quantile, double below, double above) {
    return lerp_at(fraction_of_rank(count, quantile), below, above);
}

// Short windows: the k samples kept sorted in a[0..k). Drops one copy of
// `evicted` if the window was full, inserts x, returns the percentile. The
// positions are counts (no branch on the data) and only the samples between
// the two positions move, one step: O(W) per sample, used for W <=
// kSortedWindow only. Order statistics are values, so this gives exactly the
// heaps' result. (The loops are kept as loops: GCC would otherwise call
// memmove for these few bytes, which costs more than the moves.) full_lo and
// full_gamma: lower_rank and the lerp fraction of a full window, computed once
// per tick by the caller (the same operations, so the same doubles).
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
inline double push_sorted(double* a, std::size_t k, bool full, double evicted, double x, double quantile,
                          std::size_t full_lo, double full_gamma) {
    std::size_t at_most_x = 0;  // samples <= x
    for (std::size_t i = 0; i < k; ++i) at_most_x += a[i] <= x;
    if (!full) {
        for (std::size_t i = k; i > at_most_x; --i) a[i] = a[i - 1];
        a[at_most_x] = x;
        ++k;
    } else {
        std::size_t j = 0;  // samples below the evicted one, so a[j] == evicted
        for (std::size_t i = 0; i < k; ++i) j += a[i] < evicted;
        // x's place once a[j] is gone (evicted was counted if <= x).
        const std::size_t p = at_most_x - static_cast<std::size_t>(evicted <= x);
        if (p >= j) {
            for (std::size_t i = j; i < p; ++i) a[i] = a[i + 1];
        } else {
            for (std::size_t i = j; i > p; --i) a[i] = a[i - 1];
        }
        a[p] = x;
        return lerp_at(full_gamma, a[full_lo], full_lo + 1 < k ? a[full_lo + 1] : a[full_lo]);
    }
    const std::size_t lo = lower_rank(k, quantile);
    return lerp_percentile(k, quantile, a[lo], lo + 1 < k ? a[lo + 1] : a[lo]);
}

}  // namespace

// ---- percentile ------------------------------------------------------------

void PercentileHeaps::push(double sample, std::uint32_t slot, bool full, std::size_t count,
                           const WindowConfig& config) {
    // The side that keeps max(low) <= min(high): low below the high top.
    const bool to_low = size(false) == 0 || sample < at(false, 0).sample;
    if (full) {
        const std::int32_t where = index_[slot];
        if ((where >= 0) == to_low) {
            // The common case: the new sample joins the side the evicted one
            // leaves, so it takes its place (one sift instead of a removal and
            // an insertion) and the sizes, hence the split, do not change.
            // Ties may land on either side; the estimate depends only on the
            // values at ranks lo and lo + 1, so it is the same either way.
            const std::size_t i = to_low ? static_cast<std::size_t>(where) : static_cast<std::size_t>(-where - 1);
            at(to_low, i) = Entry{sample, slot};
            sift_up(to_low, i);
            const std::int32_t moved = index_[slot];
            sift_down(to_low, static_cast<std::size_t>(to_low ? moved : -moved - 1));
            return;
        }
        remove(slot);
    }
    // Insert on the side that keeps max(low) <= min(high), then move tops
    // across until the low heap holds exactly the lo + 1 smallest samples.
    insert(size(false) == 0 || sample < at(false, 0).sample, Entry{sample, slot});
    const std::size_t target = lower_rank(count, config.quantile) + 1;
    while (size(true) > target) insert(false, remove(at(true, 0).slot));
    while (size(true) < target) insert(true, remove(at(false, 0).slot));
}

double PercentileHeaps::estimate(std::size_t count, const WindowConfig& config) const {
    const double below = at(true, 0).sample;
    return lerp_percentile(count, config.quantile, below, size(false) == 0 ? below : at(false, 0).sample);
}

void PercentileHeaps::insert(bool low, Entry entry) {
    const std::size_t i = size(low)++;
    at(low, i) = entry;
    place(low, i);
    sift_up(low, i);
}

PercentileHeaps::Entry PercentileHeaps::remove(std::uint32_t slot) {
    const std::int32_t where = index_[slot];
    const bool low = where >= 0;
    const std::size_t i = low ? static_cast<std::size_t>(where) : static_cast<std::size_t>(-where - 1);
    const Entry removed = at(low, i);
    const std::size_t last_index = --size(low);
    if (i == last_index) return removed;  // it was the last element
    const Entry last = at(low, last_index);
    at(low, i) = last;
    place(low, i);
    // The moved element may belong above or below position i.
    sift_up(low, i);
    const std::int32_t moved = index_[last.slot];
    sift_down(low, static_cast<std::size_t>(low ? moved : -moved - 1));
    return removed;
}

void PercentileHeaps::sift_up(bool low, std::size_t i) {
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!before(low, at(low, i), at(low, parent))) break;
        std::swap(at(low, i), at(low, parent));
        place(low, i);
        place(low, parent);
        i = parent;
    }
}

void PercentileHeaps::sift_down(bool low, std::size_t i) {
    const std::size_t n = size(low);
    for (;;) {
        std::size_t best = i;
        const std::size_t left = 2 * i + 1;
        const std::size_t right = left + 1;
        if (left < n && before(low, at(low, left), at(low, best))) best = left;
        if (right < n && before(low, at(low, right), at(low, best))) best = right;
        if (best == i) return;
        std::swap(at(low, i), at(low, best));
        place(low, i);
        place(low, best);
        i = best;
    }
}

// ---- all windows ---------------------------------------------------------------

void UsageWindows::grow() {
    const std::size_t window = config_.window;
    const std::size_t wider = capacity_ == 0 ? 64 : 2 * capacity_;
    const bool by_max = config_.estimator == Estimator::max;
    // Allocate everything first: on bad_alloc nothing has changed.
    std::vector<double> ring(window * wider, 0.0);
    std::vector<double> suffix(by_max ? window * wider : 0, kNone);
    std::vector<std::uint32_t> count(count_);
    std::vector<double> sum(sum_), ewma(ewma_), prefix(prefix_max_), percentile(percentile_);
    count.resize(wider, 0);
    sum.resize(wider, 0.0);
    ewma.resize(wider, 0.0);
    prefix.resize(wider, kNone);
    percentile.resize(wider, 0.0);
    const bool by_percentile = config_.estimator == Estimator::percentile;
    // Column blocks are contiguous, so the old ones are a prefix of the new.
    std::vector<PercentileHeaps::Entry> heap_entries(heap_entries_);
    std::vector<std::int32_t> heap_index(heap_index_);
    std::vector<std::uint32_t> heap_sizes(heap_sizes_);
    std::vector<double> sorted(sorted_);
    if (by_percentile && sorted_lane()) {
        sorted.resize(window * wider, 0.0);
    } else if (by_percentile) {
        heap_entries.resize(window * wider, PercentileHeaps::Entry{0.0, 0});
        heap_index.resize(window * wider, 0);
        heap_sizes.resize(2 * wider, 0);
    }
    free_.reserve(wider);
    for (std::size_t row = 0; row < window; ++row) {
        std::copy(ring_.begin() + row * capacity_, ring_.begin() + (row + 1) * capacity_, ring.begin() + row * wider);
        if (by_max) {
            std::copy(suffix_max_.begin() + row * capacity_, suffix_max_.begin() + (row + 1) * capacity_,
                      suffix.begin() + row * wider);
        }
    }
    ring_.swap(ring);
    suffix_max_.swap(suffix);
    count_.swap(count);
    sum_.swap(sum);
    ewma_.swap(ewma);
    prefix_max_.swap(prefix);
    percentile_.swap(percentile);
    heap_entries_.swap(heap_entries);
    heap_index_.swap(heap_index);
    heap_sizes_.swap(heap_sizes);
    sorted_.swap(sorted);
    capacity_ = wider;
}

std::uint32_t UsageWindows::add() {
    std::uint32_t column;
    if (!free_.empty()) {
        column = free_.back();
        free_.pop_back();
    } else {
        if (used_ == capacity_) grow();
        column = used_++;
    }
    // A reused column's rows keep stale samples; count 0 makes them invalid.
    count_[column] = 0;
    sum_[column] = 0.0;
    ewma_[column] = 0.0;
    prefix_max_[column] = kNone;
    if (config_.estimator == Estimator::percentile && !sorted_lane()) {
        heap_sizes_[2 * static_cast<std::size_t>(column)] = 0;
        heap_sizes_[2 * static_cast<std::size_t>(column) + 1] = 0;
    }
    return column;
}

void UsageWindows::remove(std::uint32_t column) {
    free_.push_back(column);  // capacity reserved by grow(): cannot throw
}

void UsageWindows::push(const std::uint32_t* columns, const double* samples, std::size_t n) {
    switch (config_.estimator) {
        case Estimator::max: push_row<Estimator::max>(columns, samples, n); break;
        case Estimator::mean: push_row<Estimator::mean>(columns, samples, n); break;
        case Estimator::percentile: push_row<Estimator::percentile>(columns, samples, n); break;
        case Estimator::ewma: push_row<Estimator::ewma>(columns, samples, n); break;
    }
    const std::uint32_t window = static_cast<std::uint32_t>(config_.window);
    next_row_ = next_row_ + 1 == window ? 0 : next_row_ + 1;
    if (next_row_ == 0) wrap(columns, n);
}

template <Estimator kind>
void UsageWindows::push_row(const std::uint32_t* columns, const double* samples, std::size_t n) {
    const std::uint32_t window = static_cast<std::uint32_t>(config_.window);
    const std::uint32_t row = next_row_;
    const double alpha = config_.alpha;
    double* ring = ring_.data() + static_cast<std::size_t>(row) * capacity_;
    std::uint32_t* count = count_.data();
    double* sum = sum_.data();
    double* ewma = ewma_.data();
    double* prefix_max = prefix_max_.data();
    const std::size_t full_lo = lower_rank(window, config_.quantile);
    const double full_gamma = fraction_of_rank(window, config_.quantile);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t c = columns[i];
        const double x = samples[i];
        const std::uint32_t k = count[c];
        const bool full = k == window;
        // Running sum: sum' = (sum - evicted) + sample once the window is full
        // (the row being overwritten holds its oldest sample), sum + sample
        // while it fills. The drift is wiped at every wrap (see wrap()).
        const double evicted = ring[c];  // meaningful only when full
        const double kept = full ? sum[c] - evicted : sum[c];
        sum[c] = kept + x;
        ring[c] = x;
        count[c] = full ? k : k + 1;
        if constexpr (kind == Estimator::max) {
            prefix_max[c] = std::max(prefix_max[c], x);
        } else if constexpr (kind == Estimator::ewma) {
            // ewma_1 = x_1; ewma_t = ewma_{t-1} + alpha * (x_t - ewma_{t-1}).
            ewma[c] = k == 0 ? x : ewma[c] + alpha * (x - ewma[c]);
        } else if constexpr (kind == Estimator::percentile) {
            if (sorted_lane()) {
                percentile_[c] = push_sorted(sorted_.data() + static_cast<std::size_t>(c) * window, k, full,
                                             evicted, x, config_.quantile, full_lo, full_gamma);
            } else {
                PercentileHeaps heaps_of_c = heaps(c);
                heaps_of_c.push(x, row, full, count[c], config_);
                // Read the two tops now, while their lines are in cache.
                percentile_[c] = heaps_of_c.estimate(count[c], config_);
            }
        }
    }
}

void UsageWindows::wrap(const std::uint32_t* columns, std::size_t n) {
    const std::size_t window = config_.window;
    // Exact sums, oldest sample first: a window of k samples is rows
    // W - k .. W - 1 of the block that just ended.
    for (std::size_t i = 0; i < n; ++i) sum_[columns[i]] = 0.0;
    for (std::size_t row = 0; row < window; ++row) {
        const double* samples = ring_.data() + row * capacity_;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t c = columns[i];
            if (row + count_[c] >= window) sum_[c] += samples[c];
        }
    }
    if (config_.estimator != Estimator::max) return;
    // suffix[j] = max of the valid rows j .. W - 1 (none: -inf), built from
    // the last row up, with prefix_max_ as the running maximum; then the new
    // block's prefix starts empty.
    for (std::size_t i = 0; i < n; ++i) prefix_max_[columns[i]] = kNone;
    for (std::size_t row = window; row-- > 0;) {
        const double* samples = ring_.data() + row * capacity_;
        double* suffix = suffix_max_.data() + row * capacity_;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t c = columns[i];
            if (row + count_[c] >= window) prefix_max_[c] = std::max(prefix_max_[c], samples[c]);
            suffix[c] = prefix_max_[c];
        }
    }
    for (std::size_t i = 0; i < n; ++i) prefix_max_[columns[i]] = kNone;
}

double UsageWindows::estimate(std::uint32_t column) const {
    switch (config_.estimator) {
        case Estimator::max: {
            // Rows 0 .. s-1 of this block (prefix) and rows s .. W-1 of the
            // previous block (suffix[s]) if the window reaches back there.
            const std::uint32_t s = next_row_;
            double best = prefix_max_[column];
            if (count_[column] > s) best = std::max(best, suffix_max_[static_cast<std::size_t>(s) * capacity_ + column]);
            return best;
        }
        case Estimator::mean:
            return mean(column);
        case Estimator::ewma:
            return ewma_[column];
        case Estimator::percentile:
            return percentile_[column];
    }
    return 0.0;
}

}  // namespace vsched
