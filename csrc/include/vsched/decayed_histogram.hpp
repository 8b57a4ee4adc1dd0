// decayed_histogram: the percentile of an exponentially decayed histogram of
// every sample since the VM was added, as Kubernetes' Vertical Pod Autoscaler
// recommender keeps one (docs/engines/reallocator.md, estimator
// `decayed_histogram`; formulas in csrc/core/decayed_histogram.cpp).
// Python-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vsched/estimator_api.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

struct DecayedHistogramEstimator {
    static constexpr const char* kName = "decayed_histogram";
    static constexpr bool kKeepsState = true;
    static constexpr std::size_t kBuckets = 200;
    static constexpr double kFirstBucket = 0.01;  // width of bucket 0
    static constexpr double kRatio = 1.05;        // each bucket this much wider than the last

    explicit DecayedHistogramEstimator(const WindowConfig& config);
    void resize(std::size_t old_stride, std::size_t stride);
    void reset(std::uint32_t column);
    void begin_tick(const WindowView&) {}
    void push(const Push& p, const WindowView&);
    void wrap(const std::uint32_t*, std::size_t, const WindowView&) {}
    double estimate(std::uint32_t column, const WindowView&) const;
    void save(StateWriter& out) const;
    void load(StateReader& in, std::size_t stride);
    EstimatorFields export_column(std::uint32_t column) const;
    static void check_import(const EstimatorFields& fields);
    void import_column(std::uint32_t column, const EstimatorFields& fields, const WindowView&);

private:
    std::size_t bucket_of(double sample) const;
    double* buckets(std::uint32_t column) { return weights_.data() + static_cast<std::size_t>(column) * kBuckets; }
    const double* buckets(std::uint32_t column) const {
        return weights_.data() + static_cast<std::size_t>(column) * kBuckets;
    }

    double quantile_;
    double growth_;               // 2^(1/W): the weight of each sample over the one before
    std::vector<double> edges_;   // kBuckets + 1 bucket edges, edges_[0] = 0
    std::vector<double> weights_;  // stride x kBuckets
    std::vector<double> total_;    // per column: sum of the weights
    std::vector<double> weight_;   // per column: the weight the last sample got (0: none yet)
    std::vector<std::uint32_t> lowest_;   // per column: lowest bucket with weight (kBuckets: none)
    std::vector<std::uint32_t> highest_;  // per column: highest bucket with weight
};

}  // namespace vsched
