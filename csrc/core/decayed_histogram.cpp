// decayed_histogram (vsched/decayed_histogram.hpp), mirrored operation for
// operation by _decayed_histogram in src/vsched/reference/reallocation.py:
//
//   buckets     width_0 = 0.01, width_{i+1} = width_i * 1.05, edge_0 = 0,
//               edge_{i+1} = edge_i + width_i (200 buckets; a sample at or above
//               the last edge counts in the last bucket)
//   weights     the first sample of a VM weighs 1, each next one
//               w_t = w_{t-1} * 2^(1/W): a sample W ticks old weighs half a new
//               one (half-life W). When w_t > 2^64 the VM's weights, total and w_t
//               are all multiplied by 2^-64 (exact: a power of two).
//   statistic   the upper edge of the lowest bucket i with weight > 0 whose
//               cumulative weight (buckets 0..i, summed in order) is
//               >= p * total (none: the highest bucket with weight; no
//               weight at all: 0)
// (VPA's recommender: exponential buckets, weights growing instead of decaying,
// the percentile read as a bucket's end.)
#include "vsched/decayed_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "vsched/errors.hpp"

namespace vsched {

namespace {

constexpr double kRenormalizeAbove = 18446744073709551616.0;  // 2^64
constexpr double kRenormalize = 1.0 / kRenormalizeAbove;      // 2^-64

template <class T>
std::vector<T> load_exactly(StateReader& in, std::size_t size, const char* what) {
    std::vector<T> values = in.get_vector<T>();
    if (values.size() != size) {
        throw std::invalid_argument(message("corrupt vsched checkpoint: ", what, " has ", values.size(),
                                            " entries, expected ", size));
    }
    return values;
}

}  // namespace

DecayedHistogramEstimator::DecayedHistogramEstimator(const WindowConfig& config)
    : quantile_(config.quantile), growth_(std::pow(2.0, 1.0 / static_cast<double>(config.window))) {
    edges_.resize(kBuckets + 1);
    double width = kFirstBucket;
    edges_[0] = 0.0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        edges_[i + 1] = edges_[i] + width;
        width = width * kRatio;
    }
}

void DecayedHistogramEstimator::resize(std::size_t, std::size_t stride) {
    weights_.resize(stride * kBuckets, 0.0);
    total_.resize(stride, 0.0);
    weight_.resize(stride, 0.0);
    lowest_.resize(stride, kBuckets);
    highest_.resize(stride, 0);
}

void DecayedHistogramEstimator::reset(std::uint32_t column) {
    std::fill(buckets(column), buckets(column) + kBuckets, 0.0);
    total_[column] = 0.0;
    weight_[column] = 0.0;
    lowest_[column] = kBuckets;
    highest_[column] = 0;
}

std::size_t DecayedHistogramEstimator::bucket_of(double sample) const {
    // The i with edge_i <= sample < edge_{i+1}; the last bucket above.
    const auto above = std::upper_bound(edges_.begin(), edges_.end(), sample);
    const auto i = static_cast<std::size_t>(above - edges_.begin()) - 1;
    return std::min(i, kBuckets - 1);
}

void DecayedHistogramEstimator::push(const Push& p, const WindowView&) {
    const std::uint32_t c = p.column;
    double* b = buckets(c);
    double w = weight_[c] == 0.0 ? 1.0 : weight_[c] * growth_;
    if (w > kRenormalizeAbove) {
        for (std::size_t i = 0; i < kBuckets; ++i) b[i] = b[i] * kRenormalize;
        total_[c] = total_[c] * kRenormalize;
        w = w * kRenormalize;
    }
    const std::size_t i = bucket_of(p.sample);
    b[i] = b[i] + w;
    total_[c] = total_[c] + w;
    weight_[c] = w;
    lowest_[c] = std::min<std::uint32_t>(lowest_[c], static_cast<std::uint32_t>(i));
    highest_[c] = std::max<std::uint32_t>(highest_[c], static_cast<std::uint32_t>(i));
}

double DecayedHistogramEstimator::estimate(std::uint32_t column, const WindowView&) const {
    // Buckets below lowest_ hold exactly 0, so starting the sum there changes
    // nothing; if no bucket reaches the threshold (rounding, p = 1), the
    // highest bucket with weight answers.
    if (lowest_[column] > highest_[column]) return 0.0;  // no weight at all
    const double* b = buckets(column);
    const double threshold = quantile_ * total_[column];
    double cumulative = 0.0;
    std::size_t i = lowest_[column];
    const std::size_t last = highest_[column];
    for (; i < last; ++i) {
        cumulative = cumulative + b[i];
        if (b[i] > 0.0 && cumulative >= threshold) break;
    }
    return edges_[i + 1];
}

void DecayedHistogramEstimator::save(StateWriter& out) const {
    out.put_vector(weights_);
    out.put_vector(total_);
    out.put_vector(weight_);
    out.put_vector(lowest_);
    out.put_vector(highest_);
}

void DecayedHistogramEstimator::load(StateReader& in, std::size_t stride) {
    weights_ = load_exactly<double>(in, stride * kBuckets, "histogram weights");
    total_ = load_exactly<double>(in, stride, "histogram totals");
    weight_ = load_exactly<double>(in, stride, "histogram sample weights");
    lowest_ = load_exactly<std::uint32_t>(in, stride, "histogram lowest buckets");
    highest_ = load_exactly<std::uint32_t>(in, stride, "histogram highest buckets");
    for (std::size_t c = 0; c < stride; ++c) {
        if (highest_[c] >= kBuckets || lowest_[c] > kBuckets) {
            throw std::invalid_argument("corrupt vsched checkpoint: histogram bucket out of range");
        }
    }
}

EstimatorFields DecayedHistogramEstimator::export_column(std::uint32_t column) const {
    const double* b = buckets(column);
    return {{"histogram", std::vector<double>(b, b + kBuckets), false},
            {"total", {total_[column]}, true},
            {"weight", {weight_[column]}, true}};
}

void DecayedHistogramEstimator::check_import(const EstimatorFields& fields) {
    const EstimatorField* histogram = nullptr;
    const EstimatorField* total = nullptr;
    const EstimatorField* weight = nullptr;
    for (const EstimatorField& field : fields) {
        if (field.name == "histogram") histogram = &field;
        if (field.name == "total") total = &field;
        if (field.name == "weight") weight = &field;
    }
    if (histogram == nullptr || histogram->values.size() != kBuckets || total == nullptr ||
        total->values.size() != 1 || weight == nullptr || weight->values.size() != 1) {
        throw std::invalid_argument(message("estimator_state must hold 'histogram' (", kBuckets,
                                            " floats), 'total' and 'weight' for the decayed_histogram estimator"));
    }
    for (const double x : histogram->values) {
        if (!std::isfinite(x) || x < 0.0) {
            throw std::invalid_argument(message("estimator_state['histogram'] holds ", format_number(x),
                                                ": weights must be finite and >= 0"));
        }
    }
    for (const EstimatorField* f : {total, weight}) {
        const double x = f->values[0];
        if (!std::isfinite(x) || x < 0.0) {
            throw std::invalid_argument(message("estimator_state['", f->name, "'] = ", format_number(x),
                                                ": it must be finite and >= 0"));
        }
    }
}

void DecayedHistogramEstimator::import_column(std::uint32_t column, const EstimatorFields& fields,
                                              const WindowView&) {
    reset(column);
    for (const EstimatorField& field : fields) {
        if (field.name == "histogram") std::copy(field.values.begin(), field.values.end(), buckets(column));
        if (field.name == "total") total_[column] = field.values[0];
        if (field.name == "weight") weight_[column] = field.values[0];
    }
    const double* b = buckets(column);
    for (std::size_t i = 0; i < kBuckets; ++i) {
        if (b[i] > 0.0) {
            lowest_[column] = std::min<std::uint32_t>(lowest_[column], static_cast<std::uint32_t>(i));
            highest_[column] = static_cast<std::uint32_t>(i);
        }
    }
}

}  // namespace vsched
