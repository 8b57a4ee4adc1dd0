// SiblingAlignedVector (csrc/include/vsched/containers/sibling_aligned_vector.hpp):
// every sibling group of a 4-ary heap of 16-byte entries starts a cache line
// at every size (through growth, small and huge-page blocks), and a heap on it
// holds exactly the array a heap on std::vector holds after the same random
// pushes, pops, raises and filters.
#include <cstdint>
#include <vector>

#include "check.hpp"
#include "vsched/containers/dary_heap.hpp"
#include "vsched/containers/sibling_aligned_vector.hpp"

namespace {

struct Entry {
    std::uint64_t key;
    std::uint64_t id;
    bool operator==(const Entry& o) const { return key == o.key && id == o.id; }
};
struct Before {
    bool operator()(const Entry& a, const Entry& b) const { return a.key != b.key ? a.key < b.key : a.id < b.id; }
};
using Aligned = vsched::SiblingAlignedVector<Entry, 4>;

bool groups_aligned(const Aligned& v) {
    for (std::size_t first = 1; first < v.size(); first += 4) {
        if (reinterpret_cast<std::uintptr_t>(&v[first]) % 64 != 0) return false;
    }
    return true;
}

void layout_through_growth() {
    Aligned v;
    CHECK(v.empty() && v.size() == 0);
    // Past 2 MiB (131,072 entries) the blocks come from the huge-page path.
    for (std::uint64_t i = 0; i < 300000; ++i) {
        v.push_back(Entry{i, i});
        if ((i & (i + 1)) == 0 || i % 9973 == 0) CHECK(groups_aligned(v));
    }
    CHECK(v.size() == 300000 && v.front().key == 0 && v.back().key == 299999 && v[12345].id == 12345);
    std::uint64_t sum = 0;
    for (const Entry& e : v) sum += e.key;
    CHECK(sum == std::uint64_t(299999) * 300000 / 2);
    v.resize(5);
    CHECK(v.size() == 5 && v.back().key == 4 && groups_aligned(v));
    v.pop_back();
    CHECK(v.size() == 4 && v.back().key == 3);
    v.clear();
    CHECK(v.empty() && v.begin() == v.end());
    CHECK(v.capacity() >= 300000);
}

void same_heap_as_std_vector(std::uint64_t seed) {
    check::Random rng(seed);
    vsched::DaryHeap<Entry, Before, 4, Aligned> aligned;
    vsched::DaryHeap<Entry, Before, 4> plain;
    std::uint64_t next_id = 0;
    for (int step = 0; step < 20000; ++step) {
        const std::uint64_t r = rng.below(100);
        if (r < 55 || plain.empty()) {
            const Entry e{rng.below(1000), next_id++};
            aligned.push(e);
            plain.push(e);
        } else if (r < 85) {
            CHECK(aligned.top() == plain.top());
            aligned.pop();
            plain.pop();
        } else if (r < 98) {
            const std::uint64_t raise = rng.below(500);
            aligned.top_for_update().key += raise;
            aligned.top_raised();
            plain.top_for_update().key += raise;
            plain.top_raised();
        } else {
            const std::uint64_t mod = 2 + rng.below(5);
            aligned.filter_map([&](Entry& e) { return e.id % mod != 0; });
            plain.filter_map([&](Entry& e) { return e.id % mod != 0; });
        }
        CHECK(aligned.size() == plain.size());
    }
    const Aligned& a = aligned.entries();
    const std::vector<Entry>& p = plain.entries();
    bool same = a.size() == p.size();
    for (std::size_t i = 0; same && i < p.size(); ++i) same = a[i] == p[i];
    CHECK(same);
    CHECK(vsched::heap::is_heap<4>(a, Before{}));
    CHECK(groups_aligned(a));
}

}  // namespace

int main() {
    layout_through_growth();
    for (std::uint64_t seed = 1; seed <= 10; ++seed) same_heap_as_std_vector(seed);
    return check::finish("sibling_aligned_vector");
}
