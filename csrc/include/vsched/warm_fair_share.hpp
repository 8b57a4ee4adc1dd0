// Fair-share division warm-started from the previous water level: the same
// result as FairShareSolver::solve, bit for bit, in fewer passes when the
// level moves little between calls (the reallocator divides every tick).
#pragma once

#include <vector>

#include "vsched/fair_share.hpp"

namespace vsched {

class WarmFairShare {
public:
    // Same contract and result as FairShareSolver::solve (see fair_share.cpp).
    void solve(const FairShareInput& in, double* out);

    // The warm start (a checkpoint keeps it; results never depend on it).
    double level() const { return level_; }
    void set_level(double level) { level_ = level; }

private:
    double level_ = -1.0;  // water level of the previous contended call (< 0: none)
    FairShareSolver fallback_;
    std::vector<double> ceiling_, floor_;
    std::vector<double> leave_floor_, reach_ceiling_;  // candidate levels f/w and u/w
};

}  // namespace vsched
