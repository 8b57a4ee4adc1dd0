// The rank band (vsched/rank_band.hpp): a sorted run of the window's samples
// around the ranks a percentile reads, and a count of the samples under it.
//
//   remove(e):  e < band[0]          -> below -= 1
//               e > band[size - 1]   -> (one fewer above: nothing stored)
//               otherwise            -> one copy of e leaves the band
//   insert(x):  x < band[0], below > 0            -> below += 1
//               x > band[size - 1], some above     -> (one more above)
//               otherwise                          -> x joins the band, sorted
// (a sample equal to an end may be counted on either side: the order
// statistics are values, so the estimate is the same). When the ranks the
// estimate reads leave the band, it is rebuilt from the window: O(W), rare on
// stationary usage, about once per kKept / 2 samples under a steady trend.
#include "vsched/rank_band.hpp"

#include <algorithm>

namespace vsched {

void RankBand::trim(std::size_t lo, std::size_t hi) {
    RankBandHead& h = head_;
    while (h.size > kKept) {
        const std::size_t room_below = lo - h.below;
        const std::size_t room_above = h.below + h.size - 1 - hi;
        if (room_below > room_above) {
            for (std::size_t i = 1; i < h.size; ++i) band_[i - 1] = band_[i];
            ++h.below;
        }
        --h.size;
    }
    set_ends();
}

void RankBand::rebuild(double* samples, std::size_t count, std::size_t lo, std::size_t hi, int drift) {
    // ranks [start, start + m), m = min(count, kKept), around lo .. hi; the
    // free room goes mostly to the side the ranks moved towards.
    const std::size_t m = std::min(count, kKept);
    const std::size_t room = m - (hi - lo + 1);
    const std::size_t under = drift < 0 ? room - room / 4 : drift > 0 ? room / 4 : room / 2;
    std::size_t start = lo >= under ? lo - under : 0;
    start = std::min(start, count - m);
    double* end = samples + count;
    if (start > 0) std::nth_element(samples, samples + start, end);
    if (start + m < count) std::nth_element(samples + start, samples + start + m, end);
    std::sort(samples + start, samples + start + m);
    std::copy(samples + start, samples + start + m, band_);
    head_.below = static_cast<std::uint32_t>(start);
    head_.size = static_cast<std::uint32_t>(m);
    set_ends();
}

}  // namespace vsched
