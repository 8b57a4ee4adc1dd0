// Weighted max-min fair division of one capacity among VMs, with floors
// (reservations) and ceilings (limits and demands): the fluid ideal that the
// scheduler and the reallocator approximate. See FairShareSolver::solve.
#pragma once

#include <cstddef>
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

// Reusable solver: keeps its scratch buffers between calls so that engines
// that divide capacity every tick do not allocate.
class FairShareSolver {
public:
    // Writes the allocation of every VM to out[0..n). Expects validated input.
    // Throws AdmissionError when the floors alone exceed the capacity.
    void solve(const FairShareInput& in, double* out);

private:
    std::vector<double> ceiling_;     // u_i
    std::vector<double> floor_;       // f_i
    std::vector<double> candidates_;  // breakpoints of S(lambda)
};

// One-shot convenience wrapper around FairShareSolver.
std::vector<double> fair_share(const FairShareInput& in);

}  // namespace vsched
