// Rule 6 of docs/engines/scheduler.md: reservation accounts, urgency, the
// urgent pick and its victim (vsched/scheduler/reservations.hpp carries the
// account's formula block; the overdue exception and the bound are stated in
// the docs page).
//
//   dD/dt = res_u - running * 10^6,  D >= -F,  F = max(1, slice // 2) * 10^6
//   urgent = D >= 0 && running * 10^6 < res_u
//   reserved run <= F / 10^6 ns, protected for P = max(1, slice // 4) ns
//   while an overdue vCPU (deadline <= now) of an unheld VM is queued, the EEVDF pick goes
//       first; it is an urgent pick (it may preempt) if its VM is urgent
//   while some VM has a reserved rate, a run that starts overdue at rate < 10^6 lasts
//       <= max(P, (lag - request * 10^6) // (10^6 - rate) + 1) ns
//   victim: the largest (VM has no reservation, -D, deadline, vm, vcpu) among unprotected
//           runs of non-urgent VMs that did not start overdue (deadline <= run start)
//
// Termination of a decision. Count the unprotected runs that did not start
// overdue (psi). An urgent preemption happens only while no overdue vCPU is
// queued or the first one (the EEVDF pick) is an urgent VM's; it removes such
// a run, and the pCPU goes to the urgent VM's vCPU (still pickable: the
// victim's VM is another one, and the victim, queued again, is not overdue:
// its lag only fell while it ran) — a protected reserved run — or, if the
// victim's refund released a VM with an overdue vCPU of a smaller deadline,
// to that vCPU, whose run starts overdue: psi drops by 1 and no borrowed run
// is added. A borrowed preemption removes a borrowed run and
// raises psi by at most the one it removed. So an instant has at most
// borrowed + pCPUs preemptions.
#include "vsched/scheduler/reservations.hpp"

#include <algorithm>

#include "vsched/scheduler.hpp"

namespace vsched {

namespace sched {

void ReservationAccounts::refresh_top(std::uint32_t g, std::int64_t now) {
    if (!tops_kept_) return;  // one group: it is the best by itself
    const UrgentEntry& top = groups[g].heap.top();
    tops.insert(g, top.intercept, groups[g].slope, top.vm, now);
}

// tops is kept while two or more groups are live (alike VMs share one group,
// whose queue alone gives the best: no ranking to keep up).
void ReservationAccounts::keep_tops(std::int64_t now) {
    tops.clear();
    tops_kept_ = true;
    for (std::uint32_t g = 0; g < groups.size(); ++g) {
        if (groups[g].live && !groups[g].heap.empty()) refresh_top(g, now);
    }
}

std::uint32_t ReservationAccounts::best_group(std::int64_t now) {
    if (tops_kept_) return tops.top(now);
    return group_of_slope_.empty() ? KineticMax::kNone : group_of_slope_.begin()->second;  // the one live group
}

void ReservationAccounts::push_urgent(std::int64_t slope, const UrgentEntry& e, std::int64_t now) {
    std::uint32_t g = last_group_;  // alike VMs share one group: no lookup
    if (g >= groups.size() || !groups[g].live || groups[g].slope != slope) g = group_of(slope, now);
    last_group_ = g;
    UrgentHeap& heap = groups[g].heap;
    const bool new_top = heap.empty() || UrgentFirst{}(e, heap.top());
    heap.push(e);
    ++urgent_entries;
    if (new_top) refresh_top(g, now);
}

// The live group of this slope, or a new one.
std::uint32_t ReservationAccounts::group_of(std::int64_t slope, std::int64_t now) {
    const auto found = group_of_slope_.find(slope);
    if (found != group_of_slope_.end()) return found->second;
    std::uint32_t g;
    if (free_groups_.empty()) {
        g = static_cast<std::uint32_t>(groups.size());
        groups.push_back(UrgentGroup{slope, {}, true});
    } else {
        g = free_groups_.back();  // its storage, emptied, is reused
        free_groups_.pop_back();
        groups[g].slope = slope;
        groups[g].live = true;
    }
    group_of_slope_.emplace(slope, g);
    if (group_of_slope_.size() == 2) keep_tops(now);
    return g;
}

void ReservationAccounts::drop_urgent_top(std::uint32_t g, std::int64_t now) {
    UrgentGroup& group = groups[g];
    group.heap.pop();
    --urgent_entries;
    if (!group.heap.empty()) {
        refresh_top(g, now);
        return;
    }
    group.live = false;
    group_of_slope_.erase(group.slope);
    free_groups_.push_back(g);
    if (tops_kept_) tops.erase(g, now);
    if (group_of_slope_.size() < 2) tops_kept_ = false;
}

void ReservationAccounts::skip_urgent_top(std::uint32_t g, std::int64_t now) {
    skipped_.push_back(Skipped{groups[g].slope, groups[g].heap.top()});
    drop_urgent_top(g, now);
}

// A skipped entry is current, so its group's slope is still its VM's slope.
void ReservationAccounts::put_back_skipped(std::int64_t now) {
    for (const Skipped& s : skipped_) push_urgent(s.slope, s.entry, now);
    skipped_.clear();
}

void ReservationAccounts::drop_stale_urgent_if_many(std::int64_t now) {
    if (urgent_entries <= 4 * accounts_.size() + 64) return;
    for (UrgentGroup& g : groups) {
        if (g.live) g.heap.filter_map([&](const UrgentEntry& e) { return e.version == accounts_[e.vm].version; });
    }
    rebuild_urgent_index(now);
}

// Drops the emptied groups and renumbers the others densely, in their order.
// Groups of one slope (none that this class makes; a restored state could
// hold them) are merged: a group is only an index of its entries.
void ReservationAccounts::rebuild_urgent_index(std::int64_t now) {
    group_of_slope_.clear();
    std::size_t kept = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        UrgentGroup& group = groups[g];
        if (!group.live || group.heap.empty()) continue;
        const auto [at, added] = group_of_slope_.emplace(group.slope, static_cast<std::uint32_t>(kept));
        if (added) {
            if (kept != g) groups[kept] = std::move(group);
            ++kept;
        } else {
            group.heap.for_each([&](const UrgentEntry& e) { groups[at->second].heap.push(e); });
        }
    }
    groups.resize(kept);
    free_groups_.clear();
    tops = KineticMax{};
    tops_kept_ = false;
    urgent_entries = 0;
    for (const UrgentGroup& group : groups) urgent_entries += group.heap.size();
    last_group_ = 0;
    if (groups.size() >= 2) keep_tops(now);
}

void ReservationAccounts::remap_slots(const std::vector<std::uint32_t>& vm_map, std::uint32_t gone,
                                      std::int64_t now) {
    // (accounts_ is compacted by the caller, beside the VM records.)
    auto vm_entry = [&](Key& e) {
        e.slot = vm_map[e.slot];
        return e.slot != gone;
    };
    events.filter_map(vm_entry);
    protect_events.filter_map(vm_entry);
    listed_vms.erase(std::remove_if(listed_vms.begin(), listed_vms.end(),
                                    [&](std::uint32_t& id) { return (id = vm_map[id]) == gone; }),
                     listed_vms.end());
    for (UrgentGroup& g : groups) {
        if (g.live) g.heap.filter_map([&](UrgentEntry& e) { return (e.vm = vm_map[e.vm]) != gone; });
    }
    rebuild_urgent_index(now);
}

std::int64_t ReservationAccounts::next_event_after(std::int64_t now) {
    while (!events.empty() && events.front().a <= now) events.pop();
    while (!protect_events.empty() && protect_events.front().a <= now) protect_events.pop();
    std::int64_t t = kNever;
    if (!events.empty()) t = events.front().a;
    if (!protect_events.empty() && protect_events.front().a < t) t = protect_events.front().a;
    return t;
}

void ReservationAccounts::push_victim(const Victim& v) {
    victims.push(v);
}

std::size_t ReservationAccounts::memory_bytes() const {
    std::size_t bytes = accounts_.capacity() * sizeof(Account) + listed_vms.capacity() * sizeof(std::uint32_t) +
                        groups.capacity() * sizeof(UrgentGroup) + skipped_.capacity() * sizeof(Skipped) +
                        victims.capacity() * sizeof(Victim) + tops.memory_bytes() +
                        free_groups_.capacity() * sizeof(std::uint32_t) +
                        group_of_slope_.size() * (sizeof(std::int64_t) + sizeof(std::uint32_t) + 2 * sizeof(void*)) +
                        events.memory_bytes() + protect_events.memory_bytes();
    for (const UrgentGroup& g : groups) bytes += g.heap.capacity() * sizeof(UrgentEntry);
    return bytes;
}

}  // namespace sched

namespace {
// The shared units and helpers (vsched/scheduler/common.hpp), by their own names.
using sched::ceil_div;
using sched::i128;
using sched::kLagMax;
using sched::kMicro;
using sched::kNever;
using sched::min_never;
}  // namespace

// ---- the scheduler's side of rule 6 ---------------------------------------------------------

// After a change of a reserved VM's running count, rate or lag at now: it may
// be urgent now (listed in the urgent groups), or at the time its lag reaches 0.
void CpuScheduler::res_changed(std::uint32_t vm_id) {
    sched::ReservationAccounts::Account& a = res_[vm_id];
    if (a.res_u == 0) return;  // no reserved rate: cannot be urgent, nothing to schedule
    // Its lag line may have changed: older entries go stale. If it is urgent
    // now it is listed now; otherwise it can only become so when its lag
    // reaches 0 (the event below) or at a later change (another call here).
    ++a.version;
    a.in_urgent = false;
    if (urgent(vm_id)) list_urgent(vm_id);
    const std::int64_t slope = res_slope(vm_id);
    if (slope > 0 && a.lag < 0) {
        res_.events.push(Key{min_never(now_ + ceil_div(-static_cast<i128>(a.lag), slope)), vm_id, 0});
    }
    // An urgent VM's release (only VMs with a reserved rate get here).
    const sched::LimitBucket::Account& b = limits_[vm_id];
    if (b.bound && b.held_until > now_ && b.held_until < kNever) res_.events.push(Key{b.held_until, vm_id, 0});
}

// Adds the current entry of VM vm_id (urgent now, not yet listed).
void CpuScheduler::list_urgent(std::uint32_t vm_id) {
    sched::ReservationAccounts::Account& a = res_[vm_id];
    const std::int64_t slope = res_slope(vm_id);
    res_.push_urgent(slope, {static_cast<i128>(a.lag) - static_cast<i128>(slope) * a.time, vm_id, a.version}, now_);
    a.in_urgent = true;
    res_.drop_stale_urgent_if_many(now_);
}

std::int64_t CpuScheduler::queued_with_earliest_deadline(const Vm& m) const {
    std::int64_t pick = -1;
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const std::uint32_t slot = m.first + k;
        const Vcpu& v = vcpus_[slot];
        if (v.state != kQueued) continue;
        if (pick < 0 || v.deadline < vcpus_[pick].deadline) pick = slot;
    }
    return pick;
}

// The queued vCPU of an urgent, unheld VM smallest in (-D, vm, deadline, vcpu);
// -1 if none. The best group top at now comes from `tops`; group tops that
// are stale or no longer urgent are dropped (a VM becomes urgent again only
// at a res_changed() or at its event time, which list it again); held VMs and
// VMs without a queued vCPU are set aside for this pick and put back.
std::int64_t CpuScheduler::urgent_pick() {
    auto& groups = res_.groups;
    std::int64_t best = -1;
    for (;;) {
        const std::uint32_t g = res_.best_group(now_);
        if (g == KineticMax::kNone) break;
        const auto& top = groups[g].heap.top();
        sched::ReservationAccounts::Account& a = res_[top.vm];
        if (top.version != a.version || !vms_[top.vm].alive || !urgent(top.vm)) {
            if (top.version == a.version) a.in_urgent = false;
            res_.drop_urgent_top(g, now_);
            continue;
        }
        // Clamped lags (at kLagMax) would tie where the lines do not: the
        // plain scan decides those (in practice never reached). The best top
        // is the largest line, so no other is clamped if it is not.
        if (top.intercept + static_cast<i128>(groups[g].slope) * now_ >= kLagMax) {
            res_.put_back_skipped(now_);
            return urgent_pick_by_scan();
        }
        const std::uint32_t vm = top.vm;
        const std::int64_t pick = held(vm) ? -1 : queued_with_earliest_deadline(vms_[vm]);
        if (pick >= 0) {
            best = pick;
            break;
        }
        res_.skip_urgent_top(g, now_);  // not pickable now: aside until this pick is done
    }
    res_.put_back_skipped(now_);
    return best;
}

// The rule by brute force over every current entry (see urgent_pick()).
std::int64_t CpuScheduler::urgent_pick_by_scan() {
    std::int64_t best = -1, best_lag = 0;
    std::uint32_t best_vm = 0;
    for (const auto& group : res_.groups) {
        group.heap.for_each([&](const sched::ReservationAccounts::UrgentEntry& e) {
            const Vm& m = vms_[e.vm];
            if (e.version != res_[e.vm].version || !m.alive || !urgent(e.vm) || held(e.vm)) return;
            const std::int64_t lag = res_lag_at(e.vm, now_);
            if (best >= 0 && (lag < best_lag || (lag == best_lag && e.vm > best_vm))) return;
            const std::int64_t pick = queued_with_earliest_deadline(m);
            if (pick < 0) return;
            best = pick;
            best_lag = lag;
            best_vm = e.vm;
        });
    }
    return best;
}

// A run's key in the victim order at now, if it may be a victim now: it did
// not start overdue, is not a reserved run younger than P (both in
// victim_from), and its VM is not urgent.
inline bool CpuScheduler::as_victim(const RunRecord& r, sched::ReservationAccounts::Victim& out) const {
    if (now_ < r.victim_from || urgent(r.vm)) return false;
    const bool free = res_[r.vm].res_u == 0;
    out = {free, free ? 0 : -res_lag_at(r.vm, now_), r.deadline, r.slot, r.gen};
    return true;
}

// The running vCPU an urgent VM preempts: the largest (VM has no reservation,
// -D if it has one, deadline, vm, vcpu) among the unprotected runs of
// non-urgent VMs that did not start overdue (deadline <= run start at
// dispatch; a running vCPU keeps the keys of its dispatch). -1 if none. A run
// that started overdue is never a victim: its vCPU was a whole request behind
// its fluid share and may be unable to catch up (a whole core per vCPU never
// does), so every preemption of it would be lost for good.
//
// The candidates come from runs_ (one record per running vCPU). An instant
// can have one urgent preemption per pCPU (a host whose reservations cover
// most of its pCPUs has ~100 per instant on 128 pCPUs), or just one (a host
// whose VMs reserve different amounts: they turn urgent at different times).
// The first is found by one pass, O(pCPUs); from the second on the candidates
// are put in a heap, once per instant, and each preemption then costs
// O(log pCPUs) (the next instant builds it at once if this one needed it;
// either way the victim is the largest candidate). In the heap a stopped run's entry goes stale
// by generation; a VM that turns urgent (it lost a running vCPU) has its
// entries dropped when they come to the top; a VM that stops being urgent
// (it gained one: dispatch) or a new unprotected run is added by
// add_victims_of(). A run's key cannot change within the instant.
std::int64_t CpuScheduler::urgency_victim() {
    auto& heap = res_.victims;
    if (res_.victim_instant != now_) {  // the instant's first preemption
        res_.build_at_once = res_.victim_calls >= 2;  // the last instant with preemptions had several
        res_.victim_instant = now_;
        res_.victim_calls = 0;
    }
    ++res_.victim_calls;
    if (res_.victims_time != now_) {
        if (!runs_kept_) keep_runs();
        // Each candidate with its key at now, to `take` (from the run records:
        // the search reads them and the VMs, not the vCPU records).
        auto candidates = [&](auto take) {
            sched::ReservationAccounts::Victim v;
            for (std::uint32_t k = 0; k < runs_count_; ++k) {
                if (as_victim(runs_[k], v)) take(v);
            }
        };
        if (res_.victim_calls == 1 && !res_.build_at_once) {
            // One pass for the largest: most instants of a host whose VMs
            // differ have one urgent preemption. A second one builds the heap
            // (from the candidates then: this pass's less the stopped run,
            // plus the dispatched VM's), and so does the next instant's first
            // (alike VMs fall due together: ~100 preemptions an instant).
            bool found = false;
            sched::ReservationAccounts::Victim best{};
            const sched::ReservationAccounts::VictimBefore before;
            candidates([&](const sched::ReservationAccounts::Victim& v) {
                if (!found || before(best, v)) best = v;
                found = true;
            });
            return found ? static_cast<std::int64_t>(best.slot) : -1;
        }
        heap.clear();
        candidates([&](const sched::ReservationAccounts::Victim& v) { heap.add(v); });
        heap.build();
        res_.victims_time = now_;
    }
    while (!heap.empty()) {
        const auto& e = heap.top();
        const Vcpu& u = vcpus_[e.slot];
        if (u.gen == e.gen && u.state == kRunning && !urgent(u.vm)) return e.slot;
        heap.pop();
    }
    return -1;
}

// After a dispatch at an instant whose victims are built: the VM's running,
// unprotected vCPUs that did not start overdue are victims again if it is not
// urgent (it may have just stopped being so; duplicates of an entry are
// harmless: same key, and the first one taken makes the others stale).
void CpuScheduler::add_victims_of(std::uint32_t vm_id) {
    if (urgent(vm_id)) return;
    const Vm& m = vms_[vm_id];
    sched::ReservationAccounts::Victim v;
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const Vcpu& u = vcpus_[m.first + k];
        if (u.state == kRunning && as_victim(runs_[u.run_pos], v)) res_.push_victim(v);
    }
}

// Rule 6's pick: the best urgent VM's vCPU, but while an overdue vCPU of an
// unheld VM is queued the EEVDF pick (the overdue vCPU with the smallest
// deadline) goes first; it is an urgent pick, and may preempt, if its VM is
// urgent (an urgent VM is not held back by its own overdue vCPU).
std::int64_t CpuScheduler::urgent_pick_now() {
    if (overdue_pickable()) {
        const std::uint32_t slot = eligible_.front().slot;
        return urgent(vcpus_[slot].vm) ? static_cast<std::int64_t>(slot) : -1;
    }
    return urgent_pick();
}

// Is a queued vCPU of an unheld VM a full request behind its fluid share
// (deadline <= now)? The smallest deadline is on top of eligible_ (an
// ineligible vCPU has lag < 0, so its deadline is in the future).
bool CpuScheduler::overdue_pickable() {
    return eligible_pickable() && eligible_.front().a <= now_;
}

}  // namespace vsched
