// LRU-K's batch loop and a random gather without Python, for profilers
// (valgrind --tool=cachegrind, perf record) that should see the loop alone.
//
//   python -c "import sys; sys.path.insert(0, 'benchmarks'); from benchmarks.page_workloads import zipf_keys; zipf_keys(10_000_000, 1_000_000).tofile('/tmp/keys.bin')"
//   g++ -O3 -DNDEBUG -std=c++17 -Icsrc/include benchmarks/scripts/lruk_gather_loop.cpp csrc/core/lruk.cpp csrc/core/errors.cpp -o /tmp/lruk_gather_loop
//   /tmp/lruk_gather_loop /tmp/keys.bin 1000000 3 3     # KEYS_FILE KEYS REPEATS MODE (1 gather, 2 LRU-K, 3 both)
//   valgrind --tool=cachegrind --cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64 /tmp/lruk_gather_loop /tmp/keys.bin 1000000 1 2
//
// Keys: raw little-endian uint64; capacity KEYS / 10, k = 2; the gather reads
// one word per reference from a table of LRU-K's record size (5 words). Medians
// of CPU time.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "vsched/lruk.hpp"

namespace {

double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s KEYS_FILE KEYS [REPEATS [MODE]]\n", argv[0]);
        return 2;
    }
    const std::size_t keys_n = std::strtoull(argv[2], nullptr, 10);
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
    const int mode = argc > 4 ? std::atoi(argv[4]) : 3;
    FILE* f = std::fopen(argv[1], "rb");
    if (f == nullptr) return 1;
    std::fseek(f, 0, SEEK_END);
    const std::size_t n = std::size_t(std::ftell(f)) / 8;
    std::fseek(f, 0, SEEK_SET);
    std::vector<std::uint64_t> keys(n);
    if (std::fread(keys.data(), 8, n, f) != n) return 1;
    std::fclose(f);
    std::vector<std::uint64_t> table(keys_n * 5), out(n);
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = i;
    std::vector<unsigned char> hit_bytes(n);
    bool* hit = reinterpret_cast<bool*>(hit_bytes.data());
    std::vector<double> gather, lruk;
    std::uint64_t hits = 0;
    for (int r = 0; r < repeats; ++r) {
        if (mode & 1) {
            const double start = cpu_seconds();
            for (std::size_t i = 0; i < n; ++i) out[i] = table[keys[i] * 5];
            gather.push_back(cpu_seconds() - start);
        }
        if (mode & 2) {
            const double start = cpu_seconds();
            vsched::LruKCache cache(keys_n / 10, 2, 0, std::nullopt, std::nullopt);
            cache.access_many(keys.data(), n, hit, nullptr);
            lruk.push_back(cpu_seconds() - start);
            hits = cache.hits();
        }
    }
    const double g = median(gather), l = median(lruk);
    std::printf("refs %zu: gather %.1f M/s, LRU-K %.2f M/s, ratio %.3f, hits %llu (checksum %llu)\n", n,
                g > 0 ? double(n) / g / 1e6 : 0.0, l > 0 ? double(n) / l / 1e6 : 0.0, g > 0 && l > 0 ? g / l : 0.0,
                static_cast<unsigned long long>(hits), static_cast<unsigned long long>(out[n / 2]));
    return 0;
}
