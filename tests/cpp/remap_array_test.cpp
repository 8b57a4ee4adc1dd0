// RemapArray (csrc/include/vsched/containers/remap_array.hpp): grown the way
// LRU-K grows its records (by 1/4, through the step from malloc'd blocks to
// mappings and many remaps after it) and resized down and up, against a
// std::vector given the same values: the contents match, every new element
// is zero, and moves and assign() carry the whole array.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "check.hpp"
#include "vsched/containers/remap_array.hpp"

namespace {

bool same(const vsched::RemapArray<std::uint64_t>& a, const std::vector<std::uint64_t>& v) {
    if (a.size() != v.size() || a.capacity() < a.size()) return false;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (a[i] != v[i]) return false;
    }
    return true;
}

void grows_like_the_records(std::uint64_t seed) {
    check::Random rng(seed);
    vsched::RemapArray<std::uint64_t> a;
    std::vector<std::uint64_t> v;
    CHECK(a.empty() && a.size() == 0 && a.capacity() == 0);
    // Up to 1.5 M words (12 MB): well past the 2 MiB step.
    while (v.size() < 1500000) {
        const std::size_t n = v.size() + 1 + rng.below(20000);
        if (n > a.capacity()) a.reserve(std::max(n, a.capacity() + a.capacity() / 4 + 64));
        const std::size_t old = v.size();
        a.resize(n);
        v.resize(n, 0);
        bool zero = true;
        for (std::size_t i = old; i < n; ++i) zero = zero && a[i] == 0;
        CHECK(zero);
        for (int w = 0; w < 50; ++w) {
            const std::size_t i = rng.below(n);
            const std::uint64_t x = rng.below(~std::uint64_t(0));
            a[i] = x;
            v[i] = x;
        }
        if (rng.chance(0.05)) {  // shrink, then grow back: the dropped tail comes back zero
            const std::size_t m = rng.below(n);
            a.resize(m);
            v.resize(m);
            a.resize(n);
            v.resize(n, 0);
        }
    }
    CHECK(same(a, v));
    vsched::RemapArray<std::uint64_t> moved(std::move(a));
    CHECK(same(moved, v) && a.size() == 0);
    vsched::RemapArray<std::uint64_t> copy;
    copy.assign(v.data(), v.size());
    CHECK(same(copy, v));
    copy = std::move(moved);
    CHECK(same(copy, v));
    vsched::RemapArray<std::uint64_t> small;
    small.assign(v.data(), 100);
    CHECK(small.size() == 100 && small[99] == v[99]);
    small.assign(nullptr, 0);
    CHECK(small.empty());
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) grows_like_the_records(seed);
    return check::finish("remap_array");
}
