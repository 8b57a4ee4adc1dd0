// Exact order statistics of a sliding window near one rank: the samples of
// ranks [below, below + size) kept sorted in a short array (the band), and
// only a count of the samples under it. Python-free. The percentile
// estimator keeps one band per VM (docs/engines/reallocator.md, rule
// "percentile"); the formulas are in csrc/core/rank_band.cpp.
//
// Invariants (values, not identities: the estimate depends only on the
// multiset of values, so ties may sit on either side of a boundary):
//   band[0] <= ... <= band[size - 1];
//   `below` samples are <= band[0], the other k - below - size are >= band[size - 1].
// A sample outside [band[0], band[size - 1]] only moves a count, so the band's
// lines are touched only when a sample lands near the rank.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vsched/prefetch.hpp"  // prefetch_line

namespace vsched {

// The per-VM part read on every push: small, so that the heads of thousands
// of VMs stay in cache while their bands may not.
struct RankBandHead {
    double first = 0.0;        // band[0] (when size > 0)
    double last = 0.0;         // band[size - 1]
    std::uint32_t below = 0;   // samples of rank < below, all <= first
    std::uint32_t size = 0;    // samples in the band; 0: rebuild at the next push
};

class RankBand {
public:
    static constexpr std::size_t kSlots = 32;        // band capacity (one insertion beyond kKept)
    static constexpr std::size_t kKept = kSlots - 1;  // size after a rebuild or a trim

    // Whether a push of `sample` (evicting `evicted` if `full`) may touch the
    // band's lines: what a caller prefetches ahead.
    static bool touches(const RankBandHead& head, double sample, double evicted, bool full) {
        return head.size == 0 || !(sample < head.first || sample > head.last) ||
               (full && !(evicted < head.first || evicted > head.last));
    }

    // A view of one VM's head and band (kSlots doubles).
    RankBand(RankBandHead& head, double* band) : head_(head), band_(band) {}

    // Removes one copy of `evicted` (which is in the window); true if it
    // left the band itself (then the band may be empty: the caller rebuilds).
    bool remove(double evicted);
    // Adds `sample`; `count` is the window size after it (it is included).
    // True if it joined the band.
    bool insert(double sample, std::size_t count);
    // True if ranks lo .. hi are in the band.
    bool covers(std::size_t lo, std::size_t hi) const {
        return head_.size > 0 && head_.below <= lo && hi < static_cast<std::size_t>(head_.below) + head_.size;
    }
    // Drops the band's end farther from lo .. hi while it holds more than kKept.
    void trim(std::size_t lo, std::size_t hi);
    // A new band around lo .. hi from the window's `count` samples in
    // `samples` (reordered). `drift` < 0: the ranks were below the band (leave
    // more room under lo), > 0: above it, 0: centred.
    void rebuild(double* samples, std::size_t count, std::size_t lo, std::size_t hi, int drift);
    // The sample of rank `rank` (covered).
    double at(std::size_t rank) const { return band_[rank - head_.below]; }

private:
    void set_ends() {
        head_.first = band_[0];
        head_.last = band_[head_.size - 1];
    }

    RankBandHead& head_;
    double* band_;  // kSlots entries
};

// Inline: the common case is a comparison with the head's two ends.
inline bool RankBand::remove(double evicted) {
    RankBandHead& h = head_;
    if (evicted < h.first) {
        --h.below;
        return false;
    }
    if (evicted > h.last) return false;
    // band[0] <= evicted <= band[size - 1]: a copy is in the band (strictly
    // inside, it cannot be elsewhere; at an end, the end itself is one).
    std::size_t i = 0;
    while (band_[i] < evicted) ++i;
    const std::size_t n = --h.size;
    for (; i < n; ++i) band_[i] = band_[i + 1];
    if (n > 0) set_ends();
    return true;
}

inline bool RankBand::insert(double sample, std::size_t count) {
    RankBandHead& h = head_;
    const std::size_t above = count - 1 - h.below - h.size;  // before the sample
    if (sample < h.first && h.below > 0) {
        ++h.below;
        return false;
    }
    if (sample > h.last && above > 0) return false;
    // Joins the band, after any equal samples.
    std::size_t i = h.size;
    while (i > 0 && band_[i - 1] > sample) {
        band_[i] = band_[i - 1];
        --i;
    }
    band_[i] = sample;
    ++h.size;
    set_ends();
    return true;
}

}  // namespace vsched
