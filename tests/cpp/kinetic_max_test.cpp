// KineticMax (csrc/include/vsched/containers/kinetic_max.hpp) against a brute
// force oracle: random inserts, replacements and erases of lines at times that
// never decrease, with the top (largest value at t, ties to the smaller id)
// compared with a scan after every operation. The lines are drawn so that they
// cross often: equal slopes, slopes that differ by one, intercepts that put the
// crossing within the next few steps, exact ties, and intercepts far beyond
// 64 bits (the certificate's float path); tie keys equal to the ids or shared.
#include <cstdint>
#include <map>
#include <vector>

#include "check.hpp"
#include "vsched/containers/kinetic_max.hpp"

namespace {

using i128 = __int128;

struct Line {
    i128 intercept;
    std::int64_t slope;
    std::uint32_t tie;
};

std::uint32_t oracle_top(const std::map<std::uint32_t, Line>& lines, std::int64_t t) {
    std::uint32_t best = vsched::KineticMax::kNone;
    i128 best_value = 0;
    std::uint32_t best_tie = 0;
    for (const auto& [id, line] : lines) {  // id order: the first of equal (value, tie) wins
        const i128 v = line.intercept + static_cast<i128>(line.slope) * t;
        if (best == vsched::KineticMax::kNone || v > best_value || (v == best_value && line.tie < best_tie)) {
            best = id;
            best_value = v;
            best_tie = line.tie;
        }
    }
    return best;
}

void run(std::uint64_t seed, std::uint32_t ids, bool huge, bool tie_by_id) {
    check::Random rnd(seed);
    vsched::KineticMax kin;
    std::map<std::uint32_t, Line> oracle;
    std::int64_t t = huge ? 4'000'000'000'000'000'000LL : static_cast<std::int64_t>(rnd.below(1000));
    for (int step = 0; step < 4000; ++step) {
        t += static_cast<std::int64_t>(rnd.below(4) == 0 ? 0 : rnd.below(50));
        const std::uint32_t id = static_cast<std::uint32_t>(rnd.below(ids));
        const std::uint64_t op = rnd.below(10);
        if (op < 6) {
            // A slope among a few values (equal slopes keep order), a value at t near 0,
            // so that lines cross within the next steps.
            const std::int64_t slope = static_cast<std::int64_t>(rnd.below(7)) * 1000 - 2000 +
                                       (rnd.chance(0.3) ? static_cast<std::int64_t>(rnd.below(3)) : 0);
            i128 value = static_cast<i128>(rnd.below(200000)) - 100000;
            if (rnd.chance(0.2)) value = 0;  // exact ties
            if (huge) value += static_cast<i128>(rnd.below(1000)) << 70;
            const i128 intercept = value - static_cast<i128>(slope) * t;
            // Tie keys: the id itself, or a few shared values in any order.
            const std::uint32_t tie = tie_by_id ? id : static_cast<std::uint32_t>(rnd.below(4));
            kin.insert(id, intercept, slope, tie, t);
            oracle[id] = Line{intercept, slope, tie};
        } else if (op < 9) {
            kin.erase(id, t);
            oracle.erase(id);
        }
        CHECK(kin.size() == oracle.size());
        CHECK(kin.contains(id) == (oracle.count(id) == 1));
        CHECK(kin.top(t) == oracle_top(oracle, t));
        // The top at a few later times, without changes in between.
        if (rnd.chance(0.1)) {
            for (int k = 0; k < 5; ++k) {
                t += static_cast<std::int64_t>(rnd.below(200));
                CHECK(kin.top(t) == oracle_top(oracle, t));
            }
        }
    }
    std::size_t seen = 0;
    kin.for_each([&](std::uint32_t id, i128 intercept, std::int64_t slope) {
        ++seen;
        auto it = oracle.find(id);
        CHECK(it != oracle.end() && it->second.intercept == intercept && it->second.slope == slope);
    });
    CHECK(seen == oracle.size());
    kin.clear();
    CHECK(kin.empty() && kin.top(t) == vsched::KineticMax::kNone);
}

}  // namespace

int main() {
    for (std::uint64_t seed = 1; seed <= 300; ++seed) {
        run(seed, seed % 3 == 0 ? 5 : (seed % 3 == 1 ? 40 : 400), false, seed % 2 == 0);
        if (seed % 10 == 0) run(seed, 60, true, seed % 20 == 0);
    }
    return check::finish("kinetic_max");
}
