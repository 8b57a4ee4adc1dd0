// Rule 6 of docs/engines/scheduler.md: reservation accounts, urgency, the
// urgent pick and its victim (vsched/scheduler/reservations.hpp carries the
// account's formula block; the overdue exception and the bound are stated in
// the docs page).
//
//   dD/dt = res_u - running * 10^6,  D >= -F,  F = max(1, slice // 2) * 10^6
//   urgent = D >= 0 && running * 10^6 < res_u
//   reserved run <= F / 10^6 ns, protected for P = max(1, slice // 4) ns
//   no urgent pick while an overdue vCPU (deadline <= now) of an unheld VM is queued
//   victim: the largest (VM has no reservation, -D, deadline, vm, vcpu) among unprotected
//           runs of non-urgent VMs that did not start overdue (deadline <= run start)
//
// Termination of a decision. Count the unprotected runs that did not start
// overdue (psi). An urgent preemption happens only while no overdue vCPU is
// queued; it removes such a run, and the pCPU goes to the urgent VM's vCPU
// (still pickable: the victim's VM is another one, and the victim, queued
// again, is not overdue: its lag only fell while it ran) — a protected
// reserved run — or, if the victim's refund released a VM with an overdue
// vCPU, to that vCPU, whose run starts overdue: psi drops by 1 and no
// borrowed run is added. A borrowed preemption removes a borrowed run and
// raises psi by at most the one it removed. So an instant has at most
// borrowed + pCPUs preemptions.
#include "vsched/scheduler/reservations.hpp"

#include <algorithm>

#include "vsched/scheduler.hpp"

namespace vsched {

namespace sched {

void ReservationAccounts::push_urgent(std::int64_t slope, const UrgentEntry& e) {
    auto group = std::find_if(groups.begin(), groups.end(), [&](const UrgentGroup& g) { return g.slope == slope; });
    if (group == groups.end()) {
        groups.push_back(UrgentGroup{slope, {}});
        if (!spare_.empty()) {  // an emptied group's storage: no regrowth
            groups.back().heap = std::move(spare_.back());
            spare_.pop_back();
        }
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
    if (group.heap.empty()) erase_group(g);
}

void ReservationAccounts::erase_group(std::size_t g) {
    if (spare_.empty()) {
        spare_.push_back(std::move(groups[g].heap));
        spare_.back().clear();
    }
    groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(g));
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

void ReservationAccounts::push_victim(const Victim& v) {
    victims.push(v);
}

std::size_t ReservationAccounts::memory_bytes() const {
    std::size_t bytes = accounts_.capacity() * sizeof(Account) + listed_vms.capacity() * sizeof(std::uint32_t) +
                        groups.capacity() * sizeof(UrgentGroup) + skipped_.capacity() * sizeof(Skipped) +
                        victims.capacity() * sizeof(Victim) +
                        (spare_.empty() ? 0 : spare_.back().capacity() * sizeof(UrgentEntry)) +
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
std::int64_t CpuScheduler::urgent_pick() {
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
                res_.erase_group(g);
                continue;
            }
            const auto& top = group.heap.top();
            const i128 lag = top.intercept + static_cast<i128>(group.slope) * now_;
            // Clamped lags (at kLagMax) would tie where the lines do not: the
            // plain scan decides those (in practice never reached).
            if (lag >= kLagMax) {
                res_.put_back_skipped();
                return urgent_pick_by_scan();
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
        const std::int64_t pick = held(vm) ? -1 : queued_with_earliest_deadline(vms_[vm]);
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

// The running vCPU an urgent VM preempts: the largest (VM has no reservation,
// -D if it has one, deadline, vm, vcpu) among the unprotected runs of
// non-urgent VMs that did not start overdue (deadline <= run start at
// dispatch; a running vCPU keeps the keys of its dispatch). -1 if none. A run
// that started overdue is never a victim: its vCPU was a whole request behind
// its fluid share and may be unable to catch up (a whole core per vCPU never
// does), so every preemption of it would be lost for good.
//
// An instant can have one urgent preemption per pCPU (a host whose
// reservations cover most of its pCPUs has ~100 per instant on 128 pCPUs), so
// the candidates are put in a heap once per instant, O(busy entries), and
// each preemption then costs O(log pCPUs): a stopped run's entry goes stale
// by generation; a VM that turns urgent (it lost a running vCPU) has its
// entries dropped when they come to the top; a VM that stops being urgent
// (it gained one: dispatch) or a new unprotected run is added by
// add_victims_of(). A run's key cannot change within the instant.
std::int64_t CpuScheduler::urgency_victim() {
    auto& heap = res_.victims;
    if (res_.victims_time != now_) {
        heap.clear();
        const std::int64_t protect = res_.protect();
        busy_.for_each([&](const Key& e) {
            const Vcpu& u = vcpus_[e.slot];
            if (u.gen != e.gen || u.state != kRunning || u.deadline <= u.run_start) return;
            if (u.reserved && now_ < u.run_start + protect) return;
            if (urgent(u.vm)) return;
            const bool free = res_[u.vm].res_u == 0;
            heap.add({free, free ? 0 : -res_lag_at(u.vm, now_), u.deadline, e.slot, e.gen});
        });
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
    const bool free = res_[vm_id].res_u == 0;
    const std::int64_t neg_lag = free ? 0 : -res_lag_at(vm_id, now_);
    const std::int64_t protect = res_.protect();
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const std::uint32_t slot = m.first + k;
        const Vcpu& u = vcpus_[slot];
        if (u.state != kRunning || u.deadline <= u.run_start || (u.reserved && now_ < u.run_start + protect)) {
            continue;
        }
        res_.push_victim({free, neg_lag, u.deadline, slot, u.gen});
    }
}

// Rule 6's pick: the best urgent VM's vCPU, but none while an overdue vCPU of
// an unheld VM is queued (it goes first: the EEVDF pick takes it).
std::int64_t CpuScheduler::urgent_pick_now() {
    if (overdue_pickable()) return -1;
    return urgent_pick();
}

// Is a queued vCPU of an unheld VM a full request behind its fluid share
// (deadline <= now)? The smallest deadline is on top of eligible_ (an
// ineligible vCPU has lag < 0, so its deadline is in the future).
bool CpuScheduler::overdue_pickable() {
    return eligible_pickable() && eligible_.front().a <= now_;
}

}  // namespace vsched
