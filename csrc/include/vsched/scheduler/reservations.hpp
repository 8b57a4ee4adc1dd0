// Rule 6 of docs/engines/scheduler.md: each VM's reservation account, the
// urgent VMs and rule 6's events. Python-free.
//
//   D = reserved service - received (micro-core-ns), as of `time`:
//     dD/dt = res_u - running * 10^6,  res_u = floor(min(r, demand) * 10^6)  (0 while idle)
//     D >= -F,  F = max(1, slice // 2) * 10^6           (floor(): at most half a slice ahead)
//   urgent while D >= 0 and running * 10^6 < res_u
//   a reserved run lasts <= F / 10^6 ns and is protected for P = max(1, slice // 4) ns
//   (the urgent pick, its victim and the overdue exception: csrc/core/scheduler/reservations.cpp)
//
// The account lives here, one Account per VM slot (beside the core's
// CpuScheduler::vms_, compacted with it); `running` (the VM's vCPUs on a pCPU)
// is the core's and is passed in. Which urgent VM picks, and its victim, read
// vCPUs: those are CpuScheduler members (csrc/core/scheduler/reservations.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "vsched/containers/dary_heap.hpp"
#include "vsched/containers/kinetic_max.hpp"
#include "vsched/scheduler/common.hpp"
#include "vsched/two_lane_queue.hpp"

namespace vsched::sched {

class ReservationAccounts {
public:
    struct Account {
        std::int64_t res_u = 0;        // reserved rate, micro-cores (set at each recompute)
        std::int64_t lag = 0, time = 0;  // D as of time
        bool listed = false;           // in listed_vms (ever had a reservation)
        bool in_urgent = false;        // has a current entry in the urgent groups
        std::uint32_t version = 0;     // bumped when its lag line changes
    };

    // Urgent VMs grouped by the slope of their lag line: D(t) = intercept +
    // slope * t between changes, so within a group the lines are parallel and
    // their order never changes: a queue on (intercept, -vm) per group, whose
    // tops are ranked at now by `tops` (below). Entries of an older version
    // are stale.
    struct UrgentEntry {
        i128 intercept;
        std::uint32_t vm, version;
    };
    // Heap order of an urgent group: larger intercept first, then smaller vm.
    struct UrgentBefore {
        bool operator()(const UrgentEntry& x, const UrgentEntry& y) const {  // x below y in the max-heap
            if (x.intercept != y.intercept) return x.intercept < y.intercept;
            return x.vm > y.vm;
        }
    };
    // The order entries leave a group: larger intercept, then smaller vm, then
    // (stale duplicates of one line) larger version. A strict total order, so
    // what leaves a group depends on its entries only, not on their layout.
    struct UrgentFirst {
        bool operator()(const UrgentEntry& x, const UrgentEntry& y) const {
            if (x.intercept != y.intercept) return x.intercept > y.intercept;
            if (x.vm != y.vm) return x.vm < y.vm;
            return x.version > y.version;
        }
    };
    // One group's entries. VMs mostly turn urgent in the order their lag
    // reaches 0, i.e. in decreasing intercept: a TwoLaneQueue (pushes in
    // order join its run, O(1)) instead of a binary heap (a pop per urgent
    // preemption, O(log n), ~20 % of a decision on reserved-heavy hosts).
    // Checkpoints keep format 1's binary-heap layout: saved sorted in
    // UrgentFirst (a valid binary max-heap), loaded from any such heap.
    class UrgentHeap {
    public:
        bool empty() const { return q_.empty(); }
        std::size_t size() const { return q_.size(); }
        const UrgentEntry& top() const { return q_.front(); }
        void push(const UrgentEntry& e) { q_.push(e); }
        void pop() { q_.pop(); }
        void clear() { q_.clear(); }
        template <class Keep>
        void filter_map(Keep keep) { q_.filter_map(keep); }  // rewrites must keep the order
        template <class F>
        void for_each(F f) const { q_.for_each(f); }
        std::size_t capacity() const { return q_.memory_bytes() / sizeof(UrgentEntry); }
        // The entries in UrgentFirst order (the checkpoint's layout).
        std::vector<UrgentEntry> sorted_entries() const {
            std::vector<UrgentEntry> out;
            out.reserve(size());
            q_.for_each([&](const UrgentEntry& e) { out.push_back(e); });
            std::sort(out.begin(), out.end(), UrgentFirst{});
            return out;
        }
        // False (nothing changes) unless `entries` is a binary max-heap on (intercept, -vm).
        bool load(const std::vector<UrgentEntry>& entries) {
            if (!heap::is_heap<2>(entries, LargestFirst<UrgentBefore>{})) return false;
            q_.clear();
            for (const UrgentEntry& e : entries) q_.add(e);
            q_.build();
            return true;
        }

    private:
        TwoLaneQueue<UrgentEntry, UrgentFirst> q_;
    };
    struct UrgentGroup {
        std::int64_t slope;
        UrgentHeap heap;
        bool live = true;  // false: an emptied group whose id (and storage) waits for reuse
    };

    // A running vCPU an urgent VM may preempt, with its place in the victim
    // order at one instant: the largest (free, neg_lag, deadline, slot) goes
    // first; free = its VM has no reserved rate, neg_lag = -D (0 if free).
    // Within an instant those keys do not change (D is continuous and res_u
    // changes only at a recompute), so one heap per instant serves every
    // urgent preemption of the instant.
    struct Victim {
        bool free;
        std::int64_t neg_lag, deadline;
        std::uint32_t slot, gen;
    };
    struct VictimBefore {
        bool operator()(const Victim& x, const Victim& y) const {  // x below y in the max-heap
            if (x.free != y.free) return y.free;
            if (x.neg_lag != y.neg_lag) return x.neg_lag < y.neg_lag;
            if (x.deadline != y.deadline) return x.deadline < y.deadline;
            return x.slot < y.slot;
        }
    };

    explicit ReservationAccounts(std::int64_t slice_ns) : slice_(slice_ns) {}

    std::vector<Account>& accounts() { return accounts_; }
    const std::vector<Account>& accounts() const { return accounts_; }
    Account& operator[](std::size_t slot) { return accounts_[slot]; }
    const Account& operator[](std::size_t slot) const { return accounts_[slot]; }

    // F = max(1, slice // 2) * 10^6 and P = max(1, slice // 4) ns.
    std::int64_t floor() const { return std::max<std::int64_t>(1, slice_ / 2) * kMicro; }
    std::int64_t protect() const { return std::max<std::int64_t>(1, slice_ / 4); }
    // dD/dt = res_u - running * 10^6.
    static std::int64_t slope(const Account& a, std::int64_t running) { return a.res_u - running * kMicro; }
    // D(t), clamped to [-F, kLagMax]. (Inline: the urgency checks of every
    // urgent pick and victim call it.)
    std::int64_t lag_at(const Account& a, std::int64_t running, std::int64_t t) const {
        const i128 lag =
            static_cast<i128>(a.lag) + static_cast<i128>(slope(a, running)) * static_cast<i128>(t - a.time);
        const i128 low = -static_cast<i128>(floor());
        return static_cast<std::int64_t>(lag > kLagMax ? kLagMax : (lag < low ? low : lag));
    }
    void bring(Account& a, std::int64_t running, std::int64_t t) const {
        a.lag = lag_at(a, running, t);
        a.time = t;
    }
    bool urgent(const Account& a, std::int64_t running, std::int64_t now) const {
        return slope(a, running) > 0 && lag_at(a, running, now) >= 0;
    }
    // A new reservation starts a new account at t: neither owed nor ahead.
    static void restart(Account& a, std::int64_t t) {
        a.lag = 0;
        a.time = t;
    }

    // The urgent groups, all at time now (which never decreases). An emptied
    // group is freed: its id and storage go to the next new slope (on hosts of
    // alike reserved VMs the one group empties and refills often).
    void push_urgent(std::int64_t slope, const UrgentEntry& e, std::int64_t now);
    void drop_urgent_top(std::uint32_t group, std::int64_t now);
    // Sets a group top aside for one pick (put back by put_back_skipped()).
    void skip_urgent_top(std::uint32_t group, std::int64_t now);
    void put_back_skipped(std::int64_t now);
    // The live group whose top has the largest lag at now (ties: the smaller VM), or KineticMax::kNone.
    std::uint32_t best_group(std::int64_t now);
    // Drops stale entries once they outnumber 4x the VMs (+ 64): at most one
    // entry per VM is current, so this keeps a quarter or more.
    void drop_stale_urgent_if_many(std::int64_t now);
    // The slope index and the ranking of the group tops, from `groups` (after a restore).
    void rebuild_urgent_index(std::int64_t now);
    // Renumbers VM slots (vm_map[old] = new, or kGone) after the core's compaction.
    void remap_slots(const std::vector<std::uint32_t>& vm_map, std::uint32_t gone, std::int64_t now);
    std::size_t memory_bytes() const;

    std::vector<std::uint32_t> listed_vms;  // VMs that ever had a reservation (pruned at recompute)
    std::vector<UrgentGroup> groups;        // by group id; the live ones are non-empty
    std::size_t urgent_entries = 0;         // entries in all groups, stale included
    // Each live group's top at now, ranked: D = intercept + slope * now, equal
    // values to the smaller VM (the tie key). Lines of different slopes cross,
    // so a kinetic tournament (containers/kinetic_max.hpp): O(log groups) per
    // change of a top, where comparing every group's top at each pick cost
    // O(groups) (hosts whose VMs reserve different amounts have one group per VM).
    // Kept while two or more groups are live (tops_kept_).
    KineticMax tops;
    // Rule 6's decision points, (time, vm), possibly stale (a stale one only
    // adds a decision point at which nothing is due): a VM may turn urgent, a
    // reserved VM is released by its limit (events); a reserved run's protection ends
    // (protect_events: now + P, pushed in time order, so always the O(1) run
    // lane, and kept apart so that the other kinds do not push it into the
    // heap lane). What an event means is not stored: at its time the VM is
    // checked, whichever kind it was, so entries may sit in either queue.
    TwoLaneQueue<Key, Before> events;
    TwoLaneQueue<Key, Before> protect_events;
    // Drops the entries due by `now` (decide() has handled them) and returns the earliest
    // later time, or kNever.
    std::int64_t next_event_after(std::int64_t now);
    std::int64_t active = 0;                // live VMs with res_u > 0
    // The victims at instant victims_time (-1: none built): runs that did not
    // start overdue; scratch, rebuilt at the first urgent preemption of each
    // decision (not part of a checkpoint).
    using VictimHeap = DaryHeap<Victim, LargestFirst<VictimBefore>>;
    VictimHeap victims;
    std::int64_t victims_time = -1;
    // How the instant's victims are found (scratch, only speed depends on it):
    // the instant of the last search, its searches so far, and whether this
    // instant's first search builds the heap (the last instant needed two or more).
    std::int64_t victim_instant = -1;
    std::int64_t victim_calls = 0;
    bool build_at_once = false;
    void push_victim(const Victim& v);

private:
    std::int64_t slice_;
    std::vector<Account> accounts_;  // by VM slot
    struct Skipped {
        std::int64_t slope;
        UrgentEntry entry;
    };
    std::vector<Skipped> skipped_;  // scratch of a pick
    std::unordered_map<std::int64_t, std::uint32_t> group_of_slope_;  // the live groups, one per slope
    std::vector<std::uint32_t> free_groups_;  // ids of freed groups
    std::uint32_t last_group_ = 0;            // the group push_urgent() used last (a hint)
    void refresh_top(std::uint32_t group, std::int64_t now);  // tops after its top changed
    void keep_tops(std::int64_t now);
    std::uint32_t group_of(std::int64_t slope, std::int64_t now);
    bool tops_kept_ = false;  // tops holds every live group's top (two or more live groups)
};

}  // namespace vsched::sched
