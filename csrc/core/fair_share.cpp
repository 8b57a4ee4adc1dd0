// Weighted max-min fair water-filling with floors and ceilings.
//
// Notation (per VM i):   w_i  shares            d_i  demand
//                        r_i  reservation       l_i  limit (inf = none)
//   ceiling  u_i = min(d_i, l_i)      floor  f_i = min(r_i, u_i)  (so f_i <= u_i)
//
// If sum(u) <= C everybody gets its ceiling. Otherwise each VM gets
//
//   a_i(lambda) = min(u_i, max(f_i, lambda * w_i))  = clamp(lambda * w_i, f_i, u_i)
//
// for the water level lambda with S(lambda) = sum_i a_i(lambda) = C.
// S is continuous, non-decreasing and piecewise linear; its breakpoints are
// f_i / w_i (VM i leaves its floor) and u_i / w_i (VM i reaches its ceiling).
// S(0) = sum(f): if that already exceeds C the floors are infeasible.
//
// Invariants of the result: f_i <= a_i <= u_i; sum(a) = min(C, sum(u)); every
// VM strictly between its floor and ceiling has a_i / w_i = lambda, the same
// for all of them (that is what "max-min fair by shares" means).
//
// Finding lambda: rather than sorting all 2n breakpoints (n log n with a large
// constant), we binary-search them by repeated selection (nth_element on the
// half still in play, O(n) expected in all) and evaluate S directly at each
// probe (O(n), log2(2n) probes). Direct evaluation in index order keeps the
// arithmetic identical to the pure-Python reference, which sorts instead: both
// find the same bracketing breakpoints and sum the same terms in the same
// order, so they agree bit for bit.
#include "vsched/fair_share.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "vsched/errors.hpp"

namespace vsched {

namespace {

void check_vector(const char* name, const double* values, std::size_t n, bool allow_zero,
                  bool allow_inf) {
    if (values == nullptr) return;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = values[i];
        const bool bad = std::isnan(v) || (!allow_inf && std::isinf(v)) || v < 0.0 ||
                         (!allow_zero && v == 0.0);
        if (bad) {
            const char* rule = allow_inf ? ">= 0 (inf for no limit)"
                                         : (allow_zero ? "finite and >= 0" : "finite and > 0");
            throw std::invalid_argument(
                message(name, "[", i, "] = ", format_number(v), ": ", name, " must be ", rule));
        }
    }
}

inline double clamp_to(double x, double lo, double hi) { return std::min(hi, std::max(lo, x)); }

}  // namespace

void validate_fair_share(const FairShareInput& in) {
    if (!std::isfinite(in.capacity) || in.capacity < 0.0) {
        throw std::invalid_argument(
            message("capacity = ", format_number(in.capacity), ": capacity must be finite and >= 0"));
    }
    check_vector("demand", in.demand, in.n, true, false);
    check_vector("shares", in.shares, in.n, false, false);
    check_vector("reservation", in.reservation, in.n, true, false);
    check_vector("limit", in.limit, in.n, true, true);
}

// ---- levels beyond the range of doubles ------------------------------------
//
// WideLevel = m * 2^e, m in [0.5, 1). frexp splits a double exactly, the
// mantissa quotient / product / sum is rounded once (it is a normal double),
// and the exponents add exactly, so each operation is the correctly rounded
// result in an unbounded exponent range. Only times() rounds again, into
// the doubles (subnormal or 0 below 2^-1022, inf above the largest double).

namespace {

WideLevel normalized(double m, std::int64_t e) {
    if (m == 0.0) return WideLevel{};
    int k = 0;
    const double mantissa = std::frexp(m, &k);
    return WideLevel{mantissa, e + k};
}

}  // namespace

WideLevel WideLevel::ratio(double amount, double share) {
    if (amount == 0.0) return WideLevel{};
    int ea = 0;
    int eb = 0;
    const double ma = std::frexp(amount, &ea);
    const double mb = std::frexp(share, &eb);
    return normalized(ma / mb, static_cast<std::int64_t>(ea) - eb);
}

WideLevel WideLevel::ratio(double amount, const WideLevel& shares) {
    if (amount == 0.0) return WideLevel{};
    int ea = 0;
    const double ma = std::frexp(amount, &ea);
    return normalized(ma / shares.mantissa, static_cast<std::int64_t>(ea) - shares.exponent);
}

double WideLevel::times(double share) const {
    if (mantissa == 0.0) return 0.0;
    int es = 0;
    const double ms = std::frexp(share, &es);
    const WideLevel p = normalized(mantissa * ms, exponent + es);
    // p.mantissa < 1, so p <= (1 - 2^-53) * 2^1024 is finite up to exponent 1024;
    // below 2^-1080 it rounds to 0 (half the smallest subnormal is 2^-1075).
    if (p.exponent > 1024) return std::numeric_limits<double>::infinity();
    if (p.exponent < -1080) return 0.0;
    return std::ldexp(p.mantissa, static_cast<int>(p.exponent));
}

void WideLevel::add(double share) {
    int es = 0;
    const double ms = std::frexp(share, &es);
    if (mantissa == 0.0) {
        *this = WideLevel{ms, es};
        return;
    }
    // Align on the larger exponent; a term 2^60 times smaller is below half
    // an ulp of the other (so the other is the rounded sum). The ldexp
    // shifts by at most 60 are exact.
    const std::int64_t d = exponent - es;
    if (d > 60) return;
    if (d < -60) {
        *this = WideLevel{ms, es};
        return;
    }
    if (d >= 0) {
        *this = normalized(mantissa + std::ldexp(ms, static_cast<int>(-d)), exponent);
    } else {
        *this = normalized(std::ldexp(mantissa, static_cast<int>(d)) + ms, es);
    }
}

void FairShareSolver::solve(const FairShareInput& in, double* out) {
    const std::size_t n = in.n;
    const double* w = in.shares;
    ceiling_.resize(n);
    floor_.resize(n);
    double* u = ceiling_.data();
    double* f = floor_.data();

    double sum_u = 0.0;
    double sum_f = 0.0;
    MagnitudeRange range;
    range.amount(in.capacity);
    for (std::size_t i = 0; i < n; ++i) {
        const double limit = in.limit ? in.limit[i] : std::numeric_limits<double>::infinity();
        const double reservation = in.reservation ? in.reservation[i] : 0.0;
        u[i] = std::min(in.demand[i], limit);
        f[i] = std::min(reservation, u[i]);
        sum_u += u[i];
        sum_f += f[i];
        range.amount(u[i]);
        range.amount(f[i]);
        range.share(w[i]);
    }

    // Uncontended: everyone gets its ceiling.
    if (sum_u <= in.capacity) {
        std::copy(u, u + n, out);
        return;
    }
    // The floors must fit. A relative slack of 1e-9 forgives rounding in how
    // the caller summed them (numpy sums pairwise, we sum in order); within it
    // the floors are the answer and sum(a) exceeds C by at most that slack.
    if (floors_exceed(sum_f, in.capacity)) {
        throw AdmissionError(message("reservations exceed capacity by ",
                                     format_number(sum_f - in.capacity), ": the floors min(reservation, ",
                                     "demand, limit) sum to ", format_number(sum_f), " > capacity ",
                                     format_number(in.capacity)));
    }

    if (sum_f >= in.capacity) {
        std::copy(f, f + n, out);
        return;
    }
    if (range.doubles_suffice()) {
        solve_doubles(in, out);
    } else {
        solve_wide(in, out);
    }
}

void FairShareSolver::solve_doubles(const FairShareInput& in, double* out) {
    const std::size_t n = in.n;
    const double* w = in.shares;
    const double* u = ceiling_.data();
    const double* f = floor_.data();

    // S(lambda), summed in index order (the reference sums in the same order).
    auto level_sum = [&](double lambda) {
        double s = 0.0;
        for (std::size_t i = 0; i < n; ++i) s += clamp_to(lambda * w[i], f[i], u[i]);
        return s;
    };

    // Breakpoints of VMs that can move (f_i < u_i); 0 is a candidate too, as
    // S(0) = sum(f) <= C guarantees a lower bracket exists.
    candidates_.clear();
    candidates_.push_back(0.0);
    for (std::size_t i = 0; i < n; ++i) {
        if (f[i] < u[i]) {
            candidates_.push_back(f[i] / w[i]);
            candidates_.push_back(u[i] / w[i]);
        }
    }

    // Binary search by selection for
    //   lambda_lo = max{b : S(b) <= C}   and   lambda_hi = min{b : S(b) > C}.
    // In exact arithmetic S(max breakpoint) = sum(u) > C; in floating point
    // every term may round below its ceiling, so lambda_hi may not exist
    // (then it stays +inf and lambda_lo is the largest breakpoint).
    double lambda_lo = 0.0;
    double lambda_hi = std::numeric_limits<double>::infinity();
    auto first = candidates_.begin();
    auto last = candidates_.end();
    while (first != last) {
        auto middle = first + (last - first) / 2;
        std::nth_element(first, middle, last);
        const double probe = *middle;
        if (level_sum(probe) <= in.capacity) {
            lambda_lo = std::max(lambda_lo, probe);
            first = middle + 1;  // everything left of middle is <= probe
        } else {
            lambda_hi = std::min(lambda_hi, probe);
            last = middle;  // everything right of middle is >= probe
        }
    }

    // No breakpoint lies strictly inside (lambda_lo, lambda_hi): each VM is
    // pinned at its ceiling (u_i/w_i <= lambda_lo), at its floor
    // (f_i/w_i >= lambda_hi) or grows with lambda across the whole bracket.
    // Solve fixed + lambda * W = C on that segment.
    double fixed = 0.0;
    double growing_shares = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!(f[i] < u[i])) {
            fixed += f[i];
        } else if (u[i] / w[i] <= lambda_lo) {
            fixed += u[i];
        } else if (f[i] / w[i] >= lambda_hi) {
            fixed += f[i];
        } else {
            growing_shares += w[i];
        }
    }
    // W == 0 only if rounding made S jump between two adjacent breakpoints;
    // lambda_lo is then the best level (S(lambda_lo) <= C). The exact level
    // lies in [lambda_lo, lambda_hi]; the rounded one is kept there (a fixed
    // sum rounded up to C would otherwise give lambda = 0 and take their
    // ceilings from the VMs pinned at lambda_lo).
    const double solved = growing_shares > 0.0 ? (in.capacity - fixed) / growing_shares : lambda_lo;
    const double lambda = std::min(lambda_hi, std::max(lambda_lo, solved));

    for (std::size_t i = 0; i < n; ++i) out[i] = clamp_to(lambda * w[i], f[i], u[i]);
}

// The same search and the same final step as solve_doubles, with every level
// (breakpoints, lambda) a WideLevel and every product lambda * w_i rounded
// into the doubles by WideLevel::times. Used when some amount or share is
// outside [2^-256, 2^256]; when all are inside, it would give solve_doubles'
// results bit for bit (every intermediate is then a normal double).
void FairShareSolver::solve_wide(const FairShareInput& in, double* out) {
    const std::size_t n = in.n;
    const double* w = in.shares;
    const double* u = ceiling_.data();
    const double* f = floor_.data();

    auto level_sum = [&](const WideLevel& lambda) {
        double s = 0.0;
        for (std::size_t i = 0; i < n; ++i) s += clamp_to(lambda.times(w[i]), f[i], u[i]);
        return s;
    };

    wide_candidates_.clear();
    wide_candidates_.push_back(WideLevel{});
    for (std::size_t i = 0; i < n; ++i) {
        if (f[i] < u[i]) {
            wide_candidates_.push_back(WideLevel::ratio(f[i], w[i]));
            wide_candidates_.push_back(WideLevel::ratio(u[i], w[i]));
        }
    }

    WideLevel lambda_lo{};
    WideLevel lambda_hi{};
    bool has_hi = false;  // lambda_hi = +inf until a level with S > C is found
    auto first = wide_candidates_.begin();
    auto last = wide_candidates_.end();
    while (first != last) {
        auto middle = first + (last - first) / 2;
        std::nth_element(first, middle, last);
        const WideLevel probe = *middle;
        if (level_sum(probe) <= in.capacity) {
            if (lambda_lo < probe) lambda_lo = probe;
            first = middle + 1;
        } else {
            if (!has_hi || probe < lambda_hi) lambda_hi = probe;
            has_hi = true;
            last = middle;
        }
    }

    double fixed = 0.0;
    WideLevel growing_shares{};
    for (std::size_t i = 0; i < n; ++i) {
        if (!(f[i] < u[i])) {
            fixed += f[i];
        } else if (WideLevel::ratio(u[i], w[i]) <= lambda_lo) {
            fixed += u[i];
        } else if (has_hi && lambda_hi <= WideLevel::ratio(f[i], w[i])) {
            fixed += f[i];
        } else {
            growing_shares.add(w[i]);
        }
    }
    WideLevel lambda = growing_shares.is_zero()
                           ? lambda_lo
                           : WideLevel::ratio(std::max(0.0, in.capacity - fixed), growing_shares);
    if (lambda < lambda_lo) lambda = lambda_lo;  // kept in [lambda_lo, lambda_hi], as in solve_doubles
    if (has_hi && lambda_hi < lambda) lambda = lambda_hi;

    for (std::size_t i = 0; i < n; ++i) out[i] = clamp_to(lambda.times(w[i]), f[i], u[i]);
}

std::vector<double> fair_share(const FairShareInput& in) {
    std::vector<double> out(in.n);
    FairShareSolver solver;
    solver.solve(in, out.data());
    return out;
}

}  // namespace vsched
