// Warm-started weighted max-min water-filling, bit-identical to the kernel.
//
// The kernel (fair_share.cpp) finds, among the candidate levels
// {0} U {f_i / w_i, u_i / w_i : f_i < u_i}, the bracket
//     lambda_lo = max{b : S(b) <= C},   lambda_hi = min{b : S(b) > C},
// with S(b) = sum_i clamp(b * w_i, f_i, u_i) summed in index order, then solves
// the linear equation on that segment. S evaluated in floating point is still
// non-decreasing in b (each rounded term is, and so is a rounded sum of
// non-decreasing terms), so the bracket is one well-defined pair of numbers:
// any search that finds it, followed by the kernel's final step, gives the
// kernel's result bit for bit. The kernel finds it by ~log2(2n) probes plus
// selection; here we
//   1. guess the level with a few safeguarded Newton steps from the previous
//      call's level (S is piecewise linear, slope = sum of the moving w_i);
//   2. take the two candidates around the guess, b1 <= guess < b2, in one pass;
//   3. check S(b1) <= C < S(b2) with the kernel's exact index-order sums
//      (then no candidate lies between them, so they are the bracket), moving
//      one candidate down or up a few times if rounding put the guess across;
//   4. fall back to the kernel itself if that still fails.
#include "vsched/warm_fair_share.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vsched {

namespace {

inline double clamp_to(double x, double lo, double hi) { return std::min(hi, std::max(lo, x)); }

constexpr int kNewtonSteps = 12;
constexpr int kLocalMoves = 4;

}  // namespace

void WarmFairShare::solve(const FairShareInput& in, double* out) {
    const std::size_t n = in.n;
    ceiling_.resize(n);
    floor_.resize(n);
    leave_floor_.resize(n);
    reach_ceiling_.resize(n);
    double* u = ceiling_.data();
    double* f = floor_.data();
    double* a = leave_floor_.data();
    double* b = reach_ceiling_.data();
    const double* w = in.shares;
    constexpr double inf = std::numeric_limits<double>::infinity();
    double sum_u = 0.0;
    double sum_f = 0.0;
    double sum_w = 0.0;
    MagnitudeRange range;
    range.amount(in.capacity);
    for (std::size_t i = 0; i < n; ++i) {
        const double limit = in.limit ? in.limit[i] : inf;
        const double reservation = in.reservation ? in.reservation[i] : 0.0;
        u[i] = std::min(in.demand[i], limit);
        f[i] = std::min(reservation, u[i]);
        sum_u += u[i];
        sum_f += f[i];
        sum_w += w[i];
        range.amount(u[i]);
        range.amount(f[i]);
        range.share(w[i]);
    }
    if (sum_u <= in.capacity) {  // uncontended: the kernel's first exit
        std::copy(u, u + n, out);
        return;
    }
    if (sum_f >= in.capacity || n == 0 || !range.doubles_suffice()) {
        // Floors fill the capacity (or overflow it): the kernel's own rule
        // (floors within its rounding slack, else AdmissionError) decides.
        // Magnitudes beyond [2^-256, 2^256]: the kernel's wide levels.
        fallback_.solve(in, out);
        return;
    }
    const double capacity = in.capacity;
    // The kernel's candidates: a_i = f_i / w_i (VM i leaves its floor) and
    // b_i = u_i / w_i (it reaches its ceiling), for VMs that can move; a VM
    // with f_i = u_i gets +inf for both, which is never a candidate below any
    // level and never the smallest above one that matters.
    for (std::size_t i = 0; i < n; ++i) {
        const bool moves = f[i] < u[i];
        a[i] = moves ? f[i] / w[i] : inf;
        b[i] = moves ? u[i] / w[i] : inf;
    }

    // 1. Newton on S(lambda) = C, kept inside [lo, hi] with S(lo) <= C < S(hi)
    // (sums here are only a guess: any order will do, so four accumulators;
    // everything branch-free because the data is noisy).
    double lo = 0.0;
    double hi = inf;
    double level = level_ >= 0.0 ? level_ : capacity / sum_w;
    for (int step = 0; step < kNewtonSteps; ++step) {
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        double slope[4] = {0.0, 0.0, 0.0, 0.0};
        std::size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            for (std::size_t k = 0; k < 4; ++k) {
                const double x = level * w[i + k];
                s[k] += clamp_to(x, f[i + k], u[i + k]);
                slope[k] += w[i + k] * static_cast<double>((x > f[i + k]) & (x < u[i + k]));
            }
        }
        for (; i < n; ++i) {
            const double x = level * w[i];
            s[0] += clamp_to(x, f[i], u[i]);
            slope[0] += w[i] * static_cast<double>((x > f[i]) & (x < u[i]));
        }
        const double total = (s[0] + s[1]) + (s[2] + s[3]);
        const double moving = (slope[0] + slope[1]) + (slope[2] + slope[3]);
        if (total <= capacity) {
            lo = std::max(lo, level);
        } else {
            hi = std::min(hi, level);
        }
        double next = moving > 0.0 ? level + (capacity - total) / moving : level;
        if (!(next > lo && next < hi)) {
            // Flat segment or a step out of the bracket: bisect (or grow).
            next = std::isinf(hi) ? std::max(2.0 * level, capacity / sum_w) : 0.5 * (lo + hi);
        }
        // Converged once a step no longer moves the level (beyond rounding):
        // the guess only has to fall in the right segment, step 3 checks it.
        if (std::abs(next - level) <= 1e-12 * level) break;
        level = next;
    }

    // 2-3. The candidates around the guess, checked with the kernel's sums.
    double lambda_lo = 0.0;
    double lambda_hi = inf;
    bool found = false;
    double at = std::max(0.0, level);
    for (int move = 0; move < kLocalMoves && !found; ++move) {
        // Largest candidate <= at (0 counts) and smallest candidate > at.
        double below = 0.0;
        double above = inf;
        for (std::size_t i = 0; i < n; ++i) {
            below = std::max(below, a[i] <= at ? a[i] : 0.0);
            below = std::max(below, b[i] <= at ? b[i] : 0.0);
            above = std::min(above, a[i] > at ? a[i] : inf);
            above = std::min(above, b[i] > at ? b[i] : inf);
        }
        lambda_lo = below;
        lambda_hi = above;
        if (std::isinf(lambda_hi)) {
            // Past every candidate: S there is sum(u) > C, so step down.
            if (lambda_lo <= 0.0) break;
            at = std::nextafter(lambda_lo, 0.0);
            continue;
        }
        // S(lambda_lo) and S(lambda_hi), each summed in index order exactly
        // as the kernel's level_sum (two chains in one loop).
        double s_lo = 0.0;
        double s_hi = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            s_lo += clamp_to(lambda_lo * w[i], f[i], u[i]);
            s_hi += clamp_to(lambda_hi * w[i], f[i], u[i]);
        }
        if (s_lo > capacity) {
            if (lambda_lo <= 0.0) break;  // cannot happen: S(0) = sum(f) <= C
            at = std::nextafter(lambda_lo, 0.0);  // the bracket is lower
        } else if (s_hi <= capacity) {
            at = lambda_hi;  // the bracket is higher
        } else {
            found = true;
        }
    }
    if (!found) {
        fallback_.solve(in, out);
        level_ = -1.0;
        return;
    }

    // 4. The kernel's final step, term for term (b_i is u_i / w_i, a_i is
    // f_i / w_i, the very same divisions).
    double fixed = 0.0;
    double growing_shares = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!(f[i] < u[i])) {
            fixed += f[i];
        } else if (b[i] <= lambda_lo) {
            fixed += u[i];
        } else if (a[i] >= lambda_hi) {
            fixed += f[i];
        } else {
            growing_shares += w[i];
        }
    }
    const double solved = growing_shares > 0.0 ? (capacity - fixed) / growing_shares : lambda_lo;
    const double lambda = std::min(lambda_hi, std::max(lambda_lo, solved));
    for (std::size_t i = 0; i < n; ++i) out[i] = clamp_to(lambda * w[i], f[i], u[i]);
    level_ = lambda;
}

}  // namespace vsched
