// Windowed statistics of every VM's usage: a ring matrix and running sums
// shared by every estimator, and the estimators of the registry (block
// maxima, sorted windows and rank bands for exact percentiles, EWMA).
//
// Every formula here is mirrored operation for operation by
// src/vsched/reference/reallocation.py (which keeps each window as a plain
// list and computes max and percentile from scratch), so both agree bit for bit.
#include "vsched/usage_window.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "vsched/errors.hpp"

namespace vsched {

namespace {

// Rank (0-based, ascending) of the lower interpolation point of the linear
// percentile over k samples, h = (k - 1) * p, as numpy.percentile computes it.
inline std::size_t lower_rank(std::size_t k, double quantile) {
    return static_cast<std::size_t>(std::floor(static_cast<double>(k - 1) * quantile));
}

constexpr double kNone = MaxEstimator::kNone;

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
// rank bands' result. (The loops are kept as loops: GCC would otherwise call
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

// A W x stride row-major matrix widened to `wider` columns (new ones `fill`).
std::vector<double> widened(const std::vector<double>& matrix, std::size_t rows, std::size_t stride,
                            std::size_t wider, double fill) {
    std::vector<double> out(rows * wider, fill);
    for (std::size_t row = 0; row < rows && stride > 0; ++row) {
        std::copy(matrix.begin() + row * stride, matrix.begin() + (row + 1) * stride, out.begin() + row * wider);
    }
    return out;
}

template <class T>
std::vector<T> load_sized(StateReader& in, std::size_t size, const char* what) {
    std::vector<T> values = in.get_vector<T>();
    if (values.size() != size) {
        throw std::invalid_argument(message("corrupt vsched checkpoint: ", what, " has ", values.size(),
                                            " entries, expected ", size));
    }
    return values;
}

const EstimatorField* find_field(const EstimatorFields& fields, const char* name) {
    for (const EstimatorField& field : fields) {
        if (field.name == name) return &field;
    }
    return nullptr;
}

}  // namespace

// ---- max -------------------------------------------------------------------

void MaxEstimator::resize(std::size_t old_stride, std::size_t stride) {
    std::vector<double> suffix = reserved_ ? widened(suffix_, window_, old_stride, stride, kNone) : suffix_;
    prefix_.resize(stride, kNone);
    suffix_.swap(suffix);
}

void MaxEstimator::reserve_window(std::size_t stride) {
    if (reserved_) return;
    suffix_.assign(window_ * stride, kNone);
    reserved_ = true;
}

void MaxEstimator::wrap(const std::uint32_t* columns, std::size_t n, const WindowView& view) {
    // suffix[j] = max of the valid rows j .. W - 1 (none: -inf), built from
    // the last row up, with prefix_ as the running maximum; then the new
    // block's prefix starts empty. A window of k samples is rows W - k .. W - 1.
    const std::size_t window = window_;
    for (std::size_t i = 0; i < n; ++i) prefix_[columns[i]] = kNone;
    for (std::size_t row = window; row-- > 0;) {
        const double* samples = view.ring + row * view.stride;
        double* suffix = suffix_.data() + row * view.stride;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t c = columns[i];
            if (row + view.count[c] >= window) prefix_[c] = std::max(prefix_[c], samples[c]);
            suffix[c] = prefix_[c];
        }
    }
    for (std::size_t i = 0; i < n; ++i) prefix_[columns[i]] = kNone;
}

double MaxEstimator::estimate(std::uint32_t column, const WindowView& view) const {
    // Rows 0 .. s-1 of this block (prefix) and rows s .. W-1 of the previous
    // block (suffix[s]) if the window reaches back there.
    const std::uint32_t s = view.next_row;
    double best = prefix_[column];
    if (view.count[column] > s) best = std::max(best, suffix_[static_cast<std::size_t>(s) * view.stride + column]);
    return best;
}

void MaxEstimator::import_column(std::uint32_t column, const EstimatorFields&, const WindowView& view) {
    // The window's k samples sit in the rows the last k ticks wrote: ages
    // 0 .. s-1 in this block's rows s-1 .. 0, older ones in the previous
    // block's rows W-1 .. s (see the class comment).
    const std::size_t k = view.count[column];
    const std::size_t s = view.next_row;
    double prefix = kNone;
    for (std::size_t age = 0; age < std::min(k, s); ++age) prefix = std::max(prefix, view.sample(s - 1 - age, column));
    prefix_[column] = prefix;
    double running = kNone;
    for (std::size_t row = window_; row-- > 0;) {
        if (row >= s) {
            const std::size_t age = s - 1 + window_ - row;  // of the sample in this previous-block row
            if (age < k) running = std::max(running, view.sample(row, column));
            suffix_[row * view.stride + column] = running;
        } else {
            suffix_[row * view.stride + column] = kNone;  // this block's rows: rebuilt at the wrap
        }
    }
}

void MaxEstimator::save(StateWriter& out) const {
    out.put_vector(prefix_);
    if (reserved_) {
        out.put_vector(suffix_);
    } else {  // not allocated yet: all kNone, written in full as the format has it
        out.put_vector(std::vector<double>(window_ * prefix_.size(), kNone));
    }
}

void MaxEstimator::load(StateReader& in, std::size_t stride) {
    prefix_ = load_sized<double>(in, stride, "max prefix");
    suffix_ = load_sized<double>(in, window_ * stride, "max suffix");
    reserved_ = true;
}

// ---- ewma ------------------------------------------------------------------

void EwmaEstimator::load(StateReader& in, std::size_t stride) { ewma_ = load_sized<double>(in, stride, "ewma"); }

void EwmaEstimator::check_import(const EstimatorFields& fields) {
    const EstimatorField* ewma = find_field(fields, "ewma");
    if (ewma == nullptr || ewma->values.size() != 1) {
        throw std::invalid_argument("estimator_state must hold 'ewma' (a float) for the ewma estimator");
    }
    const double value = ewma->values[0];
    if (!std::isfinite(value) || value < 0.0) {
        throw std::invalid_argument(message("estimator_state['ewma'] = ", format_number(value),
                                            ": it must be finite and >= 0"));
    }
}

void EwmaEstimator::import_column(std::uint32_t column, const EstimatorFields& fields, const WindowView&) {
    ewma_[column] = find_field(fields, "ewma")->values[0];
}

// ---- percentile ------------------------------------------------------------

void PercentileEstimator::resize(std::size_t, std::size_t stride) {
    // Column blocks are contiguous, so the old ones are a prefix of the new.
    if (sorted_lane()) {
        sorted_.resize(window_ * stride, 0.0);
    } else {
        band_heads_.resize(stride, RankBandHead{});
        bands_.resize(RankBand::kSlots * stride, 0.0);
    }
    percentile_.resize(stride, 0.0);
}

void PercentileEstimator::reset(std::uint32_t column) {
    if (!sorted_lane()) band_heads_[column] = RankBandHead{};  // size 0: rebuilt at the first push
}

void PercentileEstimator::begin_tick(const WindowView&) {
    reserve_scratch();  // before the tick changes anything
    full_lo_ = lower_rank(window_, quantile_);
    full_gamma_ = fraction_of_rank(window_, quantile_);
}

double PercentileEstimator::rebuild(std::uint32_t column, std::size_t count, std::size_t newest, int drift,
                                    const WindowView& view) {
    double* samples = scratch_.values.data();
    std::size_t row = newest;
    for (std::size_t age = 0; age < count; ++age) {
        samples[age] = view.sample(row, column);
        row = row == 0 ? window_ - 1 : row - 1;
    }
    const std::size_t lo = lower_rank(count, quantile_);
    const std::size_t hi = lo + 1 < count ? lo + 1 : lo;
    RankBand b = band(column);
    b.rebuild(samples, count, lo, hi, drift);
    return lerp_percentile(count, quantile_, b.at(lo), b.at(hi));
}

void PercentileEstimator::settle(std::uint32_t column, std::size_t count, std::size_t newest, std::size_t lo,
                                 double gamma, const WindowView& view) {
    const std::size_t hi = lo + 1 < count ? lo + 1 : lo;
    RankBand b = band(column);
    if (!b.covers(lo, hi)) {
        percentile_[column] = rebuild(column, count, newest, band_heads_[column].below > lo ? -1 : 1, view);
        return;
    }
    if (band_heads_[column].size > RankBand::kKept) b.trim(lo, hi);
    percentile_[column] = lerp_at(gamma, b.at(lo), b.at(hi));
}

// Most pushes onto a full window touch neither end of the band: the evicted
// sample and the new one each only move `below`, by what push_general's
// remove() and insert() would do (below -= evicted < first, then below +=
// sample < first). Done here, inlined into the tick's loop, with no call and
// no write to the band; everything else (and a sample that would have to join
// the band, nothing being under or above it on its side) goes to push_general.
void PercentileEstimator::push(const Push& p, const WindowView& view) {
    if (!sorted_lane() && p.full) {
        RankBandHead& h = band_heads_[p.column];
        if (h.size > 0 && !RankBand::touches(h, p.sample, p.evicted, true)) {
            const std::uint32_t below = h.below;
            const std::uint32_t removed = below - static_cast<std::uint32_t>(p.evicted < h.first);
            const bool under = p.sample < h.first;
            const std::size_t above = window_ - 1 - removed - h.size;  // as insert() counts it
            if (under ? removed > 0 : above > 0) {
                h.below = removed + static_cast<std::uint32_t>(under);
                // Same count under the band, same band: same estimate.
                if (h.below != below) settle(p.column, window_, p.row, full_lo_, full_gamma_, view);
                return;
            }
        }
    }
    push_general(p, view);
}

void PercentileEstimator::push_general(const Push& p, const WindowView& view) {
    const std::uint32_t c = p.column;
    if (sorted_lane()) {
        percentile_[c] = push_sorted(sorted_.data() + static_cast<std::size_t>(c) * window_, p.count, p.full,
                                     p.evicted, p.sample, quantile_, full_lo_, full_gamma_);
        return;
    }
    const std::size_t count = p.full ? p.count : p.count + 1;  // after the push
    RankBand b = band(c);
    const std::uint32_t below = band_heads_[c].below;
    bool changed = !p.full;  // a growing window moves the ranks
    if (band_heads_[c].size > 0 && p.full && b.remove(p.evicted)) changed = true;
    if (band_heads_[c].size == 0) {  // new, or emptied by the eviction
        percentile_[c] = rebuild(c, count, p.row, 0, view);
        return;
    }
    changed = b.insert(p.sample, count) || changed || band_heads_[c].below != below;
    if (!changed) return;  // same ranks, same band, same count under it: same estimate
    const std::size_t lo = p.full ? full_lo_ : lower_rank(count, quantile_);
    const double gamma = p.full ? full_gamma_ : fraction_of_rank(count, quantile_);
    settle(c, count, p.row, lo, gamma, view);
}

void PercentileEstimator::import_column(std::uint32_t column, const EstimatorFields&, const WindowView& view) {
    const std::size_t k = view.count[column];
    reset(column);
    if (k == 0) return;
    if (sorted_lane()) {
        double* a = sorted_.data() + static_cast<std::size_t>(column) * window_;
        for (std::size_t age = 0; age < k; ++age) a[age] = view.sample(view.row_of_age(age), column);
        std::sort(a, a + k);
        const std::size_t lo = lower_rank(k, quantile_);
        percentile_[column] = lerp_percentile(k, quantile_, a[lo], lo + 1 < k ? a[lo + 1] : a[lo]);
    } else {
        percentile_[column] = rebuild(column, k, view.row_of_age(0), 0, view);
    }
}

void PercentileEstimator::save(StateWriter& out) const {
    out.put_vector(sorted_);
    std::vector<double> ends(2 * band_heads_.size());
    std::vector<std::uint32_t> ranks(2 * band_heads_.size());
    for (std::size_t c = 0; c < band_heads_.size(); ++c) {
        ends[2 * c] = band_heads_[c].first;
        ends[2 * c + 1] = band_heads_[c].last;
        ranks[2 * c] = band_heads_[c].below;
        ranks[2 * c + 1] = band_heads_[c].size;
    }
    out.put_vector(ends);
    out.put_vector(ranks);
    out.put_vector(bands_);
    out.put_vector(percentile_);
}

void PercentileEstimator::load(StateReader& in, std::size_t stride) {
    const bool sorted = sorted_lane();
    sorted_ = load_sized<double>(in, sorted ? window_ * stride : 0, "percentile sorted windows");
    const auto ends = load_sized<double>(in, sorted ? 0 : 2 * stride, "percentile band ends");
    const auto ranks = load_sized<std::uint32_t>(in, sorted ? 0 : 2 * stride, "percentile band ranks");
    bands_ = load_sized<double>(in, sorted ? 0 : RankBand::kSlots * stride, "percentile bands");
    percentile_ = load_sized<double>(in, stride, "percentile estimates");
    // Every rank the bands follow stays inside the band and the window.
    band_heads_.resize(ranks.size() / 2);
    for (std::size_t c = 0; c < band_heads_.size(); ++c) {
        const std::uint32_t below = ranks[2 * c];
        const std::uint32_t size = ranks[2 * c + 1];
        if (size > RankBand::kKept || static_cast<std::uint64_t>(below) + size > window_) {
            throw std::invalid_argument("corrupt vsched checkpoint: percentile band out of range");
        }
        band_heads_[c] = RankBandHead{ends[2 * c], ends[2 * c + 1], below, size};
    }
}

// ---- the registry ----------------------------------------------------------

namespace {

template <std::size_t I = 0>
void collect_names(std::vector<std::string>& names) {
    if constexpr (I < std::tuple_size_v<EstimatorRegistry>) {
        names.emplace_back(std::tuple_element_t<I, EstimatorRegistry>::kName);
        collect_names<I + 1>(names);
    }
}

template <std::size_t I = 0>
AnyEstimator make_at(const std::string& name, const WindowConfig& config) {
    if constexpr (I == std::tuple_size_v<EstimatorRegistry>) {
        std::string choices;
        for (const std::string& known : estimator_names()) choices += (choices.empty() ? "'" : ", '") + known + "'";
        throw std::invalid_argument(message("estimator = '", name, "': estimator must be one of ", choices));
    } else {
        using E = std::tuple_element_t<I, EstimatorRegistry>;
        if (name == E::kName) return AnyEstimator(std::in_place_index<I>, config);
        return make_at<I + 1>(name, config);
    }
}

}  // namespace

const std::vector<std::string>& estimator_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        collect_names(out);
        return out;
    }();
    return names;
}

AnyEstimator make_estimator(const std::string& name, const WindowConfig& config) { return make_at(name, config); }

// ---- all windows -------------------------------------------------------------

UsageWindows::UsageWindows(const std::string& estimator, const WindowConfig& config)
    : config_(config), name_(estimator), estimator_(make_estimator(estimator, config)) {}

void UsageWindows::grow() {
    // The first block of columns is 64 wide unless the window is long (each
    // column may come to hold W rows): then 1 column, doubling as VMs come.
    const std::size_t wider = stride_ > 0 ? 2 * stride_ : config_.window <= 4096 ? 64 : 1;
    // Allocate everything first: on bad_alloc nothing has changed.
    AnyEstimator estimator = estimator_;
    std::visit([&](auto& e) { e.resize(stride_, wider); }, estimator);
    std::vector<double> ring = widened(ring_, rows_, stride_, wider, 0.0);
    std::vector<std::uint32_t> count(count_);
    std::vector<double> sum(sum_);
    std::vector<std::uint64_t> seen(seen_);
    count.resize(wider, 0);
    sum.resize(wider, 0.0);
    seen.resize(wider, 0);
    free_.reserve(wider);
    ring_.swap(ring);
    count_.swap(count);
    sum_.swap(sum);
    seen_.swap(seen);
    estimator_ = std::move(estimator);
    stride_ = wider;
}

void UsageWindows::reserve_rows(std::size_t rows) {
    if (rows <= rows_) return;
    // Geometric, so that filling a window costs O(1) amortized per row.
    const std::size_t grown = std::min(config_.window, std::max(rows, 2 * rows_));
    ring_.resize(grown * stride_, 0.0);
    rows_ = grown;
}

namespace {
// An estimator whose state has W rows per column defines reserve_window(stride).
template <class E, class = void>
struct HasWindowRows : std::false_type {};
template <class E>
struct HasWindowRows<E, std::void_t<decltype(std::declval<E&>().reserve_window(std::size_t{}))>> : std::true_type {};
}  // namespace

void UsageWindows::reserve_window() {
    reserve_rows(config_.window);
    std::visit(
        [&](auto& e) {
            if constexpr (HasWindowRows<std::decay_t<decltype(e)>>::value) e.reserve_window(stride_);
        },
        estimator_);
}

std::uint32_t UsageWindows::add(bool whole_window) {
    // Allocations first, then the column is taken: on bad_alloc no column
    // changed (the columns may have grown, rows have been allocated: capacity).
    if (free_.empty() && used_ == stride_) grow();
    if (whole_window) reserve_window();
    std::uint32_t column;
    if (!free_.empty()) {
        column = free_.back();
        free_.pop_back();
    } else {
        column = used_++;
    }
    // A reused column's rows keep stale samples; count 0 makes them invalid.
    count_[column] = 0;
    sum_[column] = 0.0;
    seen_[column] = 0;
    std::visit([&](auto& e) { e.reset(column); }, estimator_);
    return column;
}

void UsageWindows::remove(std::uint32_t column) {
    free_.push_back(column);  // capacity reserved by grow(): cannot throw
}

void UsageWindows::push(const std::uint32_t* columns, const double* samples, std::size_t n) {
    // Allocations first (strong guarantee): this tick's row, and the W-row
    // estimator state if this tick ends a block (its wrap fills it).
    reserve_rows(std::size_t{next_row_} + 1);
    if (std::size_t{next_row_} + 1 == config_.window) reserve_window();
    std::visit([&](auto& e) { push_row(e, columns, samples, n); }, estimator_);
    const std::uint32_t window = static_cast<std::uint32_t>(config_.window);
    next_row_ = next_row_ + 1 == window ? 0 : next_row_ + 1;
    if (next_row_ == 0) {
        wrap_sums(columns, n);
        const WindowView v = view();
        std::visit([&](auto& e) { e.wrap(columns, n, v); }, estimator_);
    }
}

namespace {

// An estimator may define prefetch(column, sample, evicted, full), called
// kPrefetchAhead pushes before push() for the same column.
template <class E, class = void>
struct Prefetches : std::false_type {};
template <class E>
struct Prefetches<E, std::void_t<decltype(std::declval<const E&>().prefetch(std::uint32_t{}, 0.0, 0.0, false))>>
    : std::true_type {};
constexpr std::size_t kPrefetchAhead = 8;

}  // namespace

template <class E>
void UsageWindows::push_row(E& estimator, const std::uint32_t* columns, const double* samples, std::size_t n) {
    const std::uint32_t window = static_cast<std::uint32_t>(config_.window);
    const std::uint32_t row = next_row_;
    const WindowView v = view();
    estimator.begin_tick(v);
    double* ring = ring_.data() + static_cast<std::size_t>(row) * stride_;
    std::uint32_t* count = count_.data();
    double* sum = sum_.data();
    std::uint64_t* seen = seen_.data();
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t c = columns[i];
        const double x = samples[i];
        const std::uint32_t k = count[c];
        const bool full = k == window;
        if constexpr (Prefetches<E>::value) {
            // Estimators whose per-VM state is cold say, a few VMs ahead, which
            // lines the push will touch, so that those misses overlap.
            if (i + kPrefetchAhead < n) {
                const std::uint32_t ahead = columns[i + kPrefetchAhead];
                estimator.prefetch(ahead, samples[i + kPrefetchAhead], ring[ahead], count[ahead] == window);
            }
        }
        // Running sum: sum' = (sum - evicted) + sample once the window is full
        // (the row being overwritten holds its oldest sample), sum + sample
        // while it fills. The drift is wiped at every wrap (see wrap_sums()).
        const double evicted = ring[c];  // meaningful only when full
        const double kept = full ? sum[c] - evicted : sum[c];
        sum[c] = kept + x;
        ring[c] = x;
        count[c] = full ? k : k + 1;
        seen[c] += 1;
        estimator.push(Push{c, row, x, evicted, k, full}, v);
    }
}

void UsageWindows::wrap_sums(const std::uint32_t* columns, std::size_t n) {
    const std::size_t window = config_.window;
    // Exact sums, oldest sample first: a window of k samples is rows
    // W - k .. W - 1 of the block that just ended.
    for (std::size_t i = 0; i < n; ++i) sum_[columns[i]] = 0.0;
    for (std::size_t row = 0; row < window; ++row) {
        const double* samples = ring_.data() + row * stride_;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t c = columns[i];
            if (row + count_[c] >= window) sum_[c] += samples[c];
        }
    }
}

void UsageWindows::estimate(const std::uint32_t* columns, std::size_t n, double* out) const {
    const WindowView v = view();
    std::visit(
        [&](const auto& e) {
            for (std::size_t i = 0; i < n; ++i) out[i] = count_[columns[i]] == 0 ? 0.0 : e.estimate(columns[i], v);
        },
        estimator_);
}

ColumnState UsageWindows::export_column(std::uint32_t column) const {
    ColumnState state;
    const WindowView v = view();
    const std::size_t k = count_[column];
    state.samples.resize(k);
    for (std::size_t age = 0; age < k; ++age) state.samples[k - 1 - age] = v.sample(v.row_of_age(age), column);
    state.sum = sum_[column];
    state.seen = seen_[column];
    state.window = config_.window;
    state.estimator = name_;
    state.fields = std::visit([&](const auto& e) { return e.export_column(column); }, estimator_);
    return state;
}

void UsageWindows::check_import(const ColumnState& state) const {
    for (std::size_t i = 0; i < state.samples.size(); ++i) {
        const double x = state.samples[i];
        if (!std::isfinite(x) || x < 0.0) {
            throw std::invalid_argument(
                message("samples[", i, "] = ", format_number(x), ": samples must be finite and >= 0"));
        }
    }
    if (std::isnan(state.sum) || state.sum < 0.0) {
        throw std::invalid_argument(message("window_sum = ", format_number(state.sum), ": it must be >= 0"));
    }
    if (state.samples.size() > state.seen || (state.samples.empty() != (state.seen == 0))) {
        throw std::invalid_argument(message("samples_seen = ", state.seen, " does not fit ", state.samples.size(),
                                            " samples in the window"));
    }
    if (state.window < 1 || state.samples.size() > state.window) {
        throw std::invalid_argument(message("window = ", state.window, " does not fit ", state.samples.size(),
                                            " samples in the window"));
    }
    std::visit(
        [&](const auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (E::kKeepsState) {
                if (state.estimator != E::kName) {
                    throw std::invalid_argument(message(
                        "cannot import into a '", E::kName, "' reallocator a VM exported from a '", state.estimator,
                        "' one: its estimator state is not a function of the window and was not kept there"));
                }
                E::check_import(state.fields);
            }
        },
        estimator_);
}

void UsageWindows::import_column(std::uint32_t column, const ColumnState& state) {
    // The newest min(k, W) samples, written into the rows the last ticks wrote
    // (the newest in the row before next_row_), as if the VM had been here.
    const std::size_t total = state.samples.size();
    const std::size_t k = std::min(total, config_.window);
    for (std::size_t age = 0; age < k; ++age) {
        const std::size_t row = view().row_of_age(age);
        ring_[row * stride_ + column] = state.samples[total - 1 - age];
    }
    count_[column] = static_cast<std::uint32_t>(k);
    seen_[column] = state.seen;
    if (state.window == config_.window) {
        sum_[column] = state.sum;  // the source's running sum, drift included
    } else {
        double exact = 0.0;  // summed oldest first, as a wrap does
        for (std::size_t j = total - k; j < total; ++j) exact += state.samples[j];
        sum_[column] = exact;
    }
    const WindowView v = view();
    std::visit([&](auto& e) { e.import_column(column, state.fields, v); }, estimator_);
}

void UsageWindows::save(StateWriter& out) const {
    out.put_string(name_);
    out.put(static_cast<std::uint64_t>(config_.window));
    out.put(config_.quantile);
    out.put(config_.alpha);
    out.put(next_row_);
    out.put(static_cast<std::uint64_t>(stride_));
    out.put(used_);
    out.put_vector(free_);
    if (rows_ == config_.window) {
        out.put_vector(ring_);
    } else {  // rows no tick reached yet are zeros in the format
        std::vector<double> ring(config_.window * stride_, 0.0);
        std::copy(ring_.begin(), ring_.end(), ring.begin());
        out.put_vector(ring);
    }
    out.put_vector(count_);
    out.put_vector(sum_);
    out.put_vector(seen_);
    std::visit([&](const auto& e) { e.save(out); }, estimator_);
}

UsageWindows UsageWindows::load(StateReader& in) {
    UsageWindows w;
    w.name_ = in.get_string();
    const auto window = in.get<std::uint64_t>();
    w.config_.quantile = in.get<double>();
    w.config_.alpha = in.get<double>();
    w.next_row_ = in.get<std::uint32_t>();
    const auto stride = in.get<std::uint64_t>();
    w.used_ = in.get<std::uint32_t>();
    if (window < 1 || window > 1000000 || stride > (std::uint64_t{1} << 32) || w.used_ > stride ||
        w.next_row_ >= window || !(w.config_.quantile >= 0.0 && w.config_.quantile <= 1.0)) {
        throw std::invalid_argument("corrupt vsched checkpoint: window layout out of range");
    }
    w.config_.window = static_cast<std::size_t>(window);
    w.stride_ = static_cast<std::size_t>(stride);
    w.estimator_ = make_estimator(w.name_, w.config_);
    w.free_ = in.get_vector<std::uint32_t>();
    w.ring_ = load_sized<double>(in, w.config_.window * w.stride_, "ring");
    w.rows_ = w.config_.window;
    w.count_ = load_sized<std::uint32_t>(in, w.stride_, "window counts");
    w.sum_ = load_sized<double>(in, w.stride_, "window sums");
    w.seen_ = load_sized<std::uint64_t>(in, w.stride_, "samples seen");
    for (const std::uint32_t column : w.free_) {
        if (column >= w.used_) throw std::invalid_argument("corrupt vsched checkpoint: free column out of range");
    }
    for (const std::uint32_t k : w.count_) {
        if (k > w.config_.window) throw std::invalid_argument("corrupt vsched checkpoint: window count above W");
    }
    w.free_.reserve(w.stride_);  // remove() relies on it
    std::visit([&](auto& e) { e.load(in, w.stride_); }, w.estimator_);
    return w;
}

}  // namespace vsched
