// The few helpers the container drivers share: CHECK (counts failures and
// reports the first few with their line), a seeded random source, and the exit
// status tests/test_containers_cpp.py reads (0 = every check held).
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>

namespace check {

inline int& failures() {
    static int n = 0;
    return n;
}

inline void fail(const char* what, const char* file, int line) {
    if (++failures() <= 20) std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
}

inline int finish(const char* name) {
    if (failures() != 0) {
        std::fprintf(stderr, "%s: %d checks failed\n", name, failures());
        return 1;
    }
    std::printf("%s: ok\n", name);
    return 0;
}

// Deterministic per seed, so a failure reproduces.
struct Random {
    std::mt19937_64 gen;
    explicit Random(std::uint64_t seed) : gen(seed) {}
    std::uint64_t below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(gen); }
    bool chance(double p) { return std::uniform_real_distribution<double>(0.0, 1.0)(gen) < p; }
};

}  // namespace check

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) ::check::fail(#cond, __FILE__, __LINE__);            \
    } while (0)
