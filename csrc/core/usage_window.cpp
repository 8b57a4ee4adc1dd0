// Windowed statistics of one VM's usage: ring buffer, running mean, monotonic
// max deque, rank-split multisets for an exact percentile, EWMA.
//
// Every formula here is mirrored operation for operation by
// src/vsched/reference/reallocation.py (which keeps the window as a plain list
// and computes max and percentile from scratch), so both agree bit for bit.
#include "vsched/usage_window.hpp"

#include <cmath>
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

}  // namespace

void UsageWindow::push(double sample, const WindowConfig& config) {
    const std::size_t window = config.window;
    const std::uint64_t seq = total_;
    const bool full = seq >= window;
    const std::size_t slot = static_cast<std::size_t>(seq % window);
    const double evicted = full ? ring_[slot] : 0.0;

    if (config.estimator == Estimator::max) {
        if (deque_.empty()) deque_.resize(window);
        // The sample leaving the window is the oldest one, so if it is still
        // in the deque it is at the front.
        if (full && deque_size_ > 0 && deque_[deque_head_] == slot) {
            deque_head_ = (deque_head_ + 1) % window;
            --deque_size_;
        }
        // Samples <= the new one can never be the maximum again (the new one
        // outlives them): drop them from the back. Keeps the deque strictly
        // decreasing, so its front is the maximum of the window.
        while (deque_size_ > 0) {
            const std::size_t back = (deque_head_ + deque_size_ - 1) % window;
            if (ring_[deque_[back]] > sample) break;
            --deque_size_;
        }
        deque_[(deque_head_ + deque_size_) % window] = static_cast<std::uint32_t>(slot);
        ++deque_size_;
    }

    if (full) {
        ring_[slot] = sample;
    } else {
        ring_.push_back(sample);
    }
    total_ = seq + 1;

    // Running sum: sum' = (sum - evicted) + sample (sum + sample while the
    // window fills). Rounding drift is wiped every W samples: when
    // total % W == 0 the oldest sample is in slot 0 and the sum is recomputed
    // exactly as ring[0] + ring[1] + ... + ring[W-1], oldest first.
    if (total_ % window == 0) {
        double exact = 0.0;
        for (std::size_t i = 0; i < window; ++i) exact += ring_[i];
        sum_ = exact;
    } else if (full) {
        sum_ = (sum_ - evicted) + sample;
    } else {
        sum_ = sum_ + sample;
    }

    if (config.estimator == Estimator::percentile) {
        if (full) {
            // An evicted value <= max(low) is in low_ (if it sits in high_ it
            // equals max(low), and erasing an equal value is the same).
            if (!low_.empty() && evicted <= *low_.rbegin()) {
                low_.erase(low_.find(evicted));
            } else {
                high_.erase(high_.find(evicted));
            }
        }
        // Insert on the side that keeps max(low) <= min(high).
        if (!high_.empty() && sample >= *high_.begin()) {
            high_.insert(sample);
        } else {
            low_.insert(sample);
        }
        // Rebalance so low_ holds exactly the lo + 1 smallest samples.
        const std::size_t target = lower_rank(count(config), config.quantile) + 1;
        while (low_.size() > target) {
            auto largest = std::prev(low_.end());
            high_.insert(*largest);
            low_.erase(largest);
        }
        while (low_.size() < target) {
            auto smallest = high_.begin();
            low_.insert(*smallest);
            high_.erase(smallest);
        }
    }

    if (config.estimator == Estimator::ewma) {
        // ewma_1 = x_1; ewma_t = ewma_{t-1} + alpha * (x_t - ewma_{t-1}).
        ewma_ = seq == 0 ? sample : ewma_ + config.alpha * (sample - ewma_);
    }
}

double UsageWindow::mean(const WindowConfig& config) const {
    const std::size_t k = count(config);
    return k == 0 ? 0.0 : sum_ / static_cast<double>(k);
}

double UsageWindow::estimate(const WindowConfig& config) const {
    switch (config.estimator) {
        case Estimator::max:
            return ring_[deque_[deque_head_]];
        case Estimator::mean:
            return mean(config);
        case Estimator::ewma:
            return ewma_;
        case Estimator::percentile: {
            // numpy.percentile's default ('linear'): h = (k - 1) * p,
            // lo = floor(h), g = h - lo, lerp between the samples of rank lo
            // and lo + 1 exactly as numpy's _lerp does it (from the nearer end).
            const std::size_t k = count(config);
            const double h = static_cast<double>(k - 1) * config.quantile;
            const double lo = std::floor(h);
            const double gamma = h - lo;
            const double below = *low_.rbegin();
            const double above = high_.empty() ? below : *high_.begin();
            const double diff = above - below;
            return gamma >= 0.5 ? above - diff * (1.0 - gamma) : below + diff * gamma;
        }
    }
    return 0.0;
}

}  // namespace vsched
