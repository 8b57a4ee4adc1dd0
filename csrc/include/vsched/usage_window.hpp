// The sliding window of one VM's usage samples and the statistics the
// reallocator estimates demand from. Python-free; see Reallocator for the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
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
// O(log W) (percentile) update per sample.
//
// Samples are numbered by seq = 0, 1, 2, ... since the VM was added; sample
// seq lives in ring slot seq % W, so the slot about to be overwritten always
// holds the oldest sample of a full window. The ring grows to W slots as the
// first samples arrive (memory follows what was observed).
class UsageWindow {
public:
    void push(double sample, const WindowConfig& config);

    // Samples in the window: min(samples pushed, W).
    std::size_t count(const WindowConfig& config) const {
        return total_ < config.window ? static_cast<std::size_t>(total_) : config.window;
    }
    // Mean of the window (0 if empty). See push() for how sum_ is kept.
    double mean(const WindowConfig& config) const;
    // The configured estimator over the window; the window must not be empty.
    double estimate(const WindowConfig& config) const;

private:
    std::vector<double> ring_;      // samples, slot = seq % W
    std::uint64_t total_ = 0;       // samples pushed so far
    double sum_ = 0.0;              // running sum of the window (see push)
    // max: monotonic deque of ring slots whose samples strictly decrease from
    // front to back; the front is the window maximum. Kept as a ring of W slots.
    std::vector<std::uint32_t> deque_;
    std::size_t deque_head_ = 0;
    std::size_t deque_size_ = 0;
    // percentile: the window split at rank lo = floor((k - 1) * p): `low_`
    // holds the lo + 1 smallest samples, `high_` the others, every element of
    // low_ <= every element of high_.
    std::multiset<double> low_;
    std::multiset<double> high_;
    double ewma_ = 0.0;
};

}  // namespace vsched
