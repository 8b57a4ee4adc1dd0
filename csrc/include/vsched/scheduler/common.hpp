// What the CPU scheduler's core loop (csrc/core/scheduler.cpp) and its rule
// components (limit_bucket.hpp: rule 5, reservations.hpp: rule 6) share:
// units, "never", exact ceiling division, and the queue entries keyed by a
// slot. Rules: docs/engines/scheduler.md.
#pragma once

#include <cstdint>

namespace vsched::sched {

using i128 = __int128;

constexpr std::int64_t kMicro = 1000000;                   // micro-cores per core
constexpr std::int64_t kNever = std::int64_t{1} << 62;     // "no such time"
constexpr std::int64_t kLagMax = 1000000000000000000LL;    // |lag| saturates here

// ceil(a / b) for b > 0 and any sign of a, exact.
// (The 64-bit path gives the same result; 128-bit division is several times slower.)
inline i128 ceil_div(i128 a, i128 b) {
    constexpr i128 kFits = i128{1} << 61;
    if (a > -kFits && a < kFits && b < kFits) {
        const auto a64 = static_cast<std::int64_t>(a), b64 = static_cast<std::int64_t>(b);
        return a64 >= 0 ? (a64 + b64 - 1) / b64 : -((-a64) / b64);
    }
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

inline std::int64_t min_never(i128 x) { return static_cast<std::int64_t>(x < kNever ? x : kNever); }

// Queue entries; gen detects stale ones (slot: a vCPU's or a VM's). Key is
// ordered by (a, slot), Entry by (a, b, slot).
struct Key {
    std::int64_t a;
    std::uint32_t slot, gen;
};
struct Entry {
    std::int64_t a, b;
    std::uint32_t slot, gen;
};
// x strictly before y: Key on (a, slot), Entry on (a, b, slot).
struct Before {
    bool operator()(const Key& x, const Key& y) const {
        if (x.a != y.a) return x.a < y.a;
        return x.slot < y.slot;
    }
    bool operator()(const Entry& x, const Entry& y) const {
        if (x.a != y.a) return x.a < y.a;
        if (x.b != y.b) return x.b < y.b;
        return x.slot < y.slot;
    }
};

}  // namespace vsched::sched
