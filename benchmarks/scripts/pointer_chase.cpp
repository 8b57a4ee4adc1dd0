// Dependent-load latency: a pointer chase through a random cycle of cache
// lines over BYTES of huge-page-backed memory (as the engines' big arrays).
//
//   g++ -O2 -std=c++17 benchmarks/scripts/pointer_chase.cpp -o /tmp/pointer_chase
//   /tmp/pointer_chase 2621440 41943040      # one line per size: ns per dependent load (best of 3)
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

namespace {

double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    constexpr std::size_t kHuge = std::size_t(2) << 20, kSteps = 20'000'000;
    for (int a = 1; a < argc; ++a) {
        const std::size_t lines = std::strtoull(argv[a], nullptr, 10) / 64;
        if (lines == 0) continue;
        std::vector<std::size_t> order(lines);
        for (std::size_t i = 0; i < lines; ++i) order[i] = i;
        std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
        const std::size_t bytes = (lines * 64 + kHuge - 1) / kHuge * kHuge;
        auto* next = static_cast<std::uint64_t*>(std::aligned_alloc(kHuge, bytes));
        if (next == nullptr) return 1;
        madvise(next, bytes, MADV_HUGEPAGE);
        std::memset(next, 0, bytes);
        for (std::size_t i = 0; i < lines; ++i) next[order[i] * 8] = order[(i + 1) % lines] * 8;
        std::uint64_t p = 0;
        for (std::size_t i = 0; i < lines; ++i) p = next[p];  // warm
        double best = 1e300;
        for (int r = 0; r < 3; ++r) {
            const double start = cpu_seconds();
            for (std::size_t i = 0; i < kSteps; ++i) p = next[p];
            best = std::min(best, cpu_seconds() - start);
        }
        std::printf("%s bytes: %.1f ns per dependent load (end %llu)\n", argv[a], best / kSteps * 1e9,
                    static_cast<unsigned long long>(p));
        std::free(next);
    }
    return 0;
}
