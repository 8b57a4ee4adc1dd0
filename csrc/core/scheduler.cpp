// vCPU fair-share scheduler: EEVDF over many pCPUs with shares, reservations
// and limits. The rules are numbered once, in docs/engines/scheduler.md
// ("Rules"); each function below carries the formula it computes and the rule
// number. The pure-Python twin (src/vsched/reference/scheduler.py) follows the
// same rules with plain scans; both must produce identical integer stats.
//
// Units. Time: integer ns. Rates: integer micro-cores (1 core = MICRO = 10^6).
// Lag and limit credit: micro-core-ns (1 core running 1 ns = 10^6). Integers
// everywhere; the only float step is the fair-share kernel (rule 1), which is
// bit-identical to its reference, and its result is floored to micro-cores.
//
// Where each rule lives here:
//   1 fluid target          recompute()          rate_j = floor(a_i * 10^6) / demand_i
//   2 EEVDF keys            set_keys(), bring_lag()
//                           eligible = t + ceil(-lag / rate), deadline = t + ceil((request*10^6 - lag) / rate)
//   3 decisions             decide(), dispatch_best(), pick_and_dispatch(), next_event(); runs may be
//                           preempted: borrowed runs by eligible vCPUs, unprotected runs by urgent VMs
//   4 sleep                 to_wait()            lag in [-request*10^6, 0]
//   5 limit bucket          apply_limit(), credit_at(), set_held_until()
//                           request = slice / max(1, ceil(limit)) (>= 1: check_params),
//                           held while credit < max(1, request/4) * 10^6
//   6 reservation           res_lag_at(), urgent_pick_now(), urgency_victim(), push_ahead_event()
//   7 accounting            flush(), vcpu_stats()
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

using i128 = __int128;

constexpr std::int64_t MICRO = 1000000;
constexpr std::int64_t NEVER = std::int64_t{1} << 62;
constexpr std::int64_t MAX_TIME = std::int64_t{1} << 61;
constexpr std::int64_t LAG_MAX = 1000000000000000000LL;
constexpr std::int64_t MAX_PENDING = std::int64_t{1} << 62;
constexpr std::int64_t MAX_PCPUS = 1 << 16;
constexpr std::int64_t MAX_VCPUS = 1024;
constexpr std::int64_t MAX_SHARES = 1000000;
constexpr std::int64_t MAX_SLICE = 100000000000LL;

// ceil(a / b) for b > 0 and any sign of a, exact.
// (The 64-bit path gives the same result; 128-bit division is several times slower.)
inline i128 ceil_div(i128 a, i128 b) {
    constexpr i128 kFits = i128{1} << 61;
    if (a > -kFits && a < kFits && b < kFits) {
        const auto a64 = static_cast<std::int64_t>(a), b64 = static_cast<std::int64_t>(b);
        return a64 >= 0 ? (a64 + b64 - 1) / b64 : -((-a64) / b64);
    }
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

inline std::int64_t clamp_lag(i128 x) {
    return static_cast<std::int64_t>(x > LAG_MAX ? LAG_MAX : (x < -LAG_MAX ? -LAG_MAX : x));
}

// A limited VM is held while its credit is below this many ns of run: a
// quarter request, so a VM limited at exactly its fluid share does not lose
// credit at the bucket's cap while it waits for a full request (rule 5).
inline std::int64_t min_grant(std::int64_t request) { return std::max<std::int64_t>(1, request / 4); }

inline std::int64_t min_never(i128 x) { return static_cast<std::int64_t>(x < NEVER ? x : NEVER); }

// A lag line's slope is within +-10^6 per ns (a rate is at most one core), so a
// line starting at |lag| <= LAG_MAX / 2 cannot reach the clamp within
// kLagHorizon ns: the full recompute sets lag_guard_ to now + kLagHorizon
// (every line starts anew there) and only lines starting beyond half the
// clamp lower it (rare: the check is one well-predicted branch per line).
constexpr std::int64_t kLagHorizon = LAG_MAX / 2 / MICRO;

// A lag line starts at time t with value lag: lowers guard if it starts beyond half the clamp.
inline void note_lag_line(std::int64_t& guard, std::int64_t lag, std::int64_t t) {
    const std::int64_t mag = lag < 0 ? -lag : lag;
    if (mag > LAG_MAX / 2) guard = std::min(guard, t + (LAG_MAX - mag) / MICRO);
}

// Max-heap order for the borrowed runs: the least deserving on top.
struct Earlier {
    bool operator()(const CpuScheduler::Entry& x, const CpuScheduler::Entry& y) const {
        return CpuScheduler::Before{}(x, y);
    }
};

// The borrowed runs use a std binary max-heap (Earlier): small, rarely touched.
template <class E>
void heap_push_max(std::vector<E>& heap, const E& e) {
    heap.push_back(e);
    std::push_heap(heap.begin(), heap.end(), Earlier{});
}

}  // namespace

CpuScheduler::CpuScheduler(std::int64_t pcpus, std::int64_t slice_ns, bool strict_reservations)
    : pcpus_(pcpus), slice_(slice_ns), strict_reservations_(strict_reservations) {
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
    m.res_time = now_;
    if (reservation > 0.0) {
        m.in_res_vms = true;
        res_vms_.push_back(id);
    }
    vms_.push_back(std::move(m));
    ids_.push_back(next_id_);
    reserved_sum_.append(reservation);  // the new VM is last in id order
    for (std::int64_t k = 0; k < vcpus; ++k) {
        Vcpu v;
        v.vm = id;
        v.index = static_cast<std::uint32_t>(k);
        v.since = now_;
        v.lag_time = now_;
        v.eligible = v.deadline = NEVER;
        vcpus_.push_back(v);
    }
    scratch_pending_.resize(vcpus_.size(), -1);
    ++live_vms_;
    live_vcpus_ += static_cast<std::size_t>(vcpus);
    apply_limit(vms_[id]);
    return next_id_++;
}

void CpuScheduler::set_vm(std::int64_t vm, std::optional<std::int64_t> shares, std::optional<double> reservation,
                          std::optional<double> limit) {
    Vm& m = vm_ref(vm);
    const std::int64_t slot = &m - vms_.data();
    const std::int64_t new_shares = shares.value_or(m.shares);
    const double new_reservation = reservation.value_or(m.reservation);
    const double new_limit = limit.value_or(m.limit);
    check_params(m.vcpus, new_shares, new_reservation, new_limit, slot);
    if (new_shares == m.shares && new_reservation == m.reservation && new_limit == m.limit) return;
    m.shares = new_shares;
    if (new_reservation != m.reservation) {
        reserved_sum_.invalidate();
        // A new reservation starts a new account: neither owed nor ahead (rule 6).
        m.res_lag = 0;
        m.res_time = now_;
        if (!m.in_res_vms) {
            m.in_res_vms = true;
            res_vms_.push_back(static_cast<std::uint32_t>(slot));
        }
    }
    m.reservation = new_reservation;
    if (new_limit != m.limit) {
        m.limit = new_limit;
        apply_limit(m);
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
        }
        ++v.gen;  // every heap entry of this vCPU is now stale
        v.state = kWait;
    }
    if (m.demand > 0) mark_dirty(static_cast<std::uint32_t>(&m - vms_.data()));
    reserved_active_ -= m.res_u > 0;
    m.res_u = 0;
    m.alive = false;
    m.parked.clear();
    m.parked.shrink_to_fit();
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
        apply_limit(m);
        mark_dirty(scratch_slots_[k]);
    }
}

// ---- simulation -----------------------------------------------------------------------------

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
    std::int64_t t = NEVER;
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
    while (!res_events_.empty() && res_events_.front().a <= now_) res_events_.pop();
    if (!res_events_.empty() && res_events_.front().a < t) t = res_events_.front().a;
    const bool any_reserved = reserved_active_ > 0;
    // A free pCPU waits only for vCPUs held by their VM's limit, and a borrowed
    // run can be preempted by them: wake at the release. Stale entries can only
    // add decision points at which nothing is pickable, which changes nothing.
    if (running_ < pcpus_ || borrowed_count_ > 0 || any_reserved) {
        while (!releases_.empty()) {
            const Vm& m = vms_[releases_.front().slot];
            if (m.alive && !m.parked.empty()) break;
            releases_.pop();
        }
        if (!releases_.empty() && releases_.front().a < t) t = releases_.front().a;
    }
    // A vCPU becoming eligible preempts a borrowed run.
    if (borrowed_count_ > 0) {
        while (!waiting_.empty()) {
            const Entry& e = waiting_.front();
            const Vcpu& v = vcpus_[e.slot];
            if (v.gen == e.gen && v.state == kQueued) break;
            waiting_.pop();
        }
        if (!waiting_.empty() && waiting_.front().a < t) t = waiting_.front().a;
    }
    return t;
}

void CpuScheduler::decide() {
    if (dirty_) recompute();
    process_releases();
    // Rule 6: VMs whose event is due may be urgent now.
    while (!res_events_.empty() && res_events_.front().a <= now_) {
        const std::uint32_t id = res_events_.pop().slot;
        const Vm& m = vms_[id];
        if (m.alive && !m.in_urgent && urgent(m)) list_urgent(id);
    }
    // vCPUs whose eligible time has come move to the deadline-ordered heap.
    while (!waiting_.empty() && waiting_.front().a <= now_) {
        const Entry e = waiting_.pop();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen == e.gen && v.state == kQueued) eligible_.push(Key{e.b, e.slot, e.gen});
    }
    while (running_ < pcpus_ && dispatch_best()) {
    }
    // Preemptions. Each step either turns a borrowed run into an unborrowed one
    // or adds a reserved run still protected at this instant (rule 6; reserved
    // runs are never borrowed), so an instant has at most borrowed + pCPUs steps.
    for (;;) {
        const std::int64_t urgent_slot = urgent_entries_ > 0 ? urgent_pick_now() : -1;
        const bool has_urgent = urgent_slot >= 0;
        if (has_urgent) {
            // Rule 6: the first urgent VM (in pick order) that has a victim
            // takes the pCPU of the unprotected run of a non-urgent VM that is
            // least behind its reservation; a VM ahead of its fluid share
            // spares runs that started overdue, so another urgent VM that is
            // not ahead may act for it.
            std::int64_t victim = -1;
            const Victims found = urgency_victims();
            if (!ahead_of_fluid(vms_[vcpus_[urgent_slot].vm])) {
                victim = found.any;
            } else if (found.spare >= 0) {
                victim = found.spare;
            } else if (found.any >= 0 && urgent_pick(true) >= 0) {
                victim = found.any;  // an urgent VM not ahead takes it
            }
            if (victim >= 0) {
                stop(static_cast<std::uint32_t>(victim), now_);
                process_releases();  // the victim's refund may release its VM
                // The pCPU goes to the best pick: the preemptor is still pickable
                // (the victim's VM is another one), so it is an urgent VM's vCPU.
                dispatch_best();
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
        std::pop_heap(borrowed_.begin(), borrowed_.end(), Earlier{});
        const Entry e = borrowed_.back();
        borrowed_.pop_back();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen == e.gen && v.state == kRunning) {
            stop(e.slot, now_);
            return;
        }
    }
}

// Rule 6 first (an urgent VM's vCPU), else rule 3. False if nothing is pickable.
bool CpuScheduler::dispatch_best() {
    if (urgent_entries_ > 0) {
        const std::int64_t slot = urgent_pick_now();
        if (slot >= 0) {
            dispatch(static_cast<std::uint32_t>(slot));  // its heap entry goes stale (gen)
            return true;
        }
    }
    return pick_and_dispatch();
}

// ---- reservation (rule 6) -----------------------------------------------------------------------
//
// Rule 6 of docs/engines/scheduler.md (the account, urgency, the overdue
// exception and the bound are stated there):
//   dD/dt = res_u - running * 10^6,  D >= -F,  F = max(1, slice/2) * 10^6
//   urgent = D >= 0 && running * 10^6 < res_u
//   reserved run <= F/10^6 ns, protected for P = max(1, slice/4) ns
//
// Termination of a decision. Count, among the unprotected runs, 2 for each
// that did not start overdue and 1 for each that did (psi). An urgent
// preemption removes such a run and adds a protected reserved run (the pick
// is an urgent VM's vCPU), or — its VM ahead, every urgent VM skipped — the
// EEVDF pick, an overdue vCPU, whose run an ahead VM may not take: psi drops
// by 1 or more and no borrowed run is added. A borrowed preemption removes a
// borrowed run (worth 2) and adds at most 2. So an instant has at most
// borrowed + 2 x pCPUs preemptions.

std::int64_t CpuScheduler::res_lag_at(const Vm& m, std::int64_t t) const {
    const i128 lag = static_cast<i128>(m.res_lag) +
                     static_cast<i128>(res_slope(m)) * static_cast<i128>(t - m.res_time);
    const i128 floor = -static_cast<i128>(res_floor());
    return static_cast<std::int64_t>(lag > LAG_MAX ? LAG_MAX : (lag < floor ? floor : lag));
}

void CpuScheduler::res_update(Vm& m, std::int64_t t) const {
    m.res_lag = res_lag_at(m, t);
    m.res_time = t;
}

// After a change of a reserved VM's running count, rate or lag at now: it may
// be urgent now (listed in urgent_groups_), or at the time its lag reaches 0.
void CpuScheduler::res_changed(std::uint32_t vm_id) {
    Vm& m = vms_[vm_id];
    if (m.res_u == 0) return;  // no reserved rate: cannot be urgent, nothing to schedule
    // Its lag line may have changed: older entries go stale. If it is urgent
    // now it is listed now; otherwise it can only become so when its lag
    // reaches 0 (the event below) or at a later change (another call here).
    ++m.urgent_version;
    m.in_urgent = false;
    if (urgent(m)) list_urgent(vm_id);
    const std::int64_t slope = res_slope(m);
    if (slope > 0 && m.res_lag < 0) {
        res_events_.push(Key{min_never(now_ + ceil_div(-static_cast<i128>(m.res_lag), slope)), vm_id, 0});
    }
    // An urgent VM's release (only VMs with a reserved rate get here).
    if (m.bound && m.held_until > now_ && m.held_until < NEVER) {
        res_events_.push(Key{m.held_until, vm_id, 0});
    }
}

// Adds the current entry of VM vm_id (urgent now, not yet listed).
void CpuScheduler::list_urgent(std::uint32_t vm_id) {
    Vm& m = vms_[vm_id];
    const std::int64_t slope = res_slope(m);
    const UrgentEntry entry{static_cast<i128>(m.res_lag) - static_cast<i128>(slope) * m.res_time, vm_id,
                            m.urgent_version};
    push_urgent(slope, entry);
    m.in_urgent = true;
    push_ahead_event(vm_id);
    // Stale entries that never reach a top are dropped now and then: at most
    // one entry per VM is current, so this keeps a quarter or more.
    if (urgent_entries_ > 4 * vms_.size() + 64) {
        urgent_entries_ = 0;
        for (UrgentGroup& g : urgent_groups_) {
            g.heap.erase(std::remove_if(g.heap.begin(), g.heap.end(),
                                        [&](const UrgentEntry& e) { return e.version != vms_[e.vm].urgent_version; }),
                         g.heap.end());
            std::make_heap(g.heap.begin(), g.heap.end(), UrgentBefore{});
            urgent_entries_ += g.heap.size();
        }
        urgent_groups_.erase(std::remove_if(urgent_groups_.begin(), urgent_groups_.end(),
                                            [](const UrgentGroup& g) { return g.heap.empty(); }),
                             urgent_groups_.end());
    }
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
// becomes urgent again only at a res_changed() or at its res_events_ time,
// which list it again); held VMs and VMs without a queued vCPU are set aside
// for this pick and put back.
std::int64_t CpuScheduler::urgent_pick(bool skip_ahead) {
    std::int64_t best = -1;
    for (;;) {
        UrgentGroup* best_group = nullptr;
        i128 best_lag = 0;
        for (std::size_t g = 0; g < urgent_groups_.size();) {
            UrgentGroup& group = urgent_groups_[g];
            while (!group.heap.empty()) {
                const UrgentEntry& top = group.heap.front();
                Vm& m = vms_[top.vm];
                if (top.version == m.urgent_version && m.alive && urgent(m)) break;
                if (top.version == m.urgent_version) m.in_urgent = false;
                drop_urgent_top(group);
            }
            if (group.heap.empty()) {
                urgent_groups_.erase(urgent_groups_.begin() + static_cast<std::ptrdiff_t>(g));
                continue;
            }
            const UrgentEntry& top = group.heap.front();
            const i128 lag = top.intercept + static_cast<i128>(group.slope) * now_;
            // Clamped lags (at LAG_MAX) would tie where the lines do not: the
            // plain scan decides those (in practice never reached).
            if (lag >= LAG_MAX) {
                put_back_skipped_urgent();
                return urgent_pick_by_scan(skip_ahead);
            }
            if (best_group == nullptr || lag > best_lag ||
                (lag == best_lag && top.vm < best_group->heap.front().vm)) {
                best_group = &group;
                best_lag = lag;
            }
            ++g;
        }
        if (best_group == nullptr) break;
        const UrgentEntry top = best_group->heap.front();
        const Vm& m = vms_[top.vm];
        const bool skip = held(m) || (skip_ahead && ahead_of_fluid(m));
        const std::int64_t pick = skip ? -1 : queued_with_earliest_deadline(m);
        if (pick >= 0) {
            best = pick;
            break;
        }
        // Not pickable now: aside until this pick is done.
        drop_urgent_top(*best_group);
        urgent_skipped_.push_back(top);
        if (best_group->heap.empty()) {
            urgent_groups_.erase(urgent_groups_.begin() + (best_group - urgent_groups_.data()));
        }
    }
    put_back_skipped_urgent();
    return best;
}

void CpuScheduler::drop_urgent_top(UrgentGroup& group) {
    std::pop_heap(group.heap.begin(), group.heap.end(), UrgentBefore{});
    group.heap.pop_back();
    --urgent_entries_;
}

// Puts the entries urgent_pick() set aside back into their groups.
void CpuScheduler::put_back_skipped_urgent() {
    for (const UrgentEntry& e : urgent_skipped_) push_urgent(res_slope(vms_[e.vm]), e);  // current: so is the slope
    urgent_skipped_.clear();
}

void CpuScheduler::push_urgent(std::int64_t slope, const UrgentEntry& e) {
    auto group = std::find_if(urgent_groups_.begin(), urgent_groups_.end(),
                              [&](const UrgentGroup& g) { return g.slope == slope; });
    if (group == urgent_groups_.end()) {
        urgent_groups_.push_back(UrgentGroup{slope, {}});
        group = urgent_groups_.end() - 1;
    }
    group->heap.push_back(e);
    std::push_heap(group->heap.begin(), group->heap.end(), UrgentBefore{});
    ++urgent_entries_;
}

// The rule by brute force over every current entry (see urgent_pick()).
std::int64_t CpuScheduler::urgent_pick_by_scan(bool skip_ahead) {
    std::int64_t best = -1, best_lag = 0;
    std::uint32_t best_vm = 0;
    for (const UrgentGroup& group : urgent_groups_) {
        for (const UrgentEntry& e : group.heap) {
            const Vm& m = vms_[e.vm];
            if (e.version != m.urgent_version || !m.alive || !urgent(m) || held(m)) continue;
            if (skip_ahead && ahead_of_fluid(m)) continue;
            const std::int64_t lag = res_lag_at(m, now_);
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
// vCPU keeps the keys of its dispatch). -1 if none. O(busy entries); urgent preemptions are rare
// next to slice ends.
CpuScheduler::Victims CpuScheduler::urgency_victims() const {
    struct Best {
        std::int64_t slot = -1;
        bool free = false;
        std::int64_t neg_lag = 0;
        std::int64_t deadline = 0;
        // Is (free, neg_lag, deadline, slot) larger than the best so far?
        bool beaten_by(bool f, std::int64_t n, std::int64_t d, std::int64_t s) const {
            if (slot < 0) return true;
            if (f != free) return f;
            if (n != neg_lag) return n > neg_lag;
            if (d != deadline) return d > deadline;
            return s > slot;
        }
    };
    Best overdue, spare;
    // The choice is a maximum under a total order: the visiting order is moot.
    busy_.for_each([&](const Key& e) {
        const Vcpu& u = vcpus_[e.slot];
        if (u.gen != e.gen || u.state != kRunning) return;
        if (u.reserved && now_ < u.run_start + res_protect()) return;
        const Vm& m = vms_[u.vm];
        if (urgent(m)) return;
        const bool free = m.res_u == 0;
        const std::int64_t neg_lag = free ? 0 : -res_lag_at(m, now_);
        const std::int64_t slot = e.slot;
        Best& best = u.deadline <= u.run_start ? overdue : spare;  // started overdue?
        if (best.beaten_by(free, neg_lag, u.deadline, slot)) best = Best{slot, free, neg_lag, u.deadline};
    });
    // Runs that did not start overdue go first: a vCPU behind its fluid share
    // by a whole request may be unable to catch up (a whole core per vCPU).
    return Victims{spare.slot >= 0 ? spare.slot : overdue.slot, spare.slot};
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
        const i128 slope = v.state == kRunning ? v.rate - MICRO : v.rate;
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
        const i128 s = v.state == kRunning ? v.rate - MICRO : v.rate;
        total += static_cast<i128>(v.lag) + s * (now_ - v.lag_time);
        slope += s;
    }
    if (total < 0 && slope > 0) res_events_.push(Key{min_never(now_ + ceil_div(-total, slope)), vm_id, 0});
}

// Is a queued vCPU of an unheld VM a full request behind its fluid share
// (deadline <= now)? The smallest deadline is on top of eligible_ (an
// ineligible vCPU has lag < 0, so its deadline is in the future).
bool CpuScheduler::overdue_pickable() {
    return eligible_pickable() && eligible_.front().a <= now_;
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

// If the queued vCPU (slot, gen)'s VM is held by its limit, parks it on the VM
// (with a release event pending) and returns true.
bool CpuScheduler::park_if_held(std::uint32_t slot, std::uint32_t gen) {
    const std::uint32_t vm = vcpus_[slot].vm;
    Vm& m = vms_[vm];
    if (!held(m)) return false;
    if (m.parked.empty() && m.held_until < NEVER) releases_.push(Key{m.held_until, vm, 0});
    m.parked.push_back((static_cast<std::uint64_t>(slot) << 32) | gen);
    return true;
}

// Unpark the vCPUs of VMs whose limit released them by now.
void CpuScheduler::process_releases() {
    while (!releases_.empty() && releases_.front().a <= now_) {
        const Key e = releases_.pop();
        Vm& m = vms_[e.slot];
        if (!m.alive || m.parked.empty()) continue;
        if (!held(m)) {
            unpark(m);
        } else if (m.held_until < NEVER) {
            releases_.push(Key{m.held_until, e.slot, 0});
        }
    }
}

// Take the best pickable vCPU (rule 3). vCPUs of held VMs met on the way are
// parked on their VM until its limit releases it.
bool CpuScheduler::pick_and_dispatch() {
    return pick_from(eligible_) || pick_from(waiting_);
}

template <class E>
bool CpuScheduler::pick_from(TwoLaneQueue<E, Before>& queue) {
    while (!queue.empty()) {
        const E e = queue.pop();
        const Vcpu& v = vcpus_[e.slot];
        if (v.gen != e.gen || v.state != kQueued || park_if_held(e.slot, e.gen)) continue;
        dispatch(e.slot);
        return true;
    }
    return false;
}

void CpuScheduler::unpark(Vm& m) {
    for (const std::uint64_t p : m.parked) {
        const auto slot = static_cast<std::uint32_t>(p >> 32);
        const auto gen = static_cast<std::uint32_t>(p & 0xffffffffu);
        const Vcpu& v = vcpus_[slot];
        if (v.gen == gen && v.state == kQueued) enqueue(slot);
    }
    m.parked.clear();
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
void CpuScheduler::set_res_rate(Vm& m) {
    res_update(m, now_);
    if (m.demand == 0) {
        m.res_u = 0;
        m.res_lag = std::min<std::int64_t>(m.res_lag, 0);  // no reservation banked while idle
    } else if (!strict_reservations_) {
        m.res_u = 0;  // rule 6 off: no reserved rate, so the VM is never urgent
    } else {
        m.res_u = static_cast<std::int64_t>(
            std::floor(std::min(m.reservation, static_cast<double>(m.demand)) * static_cast<double>(MICRO)));
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
        if (!m.parked.empty()) m.parked.clear();
        if (m.in_res_vms) {
            reserved_active_ -= m.res_u > 0;
            set_res_rate(m);
            reserved_active_ += m.res_u > 0;
        }
    }
    for (const std::uint32_t id : dirty_vms_) {
        if (vms_[id].in_fs) rerate_vm(id, true);
    }
    for (const std::uint32_t id : dirty_vms_) {
        if (vms_[id].alive && vms_[id].in_res_vms) res_changed(id);
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
        if (!m.parked.empty()) m.parked.clear();
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
    reserved_active_ = 0;
    std::size_t live_res = 0;
    for (const std::uint32_t id : res_vms_) {
        Vm& m = vms_[id];
        if (!m.alive) continue;
        res_vms_[live_res++] = id;
        set_res_rate(m);
        reserved_active_ += m.res_u > 0;
    }
    res_vms_.resize(live_res);
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
    // Rule 6 after the new rates, so the urgency and ahead events see the final lines.
    for (const std::uint32_t id : res_vms_) res_changed(id);
}

// rate_j = floor(a_i * 10^6) // demand_i for the VM's vCPUs with work (lags
// brought to now at the old rate first), fresh keys for the queued ones.
// stale_old_entries: their old queue entries are left to go stale (gen) and
// the new ones pushed; otherwise (full recompute: queues cleared) bulk-added.
void CpuScheduler::rerate_vm(std::uint32_t vm_id, bool stale_old_entries) {
    const Vm& m = vms_[vm_id];
    const auto target = static_cast<std::int64_t>(std::floor(m.fs_a * static_cast<double>(MICRO)));
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

// ---- per-vCPU rules -------------------------------------------------------------------------

void CpuScheduler::bring_lag(Vcpu& v, std::int64_t t) const {
    const i128 dt = t - v.lag_time;
    if (v.state == kQueued) {
        v.lag = clamp_lag(static_cast<i128>(v.lag) + static_cast<i128>(v.rate) * dt);
    } else if (v.state == kRunning) {
        v.lag = clamp_lag(static_cast<i128>(v.lag) + static_cast<i128>(v.rate - MICRO) * dt);
    }
    v.lag_time = t;
    note_lag_line(lag_guard_, v.lag, t);
}

void CpuScheduler::set_keys(Vcpu& v, std::int64_t t) const {
    if (v.rate == 0) {
        v.eligible = v.deadline = NEVER;
        return;
    }
    const std::int64_t request_u = vms_[v.vm].request * MICRO;
    v.eligible = min_never(t + ceil_div(-static_cast<i128>(v.lag), v.rate));
    v.deadline = min_never(t + ceil_div(static_cast<i128>(request_u) - v.lag, v.rate));
}

// Account the interval [since, t) of a waiting or queued vCPU. A queued vCPU
// is "limited" for the part before its VM's held_until, "ready" after.
void CpuScheduler::flush(Vcpu& v, std::int64_t t) const {
    const std::int64_t span = t - v.since;
    if (v.state == kWait) {
        v.wait_ns += span;
    } else if (v.state == kQueued) {
        const Vm& m = vms_[v.vm];
        const std::int64_t held_end = m.bound ? m.held_until : -1;
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
    const std::int64_t request_u = vms_[v.vm].request * MICRO;
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
    v.reserved = m.in_res_vms && urgent(m);  // a run its reservation needs: protected, never borrowed
    if (v.reserved) length = std::min(length, res_floor() / MICRO);  // at most F/1e6 ns
    if (m.in_res_vms) res_update(m, now_);
    ++m.running;
    if (m.in_res_vms) {
        res_changed(v.vm);
        if (v.reserved) res_events_.push(Key{now_ + res_protect(), v.vm, 0});
    }
    if (m.bound) {
        update_credit(m, now_);
        length = std::min(length, m.credit / MICRO);  // a partial grant if credit is short
    }
    v.run_end = now_ + length;
    if (v.stopped_at != now_) ++v.switches;
    ++decisions_;
    ++running_;
    busy_.push(Key{v.run_end, slot, v.gen});
    v.borrowed = v.eligible > now_ && !v.reserved;
    if (v.borrowed) {
        ++borrowed_count_;
        heap_push_max(borrowed_, Entry{v.eligible, v.deadline, slot, v.gen});
    }
    if (m.bound) {
        v.granted = true;
        m.credit -= length * MICRO;
        ++m.granted;
        m.granted_end_sum += v.run_end;
        set_held_until(v.vm, now_);
    }
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
    borrowed_count_ -= v.borrowed;
    v.borrowed = false;
    v.reserved = false;
    {
        Vm& m = vms_[v.vm];
        if (m.in_res_vms) res_update(m, t);
        --m.running;
    }
    // Entries of finished borrowed runs are stale; drop them now and then.
    if (borrowed_count_ == 0) {
        borrowed_.clear();
    } else if (borrowed_.size() > 4 * static_cast<std::size_t>(pcpus_) + 64) {
        borrowed_.erase(std::remove_if(borrowed_.begin(), borrowed_.end(),
                                       [&](const Entry& e) {
                                           const Vcpu& u = vcpus_[e.slot];
                                           return !(u.gen == e.gen && u.state == kRunning && u.borrowed);
                                       }),
                        borrowed_.end());
        std::make_heap(borrowed_.begin(), borrowed_.end(), Earlier{});
    }
    v.state = kQueued;
    ++v.gen;
    v.since = t;
    if (v.granted) {
        Vm& m = vms_[v.vm];
        v.granted = false;
        update_credit(m, t);
        m.credit += (v.run_end - t) * MICRO;  // refund the unused grant
        --m.granted;
        m.granted_end_sum -= v.run_end;
        set_held_until(v.vm, t);
    }
    if (v.pending == 0) {
        to_wait(v, t);
    } else {
        set_keys(v, t);
        enqueue(slot);
    }
    // Rule 6 after the vCPU's new state: its VM's lag lines are final here.
    if (vms_[v.vm].in_res_vms) res_changed(v.vm);
}

// ---- limit bucket (rule 5) --------------------------------------------------------------------

void CpuScheduler::apply_limit(Vm& m) {
    const auto vm_id = static_cast<std::uint32_t>(&m - vms_.data());
    const bool bound = m.limit < static_cast<double>(m.vcpus);
    if (bound) {
        if (m.bound) {
            update_credit(m, now_);
        } else {
            // Newly bound: runs already on a pCPU hold no grant.
            for (std::uint32_t k = 0; k < m.vcpus; ++k) {
                Vcpu& v = vcpus_[m.first + k];
                if (v.state == kQueued) flush(v, now_);
            }
            m.credit_time = now_;
            m.granted = 0;
            m.granted_end_sum = 0;
        }
        const bool was_bound = m.bound;
        m.bound = true;
        m.limit_u = static_cast<std::int64_t>(std::floor(m.limit * static_cast<double>(MICRO)));
        if (!was_bound) {
            // It starts with the credit one slice at the limit earns (0 for limit 0).
            const i128 earned = static_cast<i128>(m.limit_u) * slice_;
            m.credit = static_cast<std::int64_t>(std::min<i128>(static_cast<i128>(slice_) * MICRO, earned));
        }
        m.request = slice_ / std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(m.limit)));
        set_held_until(vm_id, now_);
    } else {
        if (m.bound) {
            for (std::uint32_t k = 0; k < m.vcpus; ++k) {
                Vcpu& v = vcpus_[m.first + k];
                if (v.state == kQueued) flush(v, now_);
                v.granted = false;
            }
        }
        m.bound = false;
        m.request = slice_;
        m.held_until = -1;
    }
}

std::int64_t CpuScheduler::credit_at(const Vm& m, std::int64_t t) const {
    const i128 accrued = static_cast<i128>(m.credit) + static_cast<i128>(m.limit_u) * (t - m.credit_time);
    const i128 cap = static_cast<i128>(slice_) * MICRO -
                     static_cast<i128>(MICRO) * (static_cast<i128>(m.granted_end_sum) - static_cast<i128>(m.granted) * t);
    return static_cast<std::int64_t>(accrued < cap ? accrued : cap);
}

void CpuScheduler::update_credit(Vm& m, std::int64_t t) {
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        Vcpu& v = vcpus_[m.first + k];
        if (v.state == kQueued) flush(v, t);
    }
    m.credit = credit_at(m, t);
    m.credit_time = t;
}

void CpuScheduler::set_held_until(std::uint32_t vm_id, std::int64_t t) {
    Vm& m = vms_[vm_id];
    const std::int64_t need = min_grant(m.request) * MICRO;
    if (m.credit >= need) {
        m.held_until = t;
    } else if (m.limit_u == 0) {
        m.held_until = NEVER;
    } else {
        i128 until = t + ceil_div(static_cast<i128>(need) - m.credit, m.limit_u);
        if (m.granted > 0) {
            const i128 cap_time = ceil_div(static_cast<i128>(need) - static_cast<i128>(slice_) * MICRO +
                                               static_cast<i128>(MICRO) * m.granted_end_sum,
                                           static_cast<i128>(MICRO) * m.granted);
            until = std::max(until, cap_time);
        }
        m.held_until = min_never(until);
    }
    if (!m.parked.empty() && m.held_until < NEVER) releases_.push(Key{m.held_until, vm_id, 0});
    // An urgent VM released by its limit may preempt: wake then (rule 6).
    if (m.in_res_vms && m.held_until > now_ && m.held_until < NEVER) {
        res_events_.push(Key{m.held_until, vm_id, 0});
    }
}

// ---- stats ------------------------------------------------------------------------------------

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
                const std::int64_t held_end = m.bound ? m.held_until : -1;
                const std::int64_t limited = std::max<std::int64_t>(0, std::min(now_, held_end) - v.since);
                r.limited_ns += limited;
                r.ready_ns += span - limited;
            }
            out[row++] = r;
        }
    }
}

}  // namespace vsched
