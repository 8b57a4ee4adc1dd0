// Rule 6 of docs/engines/scheduler.md: reservation accounts, urgency, the
// urgent pick and its victim (vsched/scheduler/reservations.hpp carries the
// account's formula block; the overdue exception and the bound are stated in
// the docs page).
//
//   dD/dt = res_u - running * 10^6,  D >= -F,  F = max(1, slice // 2) * 10^6
//   urgent = D >= 0 && running * 10^6 < res_u
//   reserved run <= F / 10^6 ns, protected for P = max(1, slice // 4) ns
//   victim: the largest (did not start overdue, VM has no reservation, -D, deadline, vm, vcpu)
//           among unprotected runs of non-urgent VMs
//
// Termination of a decision. Count, among the unprotected runs, 2 for each
// that did not start overdue and 1 for each that did (psi). An urgent
// preemption removes such a run and adds a protected reserved run (the pick
// is an urgent VM's vCPU), or — its VM ahead, every urgent VM skipped — the
// EEVDF pick, an overdue vCPU, whose run an ahead VM may not take: psi drops
// by 1 or more and no borrowed run is added. A borrowed preemption removes a
// borrowed run (worth 2) and adds at most 2. So an instant has at most
// borrowed + 2 x pCPUs preemptions.
#include "vsched/scheduler/reservations.hpp"

#include <algorithm>

#include "vsched/scheduler.hpp"

namespace vsched {

namespace sched {

std::int64_t ReservationAccounts::lag_at(const Account& a, std::int64_t running, std::int64_t t) const {
    const i128 lag = static_cast<i128>(a.lag) + static_cast<i128>(slope(a, running)) * static_cast<i128>(t - a.time);
    const i128 low = -static_cast<i128>(floor());
    return static_cast<std::int64_t>(lag > kLagMax ? kLagMax : (lag < low ? low : lag));
}

void ReservationAccounts::push_urgent(std::int64_t slope, const UrgentEntry& e) {
    auto group = std::find_if(groups.begin(), groups.end(), [&](const UrgentGroup& g) { return g.slope == slope; });
    if (group == groups.end()) {
        groups.push_back(UrgentGroup{slope, {}});
        group = groups.end() - 1;
    }
    group->heap.push(e);
    ++urgent_entries;
}

void ReservationAccounts::drop_urgent_top(UrgentGroup& group) {
    group.heap.pop();
    --urgent_entries;
}

void ReservationAccounts::skip_urgent_top(std::size_t g) {
    UrgentGroup& group = groups[g];
    skipped_.push_back(Skipped{group.slope, group.heap.top()});
    drop_urgent_top(group);
    if (group.heap.empty()) groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(g));
}

// A skipped entry is current, so its group's slope is still its VM's slope.
void ReservationAccounts::put_back_skipped() {
    for (const Skipped& s : skipped_) push_urgent(s.slope, s.entry);
    skipped_.clear();
}

void ReservationAccounts::drop_stale_urgent_if_many() {
    if (urgent_entries <= 4 * accounts_.size() + 64) return;
    urgent_entries = 0;
    for (UrgentGroup& g : groups) {
        g.heap.filter_map([&](const UrgentEntry& e) { return e.version == accounts_[e.vm].version; });
        urgent_entries += g.heap.size();
    }
    groups.erase(std::remove_if(groups.begin(), groups.end(), [](const UrgentGroup& g) { return g.heap.empty(); }),
                 groups.end());
}

void ReservationAccounts::remap_slots(const std::vector<std::uint32_t>& vm_map, std::uint32_t gone) {
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
    urgent_entries = 0;
    for (UrgentGroup& g : groups) {
        g.heap.filter_map([&](UrgentEntry& e) { return (e.vm = vm_map[e.vm]) != gone; });
        urgent_entries += g.heap.size();
    }
    groups.erase(std::remove_if(groups.begin(), groups.end(), [](const UrgentGroup& g) { return g.heap.empty(); }),
                 groups.end());
}

std::int64_t ReservationAccounts::next_event_after(std::int64_t now) {
    while (!events.empty() && events.front().a <= now) events.pop();
    while (!protect_events.empty() && protect_events.front().a <= now) protect_events.pop();
    std::int64_t t = kNever;
    if (!events.empty()) t = events.front().a;
    if (!protect_events.empty() && protect_events.front().a < t) t = protect_events.front().a;
    return t;
}

void ReservationAccounts::push_victim(bool started_overdue, const Victim& v) {
    (started_overdue ? victims_overdue : victims_spare).push(v);
}

std::size_t ReservationAccounts::memory_bytes() const {
    std::size_t bytes = accounts_.capacity() * sizeof(Account) + listed_vms.capacity() * sizeof(std::uint32_t) +
                        groups.capacity() * sizeof(UrgentGroup) + skipped_.capacity() * sizeof(Skipped) +
                        (victims_spare.capacity() + victims_overdue.capacity()) * sizeof(Victim) +
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
    res_.push_urgent(slope, {static_cast<i128>(a.lag) - static_cast<i128>(slope) * a.time, vm_id, a.version});
    a.in_urgent = true;
    push_ahead_event(vm_id);
    res_.drop_stale_urgent_if_many();
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
// -1 if none. Group tops that are stale or no longer urgent are dropped (a VM
// becomes urgent again only at a res_changed() or at its event time, which
// list it again); held VMs and VMs without a queued vCPU are set aside for
// this pick and put back.
std::int64_t CpuScheduler::urgent_pick(bool skip_ahead) {
    auto& groups = res_.groups;
    std::int64_t best = -1;
    for (;;) {
        constexpr std::size_t kNone = static_cast<std::size_t>(-1);
        std::size_t best_group = kNone;
        i128 best_lag = 0;
        for (std::size_t g = 0; g < groups.size();) {
            auto& group = groups[g];
            while (!group.heap.empty()) {
                const auto& top = group.heap.top();
                sched::ReservationAccounts::Account& a = res_[top.vm];
                if (top.version == a.version && vms_[top.vm].alive && urgent(top.vm)) break;
                if (top.version == a.version) a.in_urgent = false;
                res_.drop_urgent_top(group);
            }
            if (group.heap.empty()) {
                groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(g));
                continue;
            }
            const auto& top = group.heap.top();
            const i128 lag = top.intercept + static_cast<i128>(group.slope) * now_;
            // Clamped lags (at kLagMax) would tie where the lines do not: the
            // plain scan decides those (in practice never reached).
            if (lag >= kLagMax) {
                res_.put_back_skipped();
                return urgent_pick_by_scan(skip_ahead);
            }
            if (best_group == kNone || lag > best_lag ||
                (lag == best_lag && top.vm < groups[best_group].heap.top().vm)) {
                best_group = g;
                best_lag = lag;
            }
            ++g;
        }
        if (best_group == kNone) break;
        const std::uint32_t vm = groups[best_group].heap.top().vm;
        const bool skip = held(vm) || (skip_ahead && ahead_of_fluid(vms_[vm]));
        const std::int64_t pick = skip ? -1 : queued_with_earliest_deadline(vms_[vm]);
        if (pick >= 0) {
            best = pick;
            break;
        }
        res_.skip_urgent_top(best_group);  // not pickable now: aside until this pick is done
    }
    res_.put_back_skipped();
    return best;
}

// The rule by brute force over every current entry (see urgent_pick()).
std::int64_t CpuScheduler::urgent_pick_by_scan(bool skip_ahead) {
    std::int64_t best = -1, best_lag = 0;
    std::uint32_t best_vm = 0;
    for (const auto& group : res_.groups) {
        for (const auto& e : group.heap.entries()) {
            const Vm& m = vms_[e.vm];
            if (e.version != res_[e.vm].version || !m.alive || !urgent(e.vm) || held(e.vm)) continue;
            if (skip_ahead && ahead_of_fluid(m)) continue;
            const std::int64_t lag = res_lag_at(e.vm, now_);
            if (best >= 0 && (lag < best_lag || (lag == best_lag && e.vm > best_vm))) continue;
            const std::int64_t pick = queued_with_earliest_deadline(m);
            if (pick < 0) continue;
            best = pick;
            best_lag = lag;
            best_vm = e.vm;
        }
    }
    return best;
}

// The running vCPUs an urgent VM may preempt, largest in (did not start
// overdue, VM has no reservation, -D if it has one, deadline, vm, vcpu): among
// every unprotected run of a non-urgent VM (any), and among those that did not
// start overdue (spare; overdue: deadline <= run start at dispatch, a running
// vCPU keeps the keys of its dispatch). -1 if none.
//
// An instant can have one urgent preemption per pCPU (a host whose
// reservations cover most of its pCPUs has ~100 per instant on 128 pCPUs), so
// the candidates are put in two heaps once per instant, O(busy entries), and
// each preemption then costs O(log pCPUs): a stopped run's entry goes stale
// by generation; a VM that turns urgent (it lost a running vCPU) has its
// entries dropped when they come to the top; a VM that stops being urgent
// (it gained one: dispatch) or a new unprotected run is added by
// add_victims_of(). A run's key cannot change within the instant.
CpuScheduler::Victims CpuScheduler::urgency_victims() {
    if (res_.victims_time != now_) {
        res_.victims_spare.clear();
        res_.victims_overdue.clear();
        const std::int64_t protect = res_.protect();
        busy_.for_each([&](const Key& e) {
            const Vcpu& u = vcpus_[e.slot];
            if (u.gen != e.gen || u.state != kRunning) return;
            if (u.reserved && now_ < u.run_start + protect) return;
            if (urgent(u.vm)) return;
            const bool free = res_[u.vm].res_u == 0;
            const sched::ReservationAccounts::Victim victim{free, free ? 0 : -res_lag_at(u.vm, now_), u.deadline,
                                                           e.slot, e.gen};
            (u.deadline <= u.run_start ? res_.victims_overdue : res_.victims_spare).add(victim);
        });
        res_.victims_spare.build();
        res_.victims_overdue.build();
        res_.victims_time = now_;
    }
    auto top = [&](sched::ReservationAccounts::VictimHeap& heap) -> std::int64_t {
        while (!heap.empty()) {
            const auto& e = heap.top();
            const Vcpu& u = vcpus_[e.slot];
            if (u.gen == e.gen && u.state == kRunning && !urgent(u.vm)) return e.slot;
            heap.pop();
        }
        return -1;
    };
    const std::int64_t spare = top(res_.victims_spare);
    // Runs that did not start overdue go first: a vCPU behind its fluid share
    // by a whole request may be unable to catch up (a whole core per vCPU).
    return Victims{spare >= 0 ? spare : top(res_.victims_overdue), spare};
}

// After a dispatch at an instant whose victims are built: the VM's running,
// unprotected vCPUs are victims again if it is not urgent (it may have just
// stopped being so; duplicates of an entry are harmless: same key, and the
// first one taken makes the others stale).
void CpuScheduler::add_victims_of(std::uint32_t vm_id) {
    if (urgent(vm_id)) return;
    const Vm& m = vms_[vm_id];
    const bool free = res_[vm_id].res_u == 0;
    const std::int64_t neg_lag = free ? 0 : -res_lag_at(vm_id, now_);
    const std::int64_t protect = res_.protect();
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const std::uint32_t slot = m.first + k;
        const Vcpu& u = vcpus_[slot];
        if (u.state != kRunning || (u.reserved && now_ < u.run_start + protect)) continue;
        res_.push_victim(u.deadline <= u.run_start, {free, neg_lag, u.deadline, slot, u.gen});
    }
}

// Rule 6's pick: the best urgent VM's vCPU, skipping VMs ahead of their fluid
// share while an overdue vCPU of an unheld VM is queued (it goes first).
std::int64_t CpuScheduler::urgent_pick_now() {
    const std::int64_t slot = urgent_pick(false);
    if (slot < 0 || !ahead_of_fluid(vms_[vcpus_[slot].vm]) || !overdue_pickable()) return slot;
    return urgent_pick(true);
}

// Sum of the VM's vCPU lags at now < 0: it has received more than its fluid
// share. The lags are taken unclamped, so the sum is exactly linear in time
// between changes of the VM and push_ahead_event() can say when it turns.
bool CpuScheduler::ahead_of_fluid(const Vm& m) const {
    i128 total = 0;
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const Vcpu& v = vcpus_[m.first + k];
        if (v.state == kWait) continue;
        const i128 slope = v.state == kRunning ? v.rate - kMicro : v.rate;
        total += static_cast<i128>(v.lag) + slope * (now_ - v.lag_time);
    }
    return total < 0;
}

// An urgent VM ahead of its fluid share whose lag sum grows stops being ahead
// at now + ceil(-sum / slope): a decision point, since it may then be picked
// before an overdue vCPU or preempt a run that started overdue (rule 6).
// Pushed whenever the VM is listed as urgent (after each change of its lines).
void CpuScheduler::push_ahead_event(std::uint32_t vm_id) {
    const Vm& m = vms_[vm_id];
    i128 total = 0, slope = 0;
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const Vcpu& v = vcpus_[m.first + k];
        if (v.state == kWait) continue;
        const i128 s = v.state == kRunning ? v.rate - kMicro : v.rate;
        total += static_cast<i128>(v.lag) + s * (now_ - v.lag_time);
        slope += s;
    }
    if (total < 0 && slope > 0) res_.events.push(Key{min_never(now_ + ceil_div(-total, slope)), vm_id, 0});
}

// Is a queued vCPU of an unheld VM a full request behind its fluid share
// (deadline <= now)? The smallest deadline is on top of eligible_ (an
// ineligible vCPU has lag < 0, so its deadline is in the future).
bool CpuScheduler::overdue_pickable() {
    return eligible_pickable() && eligible_.front().a <= now_;
}

}  // namespace vsched
