// The sliding windows of every VM's usage samples and the estimators the
// reallocator estimates demand from. Python-free; see Reallocator for the rules
// and docs/engines/reallocator.md for the estimators and how to add one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "vsched/decayed_histogram.hpp"
#include "vsched/estimator_api.hpp"
#include "vsched/rank_band.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

// ---- the estimators --------------------------------------------------------
// The shape every estimator has is in vsched/estimator_api.hpp.

// max: block (van Herk / Gil-Werman) prefix and suffix maxima. Blocks are the
// W ticks from a tick writing row 0 to the next writing row W - 1. suffix[j]
// = max of the valid rows j .. W - 1 of the block that ended last (built at
// its end), prefix = max of this block's samples; with s = next_row the
// window is rows 0 .. s - 1 of this block and s .. W - 1 of the previous one,
// so max = max(prefix, suffix[s]): O(1) amortized, no branch on the data.
struct MaxEstimator {
    static constexpr const char* kName = "max";
    static constexpr bool kKeepsState = false;
    explicit MaxEstimator(const WindowConfig& config) : window_(config.window) {}
    void resize(std::size_t old_stride, std::size_t stride);
    void reset(std::uint32_t column) { prefix_[column] = kNone; }
    void begin_tick(const WindowView&) {}
    void push(const Push& p, const WindowView&) {
        prefix_[p.column] = prefix_[p.column] < p.sample ? p.sample : prefix_[p.column];
    }
    void wrap(const std::uint32_t* columns, std::size_t n, const WindowView& view);
    double estimate(std::uint32_t column, const WindowView& view) const;
    void save(StateWriter& out) const;
    void load(StateReader& in, std::size_t stride);
    EstimatorFields export_column(std::uint32_t) const { return {}; }
    static void check_import(const EstimatorFields&) {}
    void import_column(std::uint32_t column, const EstimatorFields&, const WindowView& view);
    // Allocates the suffix matrix (called before the first wrap or an import,
    // which are the first to need it; see UsageWindows).
    void reserve_window(std::size_t stride);

    static constexpr double kNone = -std::numeric_limits<double>::infinity();  // max of no samples

private:
    std::size_t window_;
    std::vector<double> prefix_;  // per column
    std::vector<double> suffix_;  // W x stride once reserved (a block ended, or an import); empty before
    bool reserved_ = false;       // suffix_ allocated: until then every entry is kNone and none is read
};

// mean: the running sum (kept by UsageWindows for every estimator, since the
// load needs it) over the window's count.
struct MeanEstimator {
    static constexpr const char* kName = "mean";
    static constexpr bool kKeepsState = false;
    explicit MeanEstimator(const WindowConfig&) {}
    void resize(std::size_t, std::size_t) {}
    void reset(std::uint32_t) {}
    void begin_tick(const WindowView&) {}
    void push(const Push&, const WindowView&) {}
    void wrap(const std::uint32_t*, std::size_t, const WindowView&) {}
    double estimate(std::uint32_t column, const WindowView& view) const {
        return view.sum[column] / static_cast<double>(view.count[column]);
    }
    void save(StateWriter&) const {}
    void load(StateReader&, std::size_t) {}
    EstimatorFields export_column(std::uint32_t) const { return {}; }
    static void check_import(const EstimatorFields&) {}
    void import_column(std::uint32_t, const EstimatorFields&, const WindowView&) {}
};

// ewma over every sample since the VM was added:
//   ewma_1 = x_1,  ewma_t = ewma_{t-1} + alpha * (x_t - ewma_{t-1}).
struct EwmaEstimator {
    static constexpr const char* kName = "ewma";
    static constexpr bool kKeepsState = true;
    explicit EwmaEstimator(const WindowConfig& config) : alpha_(config.alpha) {}
    void resize(std::size_t, std::size_t stride) { ewma_.resize(stride, 0.0); }
    void reset(std::uint32_t column) { ewma_[column] = 0.0; }
    void begin_tick(const WindowView&) {}
    void push(const Push& p, const WindowView&) {
        double& e = ewma_[p.column];
        e = p.count == 0 ? p.sample : e + alpha_ * (p.sample - e);
    }
    void wrap(const std::uint32_t*, std::size_t, const WindowView&) {}
    double estimate(std::uint32_t column, const WindowView&) const { return ewma_[column]; }
    void save(StateWriter& out) const { out.put_vector(ewma_); }
    void load(StateReader& in, std::size_t stride);
    EstimatorFields export_column(std::uint32_t column) const { return {{"ewma", {ewma_[column]}, true}}; }
    static void check_import(const EstimatorFields& fields);
    void import_column(std::uint32_t column, const EstimatorFields& fields, const WindowView&);

private:
    double alpha_;
    std::vector<double> ewma_;  // per column
};

// percentile: numpy's default linear interpolation over the window,
// h = (k - 1) * p, between the samples of rank floor(h) and floor(h) + 1.
// Windows up to kSortedWindow long are kept sorted (an O(W) insertion that
// touches one short block); longer ones keep a RankBand per VM: the sorted
// samples around those two ranks and a count of those under them, so a sample
// far from the rank costs a comparison with the band's two ends.
struct PercentileEstimator {
    static constexpr const char* kName = "percentile";
    static constexpr bool kKeepsState = false;
    static constexpr std::size_t kSortedWindow = 64;
    explicit PercentileEstimator(const WindowConfig& config)
        : window_(config.window), quantile_(config.quantile) {}
    void resize(std::size_t old_stride, std::size_t stride);
    // The rebuild buffer, allocated before the first tick or import that may
    // rebuild (not at construction, and not copied when the columns grow).
    void reserve_window(std::size_t) { reserve_scratch(); }
    void reset(std::uint32_t column);
    void begin_tick(const WindowView& view);
    void push(const Push& p, const WindowView& view);
    // Called a few VMs ahead: the band's lines if the push of `sample` will
    // touch them, else the line the estimate reads if the count under the
    // band will change (the sample and the evicted one on different sides).
    void prefetch(std::uint32_t column, double sample, double evicted, bool full) const {
        if (sorted_lane()) return;
        const RankBandHead& head = band_heads_[column];
        const double* band = bands_.data() + static_cast<std::size_t>(column) * RankBand::kSlots;
        if (RankBand::touches(head, sample, evicted, full)) {
            for (std::size_t i = 0; i < RankBand::kSlots; i += 8) prefetch_line(band + i);
            prefetch_line(band + RankBand::kSlots - 1);
        } else if (full && (sample < head.first) != (evicted < head.first)) {
            const std::size_t at = full_lo_ > head.below ? full_lo_ - head.below : 0;
            prefetch_line(band + std::min(at, RankBand::kSlots - 2));
            prefetch_line(band + std::min(at, RankBand::kSlots - 2) + 2);
        }
    }
    void wrap(const std::uint32_t*, std::size_t, const WindowView&) {}
    double estimate(std::uint32_t column, const WindowView&) const { return percentile_[column]; }
    void save(StateWriter& out) const;
    void load(StateReader& in, std::size_t stride);
    EstimatorFields export_column(std::uint32_t) const { return {}; }
    static void check_import(const EstimatorFields&) {}
    void import_column(std::uint32_t column, const EstimatorFields&, const WindowView& view);

private:
    bool sorted_lane() const { return window_ <= kSortedWindow; }
    RankBand band(std::uint32_t column) {
        return RankBand(band_heads_[column], bands_.data() + static_cast<std::size_t>(column) * RankBand::kSlots);
    }
    // Rebuilds the band of `column` from its `count` samples, the newest in
    // ring row `newest`, around the ranks of `count`; the new estimate.
    double rebuild(std::uint32_t column, std::size_t count, std::size_t newest, int drift, const WindowView& view);
    // After a push moved the band or the count under it: the estimate from
    // ranks lo, lo + 1 (lerp fraction gamma), rebuilding if they left the band.
    void settle(std::uint32_t column, std::size_t count, std::size_t newest, std::size_t lo, double gamma,
                const WindowView& view);
    // Any push (push() handles the common case itself).
#if defined(__GNUC__)
    __attribute__((noinline))
#endif
    void push_general(const Push& p, const WindowView& view);
    void reserve_scratch() {
        if (!sorted_lane() && scratch_.values.size() < window_) scratch_.values.resize(window_);
    }
    // A work buffer, no state: a copy of the estimator starts without one.
    struct Scratch {
        std::vector<double> values;
        Scratch() = default;
        Scratch(const Scratch&) {}
        Scratch(Scratch&&) = default;
        Scratch& operator=(const Scratch&) { return *this; }
        Scratch& operator=(Scratch&&) = default;
    };

    std::size_t window_;
    double quantile_;
    std::size_t full_lo_ = 0;     // lower rank of a full window (computed once per tick)
    double full_gamma_ = 0.0;     // and its lerp fraction
    std::vector<double> sorted_;  // sorted lane: stride x W (one sorted block per column)
    std::vector<RankBandHead> band_heads_;  // band lane: per column
    std::vector<double> bands_;             // band lane: stride x RankBand::kSlots
    Scratch scratch_;                       // W: one window, reordered by a rebuild
    std::vector<double> percentile_;  // per column: the estimate after the last push
};

// ---- the registry ----------------------------------------------------------
// One line per estimator: its struct. The names (kName) feed the constructor's
// choices, the binder's vsched.ESTIMATORS tuple and, through it, the CLI; the
// reference keeps the same names (a test checks both tuples are equal).
using EstimatorRegistry =
    std::tuple<MaxEstimator, MeanEstimator, PercentileEstimator, EwmaEstimator, DecayedHistogramEstimator>;

template <class Registry>
struct VariantOf;
template <class... E>
struct VariantOf<std::tuple<E...>> {
    using type = std::variant<E...>;
};
using AnyEstimator = VariantOf<EstimatorRegistry>::type;

// The registered names, in registry order.
const std::vector<std::string>& estimator_names();
// invalid_argument naming the choices unless `name` is registered.
AnyEstimator make_estimator(const std::string& name, const WindowConfig& config);

// One VM's window as plain data (export_vm / import_vm).
struct ColumnState {
    std::vector<double> samples;  // oldest first, at most W
    double sum = 0.0;             // the running sum of the window
    std::uint64_t seen = 0;       // samples pushed since the VM was added
    std::size_t window = 0;       // the W of the windows it came from
    std::string estimator;        // the estimator that kept `fields`
    EstimatorFields fields;       // its state that is not a function of the window
};

// The windows of all the VMs of one reallocator, stored by column: every VM
// gets a column when added (a removed VM's column is reused), and every
// per-sample array is a matrix of W rows by `stride_` columns.
//
// All windows advance together: the reallocator pushes one sample per VM per
// tick, and tick t (counted since the reallocator was made) writes ring row
// t % W. So a tick touches one contiguous row of each matrix (instead of one
// cold line per VM) and the row it overwrites holds, for every full window,
// its oldest sample. A VM added later simply has fewer valid rows: its count
// k = min(samples since added, W) says that its window is the last k rows
// written.
//
// At the end of each block of W ticks ("wrap") the running sum of every VM is
// recomputed exactly, oldest sample first (rows W - k .. W - 1), wiping the
// drift of sum' = (sum - evicted) + sample; then the estimator's wrap runs.
class UsageWindows {
public:
    // invalid_argument unless `estimator` is registered.
    UsageWindows(const std::string& estimator, const WindowConfig& config);

    // An empty window; returns its column. May allocate (strong guarantee);
    // `whole_window`: also every row of the window, as import_column needs.
    std::uint32_t add(bool whole_window = false);
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
    // out[i] = the estimator over the window of columns[i] (which must not be empty).
    void estimate(const std::uint32_t* columns, std::size_t n, double* out) const;

    const WindowConfig& config() const { return config_; }
    const std::string& estimator_name() const { return name_; }
    std::uint32_t columns_used() const { return used_; }  // columns ever handed out
    const std::vector<std::uint32_t>& free_columns() const { return free_; }

    // The window of `column` as plain data, and back into a fresh column.
    ColumnState export_column(std::uint32_t column) const;
    // invalid_argument unless `state` can be imported (samples finite and >= 0,
    // the estimator's fields valid, the same estimator if it keeps state).
    void check_import(const ColumnState& state) const;
    // Fills column `column` (just returned by add()) with `state`, already checked.
    void import_column(std::uint32_t column, const ColumnState& state);

    void save(StateWriter& out) const;
    // Throws invalid_argument on any inconsistency; `this` is unchanged then.
    static UsageWindows load(StateReader& in);

private:
    UsageWindows() = default;
    template <class E>
    void push_row(E& estimator, const std::uint32_t* columns, const double* samples, std::size_t n);
    void grow();                       // doubles stride_, keeping every column
    void reserve_rows(std::size_t rows);  // at least `rows` ring rows allocated (rows_)
    void reserve_window();             // every ring row and the estimator's W-row state
    void wrap_sums(const std::uint32_t* columns, std::size_t n);  // end of a block
    WindowView view() const {
        return WindowView{config_.window, stride_, next_row_, ring_.data(), count_.data(), sum_.data(), seen_.data()};
    }

    WindowConfig config_;
    std::string name_;
    AnyEstimator estimator_{std::in_place_index<0>, WindowConfig{}};
    std::uint32_t next_row_ = 0;       // row of the next tick, = ticks % W
    std::size_t stride_ = 0;           // columns allocated
    std::uint32_t used_ = 0;           // columns ever handed out
    std::vector<std::uint32_t> free_;  // removed columns, reused last in first out

    // Rows are allocated as ticks first reach them: rows_ = min(ticks, W) (or W
    // after an import or a load), so adding VMs costs nothing per row of a
    // window that no tick has written yet; a checkpoint still holds W rows.
    std::size_t rows_ = 0;
    std::vector<double> ring_;          // rows_ x stride_ samples
    std::vector<std::uint32_t> count_;  // per column: samples in the window
    std::vector<double> sum_;           // per column: running sum of the window
    std::vector<std::uint64_t> seen_;   // per column: samples pushed since added
};

}  // namespace vsched
