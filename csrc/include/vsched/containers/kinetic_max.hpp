// KineticMax: the largest of a set of lines v_i(t) = intercept_i + slope_i * t,
// asked at times that never decrease. Equal values go to the smaller tie key
// (each line's own, e.g. its id), then to the smaller id.
//
// Why. Rule 6's urgent VMs are ranked by their reservation lag D, a line in
// time between changes. VMs with equal slopes keep their order (a sorted
// queue per slope serves them), but VMs with different reservations have
// different slopes, and the queues' tops change order as their lines cross:
// comparing every queue's top at each pick is O(queues), one per urgent VM
// when every VM reserves its own amount (~4 us per decision with 3,000 of
// them). Ranking the tops here costs O(log n) per change of a top.
//
// How: a kinetic tournament (Basch, Guibas and Hershberger's kinetic data
// structures, as a tournament tree). The entries sit at the leaves of a
// complete binary tree. Each internal node keeps the winner of its subtree as
// of the last time it was computed and `melt`: a time no later than the first
// one at which a winner anywhere in its subtree can change, i.e. the minimum
// of its children's melts and of its own certificate, the first time its
// loser overtakes its winner (only a steeper loser ever does). Asking at time
// t replays, top down, only the nodes whose melt is <= t. A melt only has to
// be a lower bound: a node recomputed before its true change time keeps its
// winner and takes a new bound. That is what makes the arithmetic cheap: the
// crossing time is exact when it fits 64-bit division, and otherwise a float
// estimate lowered by a margin far wider than its rounding.
//
// Invariants: for every internal node, win is the best of its subtree's
// entries at every time in [time_, melt) — so a change at time t first
// brings the tree to t (advance), then recomputes the changed leaf's path
// at t; that walk stops at the first node whose winner is unchanged and whose
// melt did not move earlier (its ancestors' winners and lower bounds then
// still hold). Leaves are positions, not ids: an id takes a free position
// when inserted, so the tree's depth follows the entries in it, not the
// largest id.
//
// Complexity: insert/erase O(log n) plus the replays; top O(1) plus the
// replays; each crossing of two lines that meet in a node costs one replay
// of that node's path, O(log n). Memory: ~56 bytes per position, positions
// <= 2 x the most entries ever held at once.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace vsched {

class KineticMax {
public:
    using i128 = __int128;
    static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
    static constexpr std::uint32_t kNone = 0xffffffffu;

    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    bool contains(std::uint32_t id) const { return id < pos_of_.size() && pos_of_[id] != kNone; }

    // Adds id's line, or replaces it, at time t (t >= every earlier t).
    void insert(std::uint32_t id, i128 intercept, std::int64_t slope, std::uint32_t tie, std::int64_t t) {
        advance(t);
        if (id >= pos_of_.size()) pos_of_.resize(static_cast<std::size_t>(id) + 1, kNone);
        std::uint32_t p = pos_of_[id];
        if (p == kNone) {
            if (free_.empty()) grow(t);
            p = free_.back();
            free_.pop_back();
            pos_of_[id] = p;
            ++size_;
        }
        line_[p] = Line{intercept, slope, tie, id};
        const std::size_t leaf = leaves_ + p;
        win_[leaf] = p;
        update_path(leaf, p, t);
    }

    // Removes id (if present) at time t.
    void erase(std::uint32_t id, std::int64_t t) {
        if (!contains(id)) return;
        advance(t);
        const std::uint32_t p = pos_of_[id];
        pos_of_[id] = kNone;
        free_.push_back(p);
        --size_;
        const std::size_t leaf = leaves_ + p;
        win_[leaf] = kNone;
        update_path(leaf, p, t);
    }

    // The id whose line is largest at t (equal values: the smaller tie key, then id), or kNone.
    std::uint32_t top(std::int64_t t) {
        if (size_ == 0) return kNone;
        advance(t);
        return line_[win_[1]].id;
    }

    // f(id, intercept, slope) for every entry, in position order.
    template <class F>
    void for_each(F f) const {
        for (std::size_t p = 0; p < leaves_; ++p) {
            if (win_[leaves_ + p] != kNone) f(line_[p].id, line_[p].intercept, line_[p].slope);
        }
    }

    void clear() {
        pos_of_.clear();
        line_.clear();
        win_.clear();
        melt_.clear();
        free_.clear();
        leaves_ = size_ = 0;
        time_ = std::numeric_limits<std::int64_t>::min();
    }

    std::size_t memory_bytes() const {
        return pos_of_.capacity() * sizeof(std::uint32_t) + line_.capacity() * sizeof(Line) +
               win_.capacity() * sizeof(std::uint32_t) + melt_.capacity() * sizeof(std::int64_t) +
               free_.capacity() * sizeof(std::uint32_t);
    }

private:
    struct Line {
        i128 intercept;
        std::int64_t slope;
        std::uint32_t tie, id;
        bool before(const Line& o) const { return tie != o.tie ? tie < o.tie : id < o.id; }
    };

    i128 value_at(std::uint32_t p, std::int64_t t) const {
        return line_[p].intercept + static_cast<i128>(line_[p].slope) * t;
    }

    // Does position a beat position b at t?
    bool beats(std::uint32_t a, std::uint32_t b, std::int64_t t) const {
        const Line& la = line_[a];
        const Line& lb = line_[b];
        if (la.slope == lb.slope) {  // parallel: the intercepts decide, at every t
            return la.intercept != lb.intercept ? la.intercept > lb.intercept : la.before(lb);
        }
        const i128 va = value_at(a, t), vb = value_at(b, t);
        return va != vb ? va > vb : la.before(lb);
    }

    // A lower bound of the first time after t at which loser l beats winner w
    // (w beats l at t): never unless l is steeper; l wins once
    // (s_l - s_w) * t' > b_w - b_l, or from equality if it goes first on ties.
    std::int64_t certificate(std::uint32_t w, std::uint32_t l, std::int64_t t) const {
        const Line& lw = line_[w];
        const Line& ll = line_[l];
        if (ll.slope <= lw.slope) return kNever;
        const i128 num = lw.intercept - ll.intercept;  // >= den * t >= 0 here
        const i128 den = static_cast<i128>(ll.slope) - lw.slope;
        constexpr i128 kFits = i128{1} << 62;
        std::int64_t when;
        if (num >= 0 && num < kFits && den < kFits) {
            const auto n = static_cast<std::int64_t>(num), d = static_cast<std::int64_t>(den);
            when = ll.before(lw) ? (n + d - 1) / d : n / d + 1;  // exact
        } else {
            // Float estimate, lowered by 2^-40 of itself (the rounding is ~2^-51) and 2 ns.
            const double e = static_cast<double>(num) / static_cast<double>(den);
            const double low = e - std::fabs(e) * 0x1p-40 - 2.0;
            if (low >= 9.0e18) return kNever;
            when = low <= static_cast<double>(t) ? t + 1 : static_cast<std::int64_t>(std::floor(low));
        }
        return when > t ? when : t + 1;
    }

    // Node k's winner and melt from its children, at t.
    void recompute(std::size_t k, std::int64_t t) {
        const std::uint32_t a = win_[2 * k], b = win_[2 * k + 1];
        std::int64_t melt = melt_[2 * k] < melt_[2 * k + 1] ? melt_[2 * k] : melt_[2 * k + 1];
        if (a == kNone || b == kNone) {
            win_[k] = a == kNone ? b : a;
        } else if (beats(a, b, t)) {
            win_[k] = a;
            const std::int64_t c = certificate(a, b, t);
            if (c < melt) melt = c;
        } else {
            win_[k] = b;
            const std::int64_t c = certificate(b, a, t);
            if (c < melt) melt = c;
        }
        melt_[k] = melt;
    }

    // After position p's line came, went or changed: its leaf's ancestors at t.
    // A node whose winner is another position, unchanged, and whose melt did
    // not move earlier ends the walk (above it nothing it reports changed).
    void update_path(std::size_t leaf, std::uint32_t p, std::int64_t t) {
        for (std::size_t k = leaf / 2; k >= 1; k /= 2) {
            const std::uint32_t old_win = win_[k];
            const std::int64_t old_melt = melt_[k];
            recompute(k, t);
            if (win_[k] == old_win && old_win != p && melt_[k] >= old_melt) {
                melt_[k] = old_melt;  // keep the ancestors' bounds valid
                break;
            }
        }
    }

    // Brings every node to t: replays the nodes whose melt has come.
    void advance(std::int64_t t) {
        if (t == time_ && (leaves_ == 0 || melt_[1] > t)) return;  // the usual case: nothing due
        if (t < time_) {  // never in the scheduler (time only moves on); stay exact anyway
            rebuild(t);
            return;
        }
        time_ = t;
        if (leaves_ > 0 && melt_[1] <= t) replay(1, t);
    }
    void replay(std::size_t k, std::int64_t t) {
        if (k >= leaves_) return;  // a leaf never melts
        if (melt_[2 * k] <= t) replay(2 * k, t);
        if (melt_[2 * k + 1] <= t) replay(2 * k + 1, t);
        recompute(k, t);
    }

    void rebuild(std::int64_t t) {
        time_ = t;
        for (std::size_t k = leaves_; k-- > 1;) recompute(k, t);
    }

    // Doubles the positions (from 1: one entry is its own root) and recomputes the tree at t.
    void grow(std::int64_t t) {
        const std::size_t old = leaves_;
        const std::size_t n = old == 0 ? 1 : 2 * old;
        std::vector<std::uint32_t> win(2 * n, kNone);
        for (std::size_t p = 0; p < old; ++p) win[n + p] = win_[old + p];
        win_ = std::move(win);
        melt_.assign(2 * n, kNever);
        line_.resize(n);
        for (std::size_t p = n; p-- > old;) free_.push_back(static_cast<std::uint32_t>(p));
        leaves_ = n;
        rebuild(t);
    }

    std::vector<std::uint32_t> pos_of_;  // id -> position, kNone if absent
    std::vector<Line> line_;             // by position
    std::vector<std::uint32_t> win_;     // node -> winning position (leaves: own or kNone); nodes 1..2n-1
    std::vector<std::int64_t> melt_;     // node -> lower bound of its next change (leaves: kNever)
    std::vector<std::uint32_t> free_;    // free positions, the lowest on top
    std::size_t leaves_ = 0, size_ = 0;
    std::int64_t time_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace vsched
