// Differential fuzz: WarmFairShare must return exactly what the kernel
// (FairShareSolver) returns, bit for bit, and throw when it throws, on random
// divisions (ties, integer and decimal demands, reservations, limits, exact-fit
// floors, magnitudes far outside [2^-256, 2^256] where the kernel keeps wide
// levels) solved one after another so the warm level is often far off.
// Built and run by tests/test_warm_fair_share.py; prints one summary line and
// exits non-zero on any difference.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "vsched/warm_fair_share.hpp"

using namespace vsched;

int main(int argc, char** argv) {
    const long cases = argc > 1 ? std::atol(argv[1]) : 100000;
    std::mt19937_64 rng(7);
    auto uniform = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
    long mismatches = 0;
    long error_mismatches = 0;
    WarmFairShare warm;
    for (long c = 0; c < cases; ++c) {
        const std::size_t n = c % 100 == 0 ? 1 + rng() % 2000 : 1 + rng() % 12;
        std::vector<double> demand(n), shares(n), reservation(n), limit(n), expected(n), got(n);
        const int mode = static_cast<int>(rng() % 4);
        for (std::size_t i = 0; i < n; ++i) {
            demand[i] = mode == 0 ? static_cast<double>(rng() % 4)
                                  : (mode == 1 ? uniform() * 3 : std::round(uniform() * 10) / 10);
            shares[i] = mode == 2 ? 1000.0 : static_cast<double>(1 + rng() % 3000);
            reservation[i] = rng() % 3 == 0 ? std::min(demand[i], uniform() * 0.5) * static_cast<double>(rng() % 2) : 0.0;
            limit[i] = rng() % 4 == 0 ? std::max(reservation[i], uniform() * 2) : INFINITY;
        }
        if (c % 7 == 0) {
            // Extreme magnitudes: amounts and shares scaled by powers of two far
            // beyond the double path's range (exact scalings, subnormals included).
            const int amount_scale = static_cast<int>(rng() % 1400) - 700;
            const int share_scale = static_cast<int>(rng() % 1400) - 700;
            for (std::size_t i = 0; i < n; ++i) {
                demand[i] = std::ldexp(demand[i], amount_scale);
                reservation[i] = std::min(demand[i], std::ldexp(reservation[i], amount_scale));
                limit[i] = std::max(reservation[i], std::ldexp(limit[i], amount_scale));
                shares[i] = std::ldexp(shares[i], share_scale + static_cast<int>(rng() % 3) * 200);
                if (shares[i] == 0.0 || std::isinf(shares[i])) shares[i] = 1.0;
                if (std::isinf(demand[i])) demand[i] = 1.0;
            }
        }
        double floors = 0.0;
        for (double r : reservation) floors += r;
        FairShareInput in;
        in.capacity = rng() % 5 == 0 ? floors : floors + uniform() * static_cast<double>(n) * 0.7;
        in.n = n;
        in.demand = demand.data();
        in.shares = shares.data();
        in.reservation = rng() % 2 ? reservation.data() : nullptr;
        in.limit = limit.data();
        FairShareSolver kernel;
        bool kernel_threw = false;
        bool warm_threw = false;
        try { kernel.solve(in, expected.data()); } catch (...) { kernel_threw = true; }
        try { warm.solve(in, got.data()); } catch (...) { warm_threw = true; }
        if (kernel_threw != warm_threw) {
            ++error_mismatches;
        } else if (!kernel_threw && std::memcmp(expected.data(), got.data(), n * sizeof(double)) != 0) {
            ++mismatches;
        }
    }
    std::printf("cases %ld mismatches %ld error_mismatches %ld\n", cases, mismatches, error_mismatches);
    return mismatches == 0 && error_mismatches == 0 ? 0 : 1;
}
