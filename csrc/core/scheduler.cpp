// vCPU fair-share scheduler, the core loop: EEVDF over many pCPUs with
// shares, reservations and limits. The rules are numbered once, in
// docs/engines/scheduler.md ("Rules"); each function carries the formula it
// computes and the rule number. The pure-Python twin
// (src/vsched/reference/scheduler.py, with scheduler_limits.py and
// scheduler_reservations.py) follows the same rules with plain scans; both
// must produce identical integer stats.
//
// Units. Time: integer ns. Rates: integer micro-cores (1 core = sched::kMicro = 10^6).
// Lag and limit credit: micro-core-ns (1 core running 1 ns = 10^6). Integers
// everywhere; the only float step is the fair-share kernel (rule 1), which is
// bit-identical to its reference, and its result is floored to micro-cores.
//
// Where each rule lives:
//   1 fluid target   recompute(), recompute_full(), recompute_incremental()   rate_j = floor(a_i * 10^6) // demand_i
//   2 EEVDF keys     set_keys(), bring_lag()
//                    eligible = t + ceil(-lag / rate), deadline = t + ceil((request*10^6 - lag) / rate),
//                    deadline = eligible for a whole core (rate = 10^6)
//   3 decisions      decide(), dispatch_best(), pick_and_dispatch(), next_event(), dispatch(), stop();
//                    preemptions: borrowed runs by eligible (or urgent) vCPUs, unprotected runs
//                    by urgent VMs (rule 6); nothing else preempts
//   4 sleep          to_wait()                        lag in [-request*10^6, 0]
//   5 limit bucket   sched::LimitBucket (vsched/scheduler/limit_bucket.hpp) and apply_limit(),
//                    update_credit(), set_held_until(), park_if_held(), process_releases()
//                    (csrc/core/scheduler/limit_bucket.cpp): request = slice // max(1, ceil(limit))
//                    (>= 1: check_params), held while credit < max(1, request // 4) * 10^6,
//                    credit + unused grants <= room = slice*10^6 + min(2*slice*vcpus*10^6, max(0, vm_lag_at()))
//   6 reservation    sched::ReservationAccounts (vsched/scheduler/reservations.hpp) and
//                    res_changed(), urgent_pick_now(), urgency_victim(), overdue_pickable()
//                    (csrc/core/scheduler/reservations.cpp)
//   7 accounting     flush(), vcpu_stats()
//
// Every condition a decision reads is constant between decision points or has
// one where it turns (rule 3), so a decision point with nothing due (a run()
// call's start, a stale queue entry) changes nothing: run() steps do not matter.
#include "vsched/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "vsched/errors.hpp"

namespace vsched {

namespace {

// The shared units and helpers (vsched/scheduler/common.hpp), by their own names.
using sched::ceil_div;
using sched::i128;
using sched::kLagMax;
using sched::kMicro;
using sched::kNever;
using sched::min_never;

constexpr std::int64_t MAX_TIME = std::int64_t{1} << 61;
constexpr std::int64_t MAX_PENDING = std::int64_t{1} << 62;
constexpr std::int64_t MAX_PCPUS = 1 << 16;
constexpr std::int64_t MAX_VCPUS = 1024;
constexpr std::int64_t MAX_SHARES = 1000000;
constexpr std::int64_t MAX_SLICE = 100000000000LL;

// A lag line's slope is within +-10^6 per ns (a rate is at most one core), so a
// line starting at |lag| <= kLagMax / 2 cannot reach the clamp within
// kLagHorizon ns: the full recompute sets lag_guard_ to now + kLagHorizon
// (every line starts anew there) and only lines starting beyond half the
// clamp lower it (rare: the check is one well-predicted branch per line).
constexpr std::int64_t kLagHorizon = kLagMax / 2 / kMicro;

// A lag line starts at time t with value lag: lowers guard if it starts beyond half the clamp.
inline void note_lag_line(std::int64_t& guard, std::int64_t lag, std::int64_t t) {
    const std::int64_t mag = lag < 0 ? -lag : lag;
    if (mag > kLagMax / 2) guard = std::min(guard, t + (kLagMax - mag) / kMicro);
}

inline std::int64_t clamp_lag(i128 x) {
    return static_cast<std::int64_t>(x > kLagMax ? kLagMax : (x < -kLagMax ? -kLagMax : x));
}

}  // namespace

CpuScheduler::CpuScheduler(std::int64_t pcpus, std::int64_t slice_ns, bool strict_reservations)
    : pcpus_(pcpus), slice_(slice_ns), strict_reservations_(strict_reservations), limits_(slice_ns), res_(slice_ns) {
    if (pcpus < 1 || pcpus > MAX_PCPUS) {
        throw std::invalid_argument(message("pcpus = ", pcpus, ": pcpus must be in [1, ", MAX_PCPUS, "]"));
    }
    if (slice_ns < 1 || slice_ns > MAX_SLICE) {
        throw std::invalid_argument(
            message("slice_ns = ", slice_ns, ": slice_ns must be in [1, ", MAX_SLICE, "]"));
    }
}

// ---- configuration -------------------------------------------------------------------------

CpuScheduler::Vm& CpuScheduler::vm_ref(std::int64_t vm) {
    const std::int64_t slot = slot_of(vm);  // VM ids and slots: scheduler_slots.cpp
    if (slot < 0) throw KeyError(message("vm = ", vm, ": no such VM"));
    return vms_[static_cast<std::size_t>(slot)];
}

// Reservations of the live VMs summed in id order (cached between changes).
double CpuScheduler::reserved_sum() const {
    return reserved_sum_.value([&] {
        double total = 0.0;
        for (const Vm& m : vms_) {
            if (m.alive) total += m.reservation;
        }
        return total;
    });
}

void CpuScheduler::check_params(std::int64_t vcpus, std::int64_t shares, double reservation, double limit,
                                std::int64_t skip) const {
    if (shares < 1 || shares > MAX_SHARES) {
        throw std::invalid_argument(message("shares = ", shares, ": shares must be in [1, ", MAX_SHARES, "]"));
    }
    if (!std::isfinite(reservation) || reservation < 0.0) {
        throw std::invalid_argument(
            message("reservation = ", format_number(reservation), ": reservation must be finite and >= 0"));
    }
    if (std::isnan(limit) || limit < 0.0) {
        throw std::invalid_argument(
            message("limit = ", format_number(limit), ": limit must be >= 0 (None for no limit)"));
    }
    // A limited VM runs in quanta of slice // ceil(limit) ns (rule 5): at least 1 ns.
    if (limit < static_cast<double>(vcpus) && limit > static_cast<double>(slice_)) {
        throw std::invalid_argument(message("limit = ", format_number(limit), ": a limit below the VM's ", vcpus,
                                            " vCPUs must be <= slice_ns = ", slice_,
                                            " (it runs in quanta of slice_ns // ceil(limit) ns)"));
    }
    if (reservation > static_cast<double>(vcpus)) {
        throw AdmissionError(
            message("reservation ", format_number(reservation), " exceeds the VM's ", vcpus, " vCPUs"));
    }
    if (limit < reservation) {
        throw AdmissionError(message("limit ", format_number(limit), " is below the reservation ",
                                     format_number(reservation)));
    }
    // Sum in VM id order, as the reference does, so both agree on the boundary.
    // The sum of the live VMs never exceeds pcpus (every change that could
    // raise it was checked; float addition of non-negative terms is monotone,
    // so removals and lower reservations cannot), hence: a new VM adds its
    // reservation to the cached ordered sum (it comes last in id order), and
    // a changed VM needs the full sum only if its reservation grows.
    double total = 0.0;
    if (skip < 0) {
        total = reserved_sum() + reservation;
    } else {
        if (!(reservation > vms_[static_cast<std::size_t>(skip)].reservation)) return;
        for (std::size_t i = 0; i < vms_.size(); ++i) {
            if (!vms_[i].alive) continue;
            total += static_cast<std::int64_t>(i) == skip ? reservation : vms_[i].reservation;
        }
    }
    if (total > static_cast<double>(pcpus_)) {
        throw AdmissionError(message("reservations would sum to ", format_number(total), " cores > ", pcpus_,
                                     " pCPUs (by ", format_number(total - static_cast<double>(pcpus_)), ")"));
    }
}

std::int64_t CpuScheduler::add_vm(std::int64_t vcpus, std::int64_t shares, double reservation, double limit) {
    if (vcpus < 1 || vcpus > MAX_VCPUS) {
        throw std::invalid_argument(message("vcpus = ", vcpus, ": vcpus must be in [1, ", MAX_VCPUS, "]"));
    }
    check_params(vcpus, shares, reservation, limit, -1);
    if (vms_.size() >= std::numeric_limits<std::uint32_t>::max() ||
        vcpus_.size() + static_cast<std::size_t>(vcpus) >= std::numeric_limits<std::uint32_t>::max()) {
        throw std::invalid_argument("too many VMs or vCPUs over the scheduler's lifetime");
    }
    const auto id = static_cast<std::uint32_t>(vms_.size());  // the slot; the VM id is next_id_
    Vm m;
    m.id = next_id_;
    m.first = static_cast<std::uint32_t>(vcpus_.size());
    m.vcpus = static_cast<std::uint32_t>(vcpus);
    m.shares = shares;
    m.reservation = reservation;
    m.limit = limit;
    vms_.push_back(m);
    limits_.accounts().emplace_back();
    res_.accounts().emplace_back();
    res_[id].time = now_;
    if (reservation > 0.0) {
        res_[id].listed = true;
        res_.listed_vms.push_back(id);
    }
    ids_.push_back(next_id_);
    reserved_sum_.append(reservation);  // the new VM is last in id order
    for (std::int64_t k = 0; k < vcpus; ++k) {
        Vcpu v;
        v.vm = id;
        v.index = static_cast<std::uint32_t>(k);
        v.since = now_;
        v.lag_time = now_;
        v.eligible = v.deadline = kNever;
        vcpus_.push_back(v);
    }
    scratch_pending_.resize(vcpus_.size(), -1);
    ++live_vms_;
    live_vcpus_ += static_cast<std::size_t>(vcpus);
    apply_limit(id);
    return next_id_++;
}

void CpuScheduler::set_vm(std::int64_t vm, std::optional<std::int64_t> shares, std::optional<double> reservation,
                          std::optional<double> limit) {
    Vm& m = vm_ref(vm);
    const auto slot = static_cast<std::uint32_t>(&m - vms_.data());
    const std::int64_t new_shares = shares.value_or(m.shares);
    const double new_reservation = reservation.value_or(m.reservation);
    const double new_limit = limit.value_or(m.limit);
    check_params(m.vcpus, new_shares, new_reservation, new_limit, slot);
    if (new_shares == m.shares && new_reservation == m.reservation && new_limit == m.limit) return;
    m.shares = new_shares;
    if (new_reservation != m.reservation) {
        reserved_sum_.invalidate();
        // A new reservation starts a new account: neither owed nor ahead (rule 6).
        sched::ReservationAccounts::restart(res_[slot], now_);
        if (!res_[slot].listed) {
            res_[slot].listed = true;
            res_.listed_vms.push_back(slot);
        }
    }
    m.reservation = new_reservation;
    if (new_limit != m.limit) {
        m.limit = new_limit;
        apply_limit(slot);
    }
    mark_dirty(static_cast<std::uint32_t>(slot));
}

void CpuScheduler::remove_vm(std::int64_t vm) {
    Vm& m = vm_ref(vm);
    reserved_sum_.invalidate();
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        Vcpu& v = vcpus_[m.first + k];
        if (v.state == kRunning) {
            --running_;
            borrowed_count_ -= v.borrowed;
            if (runs_kept_) remove_run(m.first + k);
        }
        ++v.gen;  // every heap entry of this vCPU is now stale
        v.state = kWait;
    }
    const auto slot = static_cast<std::uint32_t>(&m - vms_.data());
    if (m.demand > 0) mark_dirty(slot);
    res_.active -= res_[slot].res_u > 0;
    res_[slot].res_u = 0;
    m.alive = false;
    limits_[slot].parked.clear();
    limits_[slot].parked.shrink_to_fit();
    --live_vms_;
    live_vcpus_ -= m.vcpus;
    ++dead_vms_;
    dead_vcpus_ += m.vcpus;
    compact_if_sparse();  // slots of removed VMs are reused (scheduler_slots.cpp)
}

// ---- work -----------------------------------------------------------------------------------

void CpuScheduler::add_work(std::size_t n, const std::int64_t* vm, const std::int64_t* vcpu,
                            const std::int64_t* work_ns) {
    // Validate the whole batch first; scratch_pending_ holds the pending work
    // each touched vCPU would have (-1 = untouched), so repeated vCPUs in one
    // batch are checked against their running total. Reset on every exit.
    std::size_t touched = 0;
    scratch_slots_.resize(n);  // the VM slot of each item (ids resolved once)
    auto reset = [&]() {
        for (std::size_t k = 0; k < touched; ++k) {
            const Vm& m = vms_[scratch_slots_[k]];
            scratch_pending_[m.first + vcpu[k]] = -1;
        }
    };
    try {
        for (std::size_t k = 0; k < n; ++k) {
            const Vm& m = vm_ref(vm[k]);
            scratch_slots_[k] = static_cast<std::uint32_t>(&m - vms_.data());
            if (vcpu[k] < 0 || vcpu[k] >= static_cast<std::int64_t>(m.vcpus)) {
                throw std::out_of_range(
                    message("vcpu[", k, "] = ", vcpu[k], ": VM ", vm[k], " has ", m.vcpus, " vCPUs"));
            }
            const std::int64_t w = work_ns[k];
            if (w < 0) {
                throw std::invalid_argument(
                    message("work_ns[", k, "] = ", w, ": work_ns must be >= 0 (or vsched.FOREVER)"));
            }
            std::int64_t& slot_pending = scratch_pending_[m.first + vcpu[k]];
            ++touched;
            std::int64_t pending = slot_pending >= 0 ? slot_pending : vcpus_[m.first + vcpu[k]].pending;
            if (pending != kForever) {
                if (w == kForever) {
                    pending = kForever;
                } else {
                    // pending < 2^62 here; compare before adding so nothing overflows.
                    if (w >= MAX_PENDING - pending) {
                        throw std::invalid_argument(message(
                            "work_ns[", k, "] = ", w, ": queued work of the vCPU would reach 2**62 ns"));
                    }
                    pending += w;
                }
            }
            slot_pending = pending;
        }
    } catch (...) {
        reset();
        throw;
    }
    reset();
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t w = work_ns[k];
        if (w == 0) continue;
        Vcpu& v = vcpus_[vms_[scratch_slots_[k]].first + vcpu[k]];
        const bool was_idle = v.pending == 0;
        v.pending = (v.pending == kForever || w == kForever) ? kForever : v.pending + w;
        if (was_idle) wake(v);
    }
}

void CpuScheduler::clear_work(std::int64_t vm, std::optional<std::int64_t> vcpu) {
    Vm& m = vm_ref(vm);
    std::uint32_t lo = 0, hi = m.vcpus;
    if (vcpu) {
        if (*vcpu < 0 || *vcpu >= static_cast<std::int64_t>(m.vcpus)) {
            throw std::out_of_range(message("vcpu = ", *vcpu, ": VM ", vm, " has ", m.vcpus, " vCPUs"));
        }
        lo = static_cast<std::uint32_t>(*vcpu);
        hi = lo + 1;
    }
    for (std::uint32_t k = lo; k < hi; ++k) clear_vcpu(m.first + k);
}

void CpuScheduler::clear_all_work() {
    for (const Vm& m : vms_) {
        if (!m.alive) continue;
        for (std::uint32_t k = 0; k < m.vcpus; ++k) clear_vcpu(m.first + k);
    }
}

// Drops the vCPU's queued work: a running one stops at now, a queued one waits.
void CpuScheduler::clear_vcpu(std::uint32_t slot) {
    if (vcpus_[slot].state == kRunning) stop(slot, now_);
    Vcpu& v = vcpus_[slot];
    if (v.state == kQueued) {
        flush(v, now_);
        to_wait(v, now_);
    }
    v.pending = 0;
}

void CpuScheduler::set_limits(std::size_t n, const std::int64_t* vm, const double* limit) {
    // Validate every item first (the reservations they are checked against do
    // not change within the batch), then apply.
    scratch_slots_.resize(n);  // the VM slot of each item (ids resolved once)
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t slot = slot_of(vm[k]);
        if (slot < 0) throw KeyError(message("vms[", k, "] = ", vm[k], ": no such VM"));
        scratch_slots_[k] = static_cast<std::uint32_t>(slot);
        const double l = limit[k];
        if (std::isnan(l) || l < 0.0) {
            throw std::invalid_argument(
                message("limits[", k, "] = ", format_number(l), ": limit must be >= 0 (inf for no limit)"));
        }
        const Vm& m = vms_[scratch_slots_[k]];
        if (l < static_cast<double>(m.vcpus) && l > static_cast<double>(slice_)) {  // rule 5's quantum >= 1 ns
            throw std::invalid_argument(message("limits[", k, "] = ", format_number(l), ": a limit below VM ", vm[k],
                                                "'s ", m.vcpus, " vCPUs must be <= slice_ns = ", slice_));
        }
        if (l < m.reservation) {
            throw AdmissionError(message("limits[", k, "] = ", format_number(l), " is below VM ", vm[k],
                                         "'s reservation ", format_number(m.reservation)));
        }
    }
    for (std::size_t k = 0; k < n; ++k) {
        Vm& m = vms_[scratch_slots_[k]];
        if (limit[k] == m.limit) continue;
        m.limit = limit[k];
        apply_limit(scratch_slots_[k]);
        mark_dirty(scratch_slots_[k]);
    }
}

// ---- decisions (rule 3) -------------------------------------------------------------------

void CpuScheduler::run(std::int64_t duration_ns, Interrupt* interrupt) {
    if (duration_ns < 0) {
        throw std::invalid_argument(message("duration_ns = ", duration_ns, ": duration_ns must be >= 0"));
    }
    if (duration_ns > MAX_TIME - now_) {
        throw std::invalid_argument(
            message("duration_ns = ", duration_ns, ": simulated time would pass 2**61 ns"));
    }
    const std::int64_t end = now_ + duration_ns;
    InterruptPoll poll(interrupt);
    decide();
    for (;;) {
        const std::int64_t t = next_event();
        if (t > end) break;
        poll();  // between two instants: the state is exactly that of a run() that ended at now_
        now_ = t;
        // (a) every run ending at t stops (the order among them does not
        // matter: each brings its VM's credit to t before changing it).
        while (!busy_.empty() && busy_.front().a == t) {
            const Key e = busy_.pop();
            const Vcpu& v = vcpus_[e.slot];
            if (v.gen == e.gen && v.state == kRunning) stop(e.slot, t);
        }
        decide();
    }
    now_ = end;
}

std::int64_t CpuScheduler::next_event() {
    std::int64_t t = kNever;
    while (!busy_.empty()) {
        const Key& e = busy_.front();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen == e.gen && v.state == kRunning) {
            t = e.a;
            break;
        }
        busy_.pop();
    }
    // Rule 6 events: a VM whose reservation lag reaches 0 while it runs fewer
    // vCPUs than its reserved rate needs becomes urgent; a reserved run's
    // protection ends; a reserved VM's limit releases it. Entries are pushed
    // whenever such a time may have moved, and never removed early: a stale
    // one only adds a decision point at which nothing is to be done.
    t = std::min(t, res_.next_event_after(now_));
    const bool any_reserved = res_.active > 0;
    // A free pCPU waits only for vCPUs held by their VM's limit, and a borrowed
    // run can be preempted by them: wake at the release. Stale entries can only
    // add decision points at which nothing is pickable, which changes nothing.
    if (running_ < pcpus_ || borrowed_count_ > 0 || any_reserved) {
        while (!releases_.empty()) {
            const std::uint32_t vm = releases_.front().slot;
            if (vms_[vm].alive && !limits_[vm].parked.empty()) break;
            releases_.pop();
        }
        if (!releases_.empty() && releases_.front().a < t) t = releases_.front().a;
    }
    // A vCPU becoming eligible preempts a borrowed run.
    if (borrowed_count_ > 0) {
        t = std::min(t, waiting_.min_valid_time([&](const Entry& e) {
                         const Vcpu& v = vcpus_[e.slot];
                         return v.gen == e.gen && v.state == kQueued;
                     }));
    }
    return t;
}

void CpuScheduler::decide() {
    res_.victims_time = -1;  // rule 6's victims are built again at this decision's first use
    if (runs_kept_ && res_.active == 0) drop_runs();  // no preemption by rule 6 until a reserved rate returns
    if (dirty_) recompute();
    process_releases();
    // Rule 6: VMs whose event is due may be urgent now.
    // (The order in which they are looked at does not matter: listing one VM
    // does not change whether another is urgent.)
    for (auto* queue : {&res_.events, &res_.protect_events}) {
        while (!queue->empty() && queue->front().a <= now_) {
            const std::uint32_t id = queue->pop().slot;
            if (vms_[id].alive && !res_[id].in_urgent && urgent(id)) list_urgent(id);
        }
    }
    // vCPUs whose eligible time has come move to the deadline-ordered heap.
    // (In any order: the eligible queue orders them by deadline.)
    waiting_.pop_due(now_, [&](const Entry& e) {
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen == e.gen && v.state == kQueued) eligible_.push(Key{e.b, e.slot, e.gen});
    });
    while (running_ < pcpus_ && dispatch_best()) {
    }
    // Preemptions. Each step either turns a borrowed run into an unborrowed one
    // or adds a reserved run still protected at this instant (rule 6; reserved
    // runs are never borrowed), so an instant has at most borrowed + pCPUs steps.
    for (;;) {
        const std::int64_t urgent_slot = res_.urgent_entries > 0 ? urgent_pick_now() : -1;
        const bool has_urgent = urgent_slot >= 0;
        if (has_urgent) {
            // Rule 6: the urgent VM takes the pCPU of the unprotected run of a
            // non-urgent VM, not started overdue, least behind its reservation.
            const std::int64_t victim = urgency_victim();
            if (victim >= 0) {
                const std::uint32_t victim_vm = vcpus_[static_cast<std::size_t>(victim)].vm;
                stop(static_cast<std::uint32_t>(victim), now_);
                process_releases();  // the victim's refund may release its VM
                // The pCPU goes to the best pick: the preemptor is still pickable
                // (the victim's VM is another one) and the victim is not overdue
                // (its lag fell while it ran), so it is an urgent VM's vCPU, or an
                // overdue vCPU of a VM the refund released (never a victim either).
                // The stop changed only the victim's VM (its account, bucket and
                // vCPU) and the releases only queue parked vCPUs, so unless that VM
                // turned urgent the urgent pick is the one made above: dispatch
                // it (one urgent pick per preemption), after the overdue check
                // that dispatch_best() would make first.
                if (!urgent(victim_vm) && !overdue_pickable()) {
                    dispatch(static_cast<std::uint32_t>(urgent_slot));
                } else {
                    dispatch_best();
                }
                continue;
            }
        }
        // Borrowed runs give way to eligible (or urgent) vCPUs, the least
        // deserving first (largest (eligible, deadline, vm, vcpu) at its dispatch).
        if (borrowed_count_ > 0 && (has_urgent || eligible_pickable())) {
            stop_least_deserving_borrowed();
            process_releases();
            dispatch_best();
            continue;
        }
        break;
    }
}

void CpuScheduler::stop_least_deserving_borrowed() {
    for (;;) {
        const Entry e = borrowed_.top();
        borrowed_.pop();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen == e.gen && v.state == kRunning) {
            stop(e.slot, now_);
            return;
        }
    }
}

// Rule 6 first (an urgent VM's vCPU), else rule 3. False if nothing is pickable.
bool CpuScheduler::dispatch_best() {
    if (res_.urgent_entries > 0) {
        const std::int64_t slot = urgent_pick_now();
        if (slot >= 0) {
            dispatch(static_cast<std::uint32_t>(slot));  // its heap entry goes stale (gen)
            return true;
        }
    }
    return pick_and_dispatch();
}

// Is there a queued, eligible vCPU whose VM is not held? (Parks held ones met on top.)
bool CpuScheduler::eligible_pickable() {
    while (!eligible_.empty()) {
        const Key& e = eligible_.front();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen == e.gen && v.state == kQueued && !park_if_held(e.slot, e.gen)) return true;
        eligible_.pop();
    }
    return false;
}

// Take the best pickable vCPU (rule 3). vCPUs of held VMs met on the way are
// parked on their VM until its limit releases it.
bool CpuScheduler::pick_and_dispatch() {
    return pick_from(eligible_) || pick_from(waiting_);
}

template <class Queue>
bool CpuScheduler::pick_from(Queue& queue) {
    while (!queue.empty()) {
        const auto e = queue.pop();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen != e.gen || v.state != kQueued || park_if_held(e.slot, e.gen)) continue;
        dispatch(e.slot);
        return true;
    }
    return false;
}

void CpuScheduler::enqueue(std::uint32_t slot) {
    const Vcpu& v = vcpus_[slot];
    if (v.eligible <= now_) {
        eligible_.push(Key{v.deadline, slot, v.gen});
    } else {
        waiting_.push(Entry{v.eligible, v.deadline, slot, v.gen});
    }
}

// ---- rule 1: the fluid target --------------------------------------------------------------
//
// a_i = fair_share(pcpus, demand_i, shares_i, reservation_i, limit_i) over the
// VMs with demand, rate_j = floor(a_i * 10^6) // demand_i for each of their
// vCPUs with work, then fresh keys (rule 2) for the queued ones.
//
// The full recompute does this for every VM: O(VMs + vCPUs with work). When
// only a few VMs changed since the last one (a vCPU ran out of work, got work,
// a limit moved), recompute_incremental() re-rates only those, with the same
// result bit for bit, in two cases:
//   (a) no changed VM's kernel inputs changed (ceiling u_i = min(demand_i,
//       limit_i), floor f_i = min(reservation_i, u_i), shares w_i, and whether
//       it is in the division): the kernel's result is a function of (C, u, f,
//       w) alone, so every a_i is the last one (e.g. a 3-vCPU VM capped at 1.2
//       cores whose demand goes from 3 to 2);
//   (b) the last division gave every VM its ceiling and the new one surely
//       does too: the kernel's first exit, sum(u) <= C summed in id order,
//       holds. We keep sum(ceil(u_i * 2^40)) exactly in integers, an upper
//       bound of the exact sum, and a sum of n terms rounded in order exceeds
//       the exact one by at most (n - 1) * 2^-53 of it: a margin of
//       (n + 8) * 2^-52 covers that and the bound's own rounding. Within the
//       margin (a host whose caps sum to its pCPUs, as the reallocator's do)
//       the full recompute decides.
// An unchanged VM keeps its rates, so keys recomputed at now would be the
// keys it has (eligible = t + ceil(-lag/rate) is the same for every t along
// one lag line) as long as no lag line reached the +-1e18 clamp: lag_guard_.
// Its queue entries, parked vCPUs and release events stay as they are (the
// full recompute drops and rebuilds them: either way a pick meets the same
// vCPUs in the same order, and stale entries only add decision points at
// which nothing is due, rule 3).

void CpuScheduler::mark_dirty(std::uint32_t vm_id) {
    dirty_ = true;
    Vm& m = vms_[vm_id];
    if (m.dirty) return;
    m.dirty = true;
    dirty_vms_.push_back(vm_id);
}

void CpuScheduler::recompute() {
    dirty_ = false;
    if (caches_valid_ && !force_full_recompute_ && recompute_incremental()) {
        ++incremental_recomputes_;
    } else {
        ++full_recomputes_;
        recompute_full();
    }
    for (const std::uint32_t id : dirty_vms_) {
        if (id < vms_.size()) vms_[id].dirty = false;
    }
    dirty_vms_.clear();
}

// Rule 6's reserved rate res_u = floor(min(r, demand) * 10^6), the lag brought
// to now first (nothing banked while idle; 0 with rule 6 off).
void CpuScheduler::set_res_rate(std::uint32_t vm_id) {
    const Vm& m = vms_[vm_id];
    res_update(vm_id, now_);
    sched::ReservationAccounts::Account& a = res_[vm_id];
    if (m.demand == 0) {
        a.res_u = 0;
        a.lag = std::min<std::int64_t>(a.lag, 0);  // no reservation banked while idle
    } else if (!strict_reservations_) {
        a.res_u = 0;  // rule 6 off: no reserved rate, so the VM is never urgent
    } else {
        a.res_u = static_cast<std::int64_t>(
            std::floor(std::min(m.reservation, static_cast<double>(m.demand)) * static_cast<double>(kMicro)));
    }
}

// The kernel's inputs of VM m, as recompute_full() passes them.
namespace {
struct KernelInputs {
    bool in = false;
    double u = 0.0, f = 0.0, w = 0.0;
    std::int64_t q = 0;
};
template <class Vm>
KernelInputs kernel_inputs(const Vm& m) {
    KernelInputs k;
    k.in = m.alive && m.demand > 0;
    if (!k.in) return k;
    k.u = std::min(static_cast<double>(m.demand), m.limit);
    k.f = std::min(m.reservation, k.u);
    k.w = static_cast<double>(m.shares);
    k.q = static_cast<std::int64_t>(std::ceil(std::ldexp(k.u, 40)));  // u <= 1024 vCPUs: < 2^51, exact
    return k;
}
inline bool same_bits(double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; }
}  // namespace

bool CpuScheduler::surely_uncontended() const {
    const double n = static_cast<double>(fs_count_);
    const double bound = static_cast<double>(ceilings_q_) * 0x1p-40;
    return bound * (1.0 + (n + 8.0) * 0x1p-52) < static_cast<double>(pcpus_);
}

bool CpuScheduler::recompute_incremental() {
    if (now_ > lag_guard_) return false;
    // Each incremental re-key leaves the old entry behind (stale by gen); the
    // full recompute drops them: O(1) amortized per re-key.
    if (eligible_.size() + waiting_.size() > 2 * live_vcpus_ + 1024) return false;
    bool inputs_same = true;
    for (const std::uint32_t id : dirty_vms_) {
        Vm& m = vms_[id];
        const KernelInputs k = kernel_inputs(m);
        if (k.in != m.in_fs ||
            (k.in && !(same_bits(k.u, m.fs_u) && same_bits(k.f, m.fs_f) && same_bits(k.w, m.fs_w)))) {
            inputs_same = false;
        }
        // (Bookkeeping only: if we give up below, the full recompute redoes it.)
        ceilings_q_ += static_cast<i128>(k.q) - m.fs_q;
        fs_count_ = fs_count_ + (k.in ? 1 : 0) - (m.in_fs ? 1 : 0);
        m.in_fs = k.in;
        m.fs_u = k.u;
        m.fs_f = k.f;
        m.fs_w = k.w;
        m.fs_q = k.q;
    }
    if (!inputs_same) {
        if (!at_ceilings_ || !surely_uncontended()) return false;
        for (const std::uint32_t id : dirty_vms_) vms_[id].fs_a = vms_[id].fs_u;  // case (b)
    }
    // The full recompute's steps, for the changed VMs only.
    for (const std::uint32_t id : dirty_vms_) {
        Vm& m = vms_[id];
        if (!m.alive) continue;
        if (!limits_[id].parked.empty()) limits_[id].parked.clear();
        if (res_[id].listed) {
            res_.active -= res_[id].res_u > 0;
            set_res_rate(id);
            res_.active += res_[id].res_u > 0;
        }
    }
    for (const std::uint32_t id : dirty_vms_) {
        if (vms_[id].in_fs) rerate_vm(id, true);
    }
    for (const std::uint32_t id : dirty_vms_) {
        if (vms_[id].alive && res_[id].listed) res_changed(id);
    }
    return true;
}

// Every VM: the kernel over those with demand, new rates and keys for all,
// the heaps rebuilt, and the incremental recompute's caches refilled.
void CpuScheduler::recompute_full() {
    // Sized once per recompute and written by index (push_back per VM showed
    // up in profiles of hosts that recompute at every instant).
    const std::size_t capacity = vms_.size();
    fs_vms_.resize(capacity);
    fs_demand_.resize(capacity);
    fs_shares_.resize(capacity);
    fs_reservation_.resize(capacity);
    fs_limit_.resize(capacity);
    std::size_t count = 0;
    ceilings_q_ = 0;
    for (std::size_t i = 0; i < capacity; ++i) {
        Vm& m = vms_[i];
        const KernelInputs k = kernel_inputs(m);
        m.in_fs = k.in;
        m.fs_u = k.u;
        m.fs_f = k.f;
        m.fs_w = k.w;
        m.fs_q = k.q;
        m.fs_a = 0.0;
        m.dirty = false;
        ceilings_q_ += k.q;
        if (!m.alive) continue;
        if (!limits_[i].parked.empty()) limits_[i].parked.clear();
        if (m.demand == 0) continue;
        fs_vms_[count] = static_cast<std::uint32_t>(i);
        fs_demand_[count] = static_cast<double>(m.demand);
        fs_shares_[count] = static_cast<double>(m.shares);
        fs_reservation_[count] = m.reservation;
        fs_limit_[count] = m.limit;
        ++count;
    }
    fs_vms_.resize(count);
    fs_count_ = count;
    // Rule 6: each reserved VM's lag is brought to now before its rate changes.
    res_.active = 0;
    std::size_t live_res = 0;
    auto& listed = res_.listed_vms;
    for (const std::uint32_t id : listed) {
        if (!vms_[id].alive) continue;
        listed[live_res++] = id;
        set_res_rate(id);
        res_.active += res_[id].res_u > 0;
    }
    listed.resize(live_res);
    eligible_.clear();
    waiting_.clear();
    releases_.clear();
    // (busy_ and borrowed_ hold running vCPUs, whose keys a recompute leaves alone.)
    at_ceilings_ = true;
    lag_guard_ = now_ + kLagHorizon;  // every lag line is brought to now below
    if (!fs_vms_.empty()) {
        FairShareInput in;
        in.capacity = static_cast<double>(pcpus_);
        in.n = fs_vms_.size();
        in.demand = fs_demand_.data();
        in.shares = fs_shares_.data();
        in.reservation = fs_reservation_.data();
        in.limit = fs_limit_.data();
        fs_out_.resize(in.n);
        solver_.solve(in, fs_out_.data());
        for (std::size_t k = 0; k < fs_vms_.size(); ++k) {
            Vm& m = vms_[fs_vms_[k]];
            m.fs_a = fs_out_[k];
            at_ceilings_ = at_ceilings_ && same_bits(m.fs_a, m.fs_u);
            rerate_vm(fs_vms_[k], false);
        }
        eligible_.build();
        waiting_.build();
    }
    caches_valid_ = true;
    // Rule 6 after the new rates, so the urgency events see the final lines.
    for (const std::uint32_t id : res_.listed_vms) res_changed(id);
}

// rate_j = floor(a_i * 10^6) // demand_i for the VM's vCPUs with work (lags
// brought to now at the old rate first), fresh keys for the queued ones.
// stale_old_entries: their old queue entries are left to go stale (gen) and
// the new ones pushed; otherwise (full recompute: queues cleared) bulk-added.
void CpuScheduler::rerate_vm(std::uint32_t vm_id, bool stale_old_entries) {
    const Vm& m = vms_[vm_id];
    const auto target = static_cast<std::int64_t>(std::floor(m.fs_a * static_cast<double>(kMicro)));
    const std::int64_t rate = target / m.demand;
    for (std::uint32_t j = 0; j < m.vcpus; ++j) {
        const std::uint32_t slot = m.first + j;
        Vcpu& v = vcpus_[slot];
        if (v.state == kWait) continue;
        bring_lag(v, now_);
        v.rate = rate;
        if (v.state != kQueued) continue;
        set_keys(v, now_);
        if (stale_old_entries) {
            ++v.gen;
            enqueue(slot);
        } else if (v.eligible <= now_) {
            eligible_.add(Key{v.deadline, slot, v.gen});
        } else {
            waiting_.add(Entry{v.eligible, v.deadline, slot, v.gen});
        }
    }
}

// ---- per-vCPU rules: keys (2), sleep (4), accounting (7), runs start and stop (3) -----------

void CpuScheduler::bring_lag(Vcpu& v, std::int64_t t) const {
    const i128 dt = t - v.lag_time;
    if (v.state == kQueued) {
        v.lag = clamp_lag(static_cast<i128>(v.lag) + static_cast<i128>(v.rate) * dt);
    } else if (v.state == kRunning) {
        v.lag = clamp_lag(static_cast<i128>(v.lag) + static_cast<i128>(v.rate - kMicro) * dt);
    }
    v.lag_time = t;
    note_lag_line(lag_guard_, v.lag, t);
}

i128 CpuScheduler::vm_lag_at(std::uint32_t vm, std::int64_t t) const {
    const Vm& m = vms_[vm];
    i128 total = 0;
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        const Vcpu& v = vcpus_[m.first + k];
        const i128 dt = t - v.lag_time;
        if (v.state == kQueued) {
            total += clamp_lag(static_cast<i128>(v.lag) + static_cast<i128>(v.rate) * dt);
        } else if (v.state == kRunning) {
            total += clamp_lag(static_cast<i128>(v.lag) + static_cast<i128>(v.rate - kMicro) * dt);
        }
    }
    return total;
}

void CpuScheduler::set_keys(Vcpu& v, std::int64_t t) const {
    if (v.rate == 0) {
        v.eligible = v.deadline = kNever;
        return;
    }
    const std::int64_t request_u = vms_[v.vm].request * kMicro;
    v.eligible = min_never(t + ceil_div(-static_cast<i128>(v.lag), v.rate));
    // A whole core (rate 10^6) cannot make up a wait: its deadline is its eligible time.
    v.deadline = v.rate >= kMicro ? v.eligible
                                  : min_never(t + ceil_div(static_cast<i128>(request_u) - v.lag, v.rate));
}

// Account the interval [since, t) of a waiting or queued vCPU. A queued vCPU
// is "limited" for the part before its VM's held_until, "ready" after.
void CpuScheduler::flush(Vcpu& v, std::int64_t t) const {
    const std::int64_t span = t - v.since;
    if (v.state == kWait) {
        v.wait_ns += span;
    } else if (v.state == kQueued) {
        const std::int64_t held_end = sched::LimitBucket::held_end(limits_[v.vm]);
        const std::int64_t limited = std::max<std::int64_t>(0, std::min(t, held_end) - v.since);
        v.limited_ns += limited;
        v.ready_ns += span - limited;
    }
    v.since = t;
}

void CpuScheduler::wake(Vcpu& v) {
    flush(v, now_);
    v.state = kQueued;
    ++v.gen;
    v.lag_time = now_;
    note_lag_line(lag_guard_, v.lag, now_);
    ++vms_[v.vm].demand;
    mark_dirty(v.vm);  // keys and heap position come with the recompute
}

void CpuScheduler::to_wait(Vcpu& v, std::int64_t t) {
    // Rule 4 clamps the lag as of t: a queued vCPU whose work is cleared has
    // gained rate * (t - lag_time) since its lag was last brought.
    bring_lag(v, t);
    v.state = kWait;
    ++v.gen;
    v.since = t;
    const std::int64_t request_u = vms_[v.vm].request * kMicro;
    v.lag = std::max(std::min<std::int64_t>(v.lag, 0), -request_u);  // rule 4
    v.lag_time = t;
    --vms_[v.vm].demand;
    mark_dirty(v.vm);
}

void CpuScheduler::dispatch(std::uint32_t slot) {
    Vcpu& v = vcpus_[slot];
    Vm& m = vms_[v.vm];
    flush(v, now_);
    bring_lag(v, now_);
    v.state = kRunning;
    ++v.gen;
    v.run_start = now_;
    std::int64_t length = v.pending == kForever ? m.request : std::min(m.request, v.pending);
    // Rule 6. (A VM that never had a reservation keeps no account: its lag
    // cannot matter before a reservation is set, which restarts it at 0.)
    const bool listed = res_[v.vm].listed;
    v.reserved = listed && urgent(v.vm);  // a run its reservation needs: protected, never borrowed
    if (v.reserved) length = std::min(length, res_.floor() / kMicro);  // at most F/1e6 ns
    // Rule 6, overdue runs: while some VM has a reserved rate, a run that starts
    // overdue (lag >= request*10^6) and can catch up (rate < one core) lasts until
    // it is no longer a request behind, but at least P, so an urgent VM waits at
    // most P behind it instead of a whole request:
    //   length <= max(P, floor((lag - request*10^6) / (10^6 - rate)) + 1)
    if (res_.active > 0 && v.deadline <= now_ && v.rate < kMicro) {
        const std::int64_t request_u = m.request * kMicro;
        const std::int64_t caught_up = (v.lag - request_u) / (kMicro - v.rate) + 1;
        length = std::min(length, std::max(res_.protect(), caught_up));
    }
    if (listed) res_update(v.vm, now_);
    ++m.running;
    if (listed) {
        res_changed(v.vm);
        if (v.reserved) res_.protect_events.push(Key{now_ + res_.protect(), v.vm, 0});
    }
    sched::LimitBucket::Account& bucket = limits_[v.vm];
    if (bucket.bound) {
        update_credit(v.vm, now_);
        length = std::min(length, bucket.credit / kMicro);  // a partial grant if credit is short
    }
    v.run_end = now_ + length;
    if (runs_kept_) add_run(slot);
    if (v.stopped_at != now_) ++v.switches;
    ++decisions_;
    ++running_;
    busy_.push(Key{v.run_end, slot, v.gen});
    if (res_.victims_time == now_) add_victims_of(v.vm);  // rule 6: it may be a victim now
    v.borrowed = v.eligible > now_ && !v.reserved;
    if (v.borrowed) {
        ++borrowed_count_;
        borrowed_.push(Entry{v.eligible, v.deadline, slot, v.gen});
    }
    if (bucket.bound) {
        v.granted = true;
        sched::LimitBucket::grant(bucket, length, v.run_end);
        set_held_until(v.vm, now_);
    }
}

// The records of the runs (RunRecord): one per running vCPU, removed by
// moving the last one into its place.
void CpuScheduler::add_run(std::uint32_t slot) {
    const Vcpu& v = vcpus_[slot];
    const std::int64_t from = v.deadline <= v.run_start ? kNever  // started overdue: never a victim (rule 6)
                              : v.reserved               ? v.run_start + res_.protect()
                                                         : v.run_start;
    vcpus_[slot].run_pos = runs_count_;
    runs_[runs_count_++] = RunRecord{slot, v.vm, v.gen, v.deadline, from};
}

void CpuScheduler::remove_run(std::uint32_t slot) {
    const std::uint32_t pos = vcpus_[slot].run_pos;
    runs_[pos] = runs_[--runs_count_];
    vcpus_[runs_[pos].slot].run_pos = pos;
}

// At most one run per pCPU: the records' room is allocated once.
void CpuScheduler::keep_runs() {
    runs_.resize(static_cast<std::size_t>(pcpus_));
    runs_count_ = 0;
    for (std::uint32_t slot = 0; slot < vcpus_.size(); ++slot) {
        if (vcpus_[slot].state == kRunning) add_run(slot);
    }
    runs_kept_ = true;
}

void CpuScheduler::drop_runs() {
    runs_kept_ = false;
    runs_count_ = 0;
}

// Take a running vCPU off its pCPU at t (slice end, or clear_work at now).
void CpuScheduler::stop(std::uint32_t slot, std::int64_t t) {
    Vcpu& v = vcpus_[slot];
    const std::int64_t ran = t - v.run_start;
    v.run_ns += ran;
    if (v.pending != kForever) v.pending -= ran;
    bring_lag(v, t);
    v.stopped_at = t;
    --running_;
    if (runs_kept_) remove_run(slot);
    borrowed_count_ -= v.borrowed;
    v.borrowed = false;
    v.reserved = false;
    {
        if (res_[v.vm].listed) res_update(v.vm, t);
        --vms_[v.vm].running;
    }
    // Entries of finished borrowed runs are stale; drop them now and then.
    if (borrowed_count_ == 0) {
        borrowed_.clear();
    } else {
        borrowed_.compact_if_due(static_cast<std::size_t>(borrowed_count_), [&](const Entry& e) {
            const Vcpu& u = vcpus_[e.slot];
            return u.gen == e.gen && u.state == kRunning && u.borrowed;
        });
    }
    v.state = kQueued;
    ++v.gen;
    v.since = t;
    if (v.granted) {
        v.granted = false;
        update_credit(v.vm, t);
        sched::LimitBucket::refund(limits_[v.vm], v.run_end, t);  // the unused grant
        set_held_until(v.vm, t);
    }
    if (v.pending == 0) {
        to_wait(v, t);
    } else {
        set_keys(v, t);
        enqueue(slot);
    }
    // Rule 6 after the vCPU's new state: its VM's lag lines are final here.
    if (res_[v.vm].listed) res_changed(v.vm);
}

// ---- stats (rule 7) ---------------------------------------------------------------------------

void CpuScheduler::vcpu_stats(VcpuRow* out) const {
    std::size_t row = 0;
    for (std::size_t i = 0; i < vms_.size(); ++i) {
        const Vm& m = vms_[i];
        if (!m.alive) continue;
        for (std::uint32_t k = 0; k < m.vcpus; ++k) {
            const Vcpu& v = vcpus_[m.first + k];
            VcpuRow r{m.id, k, v.run_ns, v.ready_ns, v.limited_ns, v.wait_ns, v.pending,
                      v.switches};
            const std::int64_t span = now_ - v.since;
            if (v.state == kRunning) {
                r.run_ns += now_ - v.run_start;
                if (r.pending_ns != kForever) r.pending_ns -= now_ - v.run_start;
            } else if (v.state == kWait) {
                r.wait_ns += span;
            } else {
                const std::int64_t held_end = sched::LimitBucket::held_end(limits_[i]);
                const std::int64_t limited = std::max<std::int64_t>(0, std::min(now_, held_end) - v.since);
                r.limited_ns += limited;
                r.ready_ns += span - limited;
            }
            out[row++] = r;
        }
    }
}

}  // namespace vsched
