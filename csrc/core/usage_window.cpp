// Windowed statistics of one VM's usage: ring buffer, running mean, monotonic
// max deque, two indexed heaps split at a rank for an exact percentile, EWMA.
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
    const std::uint32_t window = static_cast<std::uint32_t>(config.window);
    const bool full = ring_.size() == window;
    const std::uint32_t slot = next_slot_;
    const double evicted = full ? ring_[slot] : 0.0;

    if (config.estimator == Estimator::max) {
        if (deque_.empty()) deque_.resize(window);
        // Locals, not members, in the loop: stores to members could alias the
        // ring and would be redone every iteration.
        std::uint32_t head = deque_head_;
        std::uint32_t size = deque_size_;
        Entry* deque = deque_.data();
        // The sample leaving the window is the oldest one, so if it is still
        // in the deque it is at the front.
        if (full && size > 0 && deque[head].slot == slot) {
            head = head + 1 == window ? 0 : head + 1;
            --size;
        }
        // Samples <= the new one can never be the maximum again (the new one
        // outlives them): drop them from the back. Keeps the deque strictly
        // decreasing, so its front is the maximum of the window.
        std::uint32_t end = head + size;  // one past the back, unwrapped
        while (size > 0) {
            const std::uint32_t back = end - 1 >= window ? end - 1 - window : end - 1;
            if (deque[back].sample > sample) break;
            --size;
            --end;
        }
        deque[end >= window ? end - window : end] = Entry{sample, slot};
        deque_head_ = head;
        deque_size_ = size + 1;
    }

    if (config.estimator == Estimator::percentile && full) heap_remove(slot);

    if (full) {
        ring_[slot] = sample;
    } else {
        ring_.push_back(sample);
    }
    next_slot_ = slot + 1 == window ? 0 : slot + 1;

    // Running sum: sum' = (sum - evicted) + sample (sum + sample while the
    // window fills). Rounding drift is wiped every W samples: when the next
    // slot wraps to 0 (total % W == 0) the oldest sample is in slot 0 and the
    // sum is recomputed exactly as ring[0] + ... + ring[W-1], oldest first.
    if (next_slot_ == 0) {
        double exact = 0.0;
        for (std::uint32_t i = 0; i < window; ++i) exact += ring_[i];
        sum_ = exact;
    } else if (full) {
        sum_ = (sum_ - evicted) + sample;
    } else {
        sum_ = sum_ + sample;
    }

    if (config.estimator == Estimator::percentile) {
        if (heap_index_.empty()) heap_index_.resize(window);
        // Insert on the side that keeps max(low) <= min(high), then move tops
        // across until low_ holds exactly the lo + 1 smallest samples.
        heap_insert(high_.empty() || sample < high_[0].sample, Entry{sample, slot});
        const std::size_t target = lower_rank(ring_.size(), config.quantile) + 1;
        while (low_.size() > target) heap_insert(false, heap_remove(low_[0].slot));
        while (low_.size() < target) heap_insert(true, heap_remove(high_[0].slot));
    }

    if (config.estimator == Estimator::ewma) {
        // ewma_1 = x_1; ewma_t = ewma_{t-1} + alpha * (x_t - ewma_{t-1}).
        ewma_ = any_ ? ewma_ + config.alpha * (sample - ewma_) : sample;
    }
    any_ = true;
}

void UsageWindow::heap_insert(bool low, Entry entry) {
    std::vector<Entry>& heap = low ? low_ : high_;
    heap.push_back(entry);
    place(low, heap.size() - 1);
    sift_up(low, heap.size() - 1);
}

UsageWindow::Entry UsageWindow::heap_remove(std::uint32_t slot) {
    const std::int32_t where = heap_index_[slot];
    const bool low = where >= 0;
    const std::size_t i = low ? static_cast<std::size_t>(where) : static_cast<std::size_t>(-where - 1);
    std::vector<Entry>& heap = low ? low_ : high_;
    const Entry removed = heap[i];
    const Entry last = heap.back();
    heap.pop_back();
    if (i == heap.size()) return removed;  // it was the last element
    heap[i] = last;
    place(low, i);
    // The moved element may belong above or below position i.
    sift_up(low, i);
    const std::int32_t moved = heap_index_[last.slot];
    sift_down(low, static_cast<std::size_t>(low ? moved : -moved - 1));
    return removed;
}

void UsageWindow::sift_up(bool low, std::size_t i) {
    std::vector<Entry>& heap = low ? low_ : high_;
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!before(low, heap[i], heap[parent])) break;
        std::swap(heap[i], heap[parent]);
        place(low, i);
        place(low, parent);
        i = parent;
    }
}

void UsageWindow::sift_down(bool low, std::size_t i) {
    std::vector<Entry>& heap = low ? low_ : high_;
    const std::size_t n = heap.size();
    for (;;) {
        std::size_t best = i;
        const std::size_t left = 2 * i + 1;
        const std::size_t right = left + 1;
        if (left < n && before(low, heap[left], heap[best])) best = left;
        if (right < n && before(low, heap[right], heap[best])) best = right;
        if (best == i) return;
        std::swap(heap[i], heap[best]);
        place(low, i);
        place(low, best);
        i = best;
    }
}

double UsageWindow::mean() const {
    const std::size_t k = ring_.size();
    return k == 0 ? 0.0 : sum_ / static_cast<double>(k);
}

double UsageWindow::estimate(const WindowConfig& config) const {
    switch (config.estimator) {
        case Estimator::max:
            return deque_[deque_head_].sample;
        case Estimator::mean:
            return mean();
        case Estimator::ewma:
            return ewma_;
        case Estimator::percentile: {
            // numpy.percentile's default ('linear'): h = (k - 1) * p,
            // lo = floor(h), g = h - lo, lerp between the samples of rank lo
            // and lo + 1 exactly as numpy's _lerp does it (from the nearer end).
            const std::size_t k = ring_.size();
            const double h = static_cast<double>(k - 1) * config.quantile;
            const double gamma = h - std::floor(h);
            const double below = low_[0].sample;
            const double above = high_.empty() ? below : high_[0].sample;
            const double diff = above - below;
            return gamma >= 0.5 ? above - diff * (1.0 - gamma) : below + diff * gamma;
        }
    }
    return 0.0;
}

}  // namespace vsched
