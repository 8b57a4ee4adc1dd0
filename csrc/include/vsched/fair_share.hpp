// Weighted max-min fair division of one capacity among VMs, with floors
// (reservations) and ceilings (limits and demands): the fluid ideal that the
// scheduler and the reallocator approximate. See FairShareSolver::solve.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace vsched {

// Inputs of one division, as borrowed pointers to n contiguous doubles.
// reservation and limit may be null: no reservation / no limit.
struct FairShareInput {
    double capacity = 0.0;
    std::size_t n = 0;
    const double* demand = nullptr;
    const double* shares = nullptr;
    const double* reservation = nullptr;
    const double* limit = nullptr;
};

// Throws std::invalid_argument naming the first bad argument and value:
// capacity must be finite and >= 0; demand and reservation finite and >= 0;
// shares finite and > 0; limit >= 0 or +inf (no limit).
void validate_fair_share(const FairShareInput& in);

// Decides which arithmetic a division may use (docs/engines/fair_share.md,
// "Extreme magnitudes"). If the capacity, every ceiling and floor that is not 0
// and every share lie in [2^-256, 2^256], every water level, product and sum
// the kernel forms is a normal double, and plain double arithmetic is used;
// otherwise the levels are kept as a double mantissa with a 64-bit exponent,
// which cannot underflow or overflow. Fed in the solvers' first pass.
class MagnitudeRange {
public:
    void amount(double x) {
        smallest_ = std::min(smallest_, x > 0.0 ? x : kInf);
        largest_ = std::max(largest_, x);
    }
    void share(double w) {
        smallest_ = std::min(smallest_, w);
        largest_ = std::max(largest_, w);
    }
    bool doubles_suffice() const { return smallest_ >= kLowest && largest_ <= kHighest; }

    static constexpr double kLowest = 0x1p-256;
    static constexpr double kHighest = 0x1p+256;

private:
    static constexpr double kInf = std::numeric_limits<double>::infinity();
    double smallest_ = kInf;
    double largest_ = 0.0;
};

// A non-negative water level m * 2^e with m in [0.5, 1) (or 0), for divisions
// whose levels leave the range of doubles. Every operation rounds exactly
// once, as a double operation would with an unbounded exponent; the pure-Python
// reference does the very same operations (src/vsched/reference/allocation.py).
struct WideLevel {
    double mantissa = 0.0;  // 0 (the level 0) or in [0.5, 1)
    std::int64_t exponent = 0;

    static WideLevel ratio(double amount, double share);        // amount / share, share > 0
    static WideLevel ratio(double amount, const WideLevel& shares);  // shares > 0
    double times(double share) const;  // level * share, rounded to a double (0 or inf beyond range)
    void add(double share);            // this += share
    bool is_zero() const { return mantissa == 0.0; }
    friend bool operator<(const WideLevel& a, const WideLevel& b) {
        if (a.mantissa == 0.0 || b.mantissa == 0.0) return a.mantissa < b.mantissa;
        return a.exponent != b.exponent ? a.exponent < b.exponent : a.mantissa < b.mantissa;
    }
    friend bool operator<=(const WideLevel& a, const WideLevel& b) { return !(b < a); }
};

// Reusable solver: keeps its scratch buffers between calls so that engines
// that divide capacity every tick do not allocate.
class FairShareSolver {
public:
    // Writes the allocation of every VM to out[0..n). Expects validated input.
    // Throws AdmissionError when the floors alone exceed the capacity.
    void solve(const FairShareInput& in, double* out);

private:
    void solve_doubles(const FairShareInput& in, double* out);
    void solve_wide(const FairShareInput& in, double* out);

    std::vector<double> ceiling_;     // u_i
    std::vector<double> floor_;       // f_i
    std::vector<double> candidates_;  // breakpoints of S(lambda)
    std::vector<WideLevel> wide_candidates_;
};

// The floors sum_f exceed the capacity beyond the kernel's rounding slack
// (1e-9 relative), or their sum overflowed.
inline bool floors_exceed(double sum_f, double capacity) {
    return sum_f > capacity + 1e-9 * capacity || sum_f == std::numeric_limits<double>::infinity();
}

// One-shot convenience wrapper around FairShareSolver.
std::vector<double> fair_share(const FairShareInput& in);

}  // namespace vsched
