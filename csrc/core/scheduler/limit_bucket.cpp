// Rule 5 of docs/engines/scheduler.md: the limit token bucket
// (vsched/scheduler/limit_bucket.hpp carries the formula block), and the
// CpuScheduler's side of it: binding a VM to its limit, accounting its queued
// vCPUs' limited time before the credit moves, parking the vCPUs of held VMs
// and releasing them.
//
//   credit(t) = min(credit0 + limit_u*(t - t0), room(t) - 10^6*(sum e - k*t))
//   room(t) = slice*10^6 + min(2*slice*vcpus*10^6, max(0, sum of the VM's vCPU lags at t))
//   held while credit < max(1, request // 4) * 10^6, request = slice // max(1, ceil(limit))
#include "vsched/scheduler/limit_bucket.hpp"

#include <algorithm>
#include <cmath>

#include "vsched/scheduler.hpp"

namespace vsched {

namespace sched {

namespace {

// A limited VM is held while its credit is below this many ns of run: a
// quarter request, so a VM limited at exactly its fluid share does not lose
// credit at the bucket's cap while it waits for a full request.
inline std::int64_t min_grant(std::int64_t request) { return std::max<std::int64_t>(1, request / 4); }

}  // namespace

std::int64_t LimitBucket::request(double limit) const {
    return slice_ / std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(limit)));
}

void LimitBucket::bind(Account& a, double limit, std::int64_t t) const {
    const bool was_bound = a.bound;
    if (!was_bound) {
        // Newly bound: runs already on a pCPU hold no grant.
        a.credit_time = t;
        a.granted = 0;
        a.granted_end_sum = 0;
    }
    a.bound = true;
    a.limit_u = static_cast<std::int64_t>(std::floor(limit * static_cast<double>(kMicro)));
    if (!was_bound) {
        // It starts with the credit one slice at the limit earns (0 for limit 0).
        const i128 earned = static_cast<i128>(a.limit_u) * slice_;
        a.credit = static_cast<std::int64_t>(std::min<i128>(static_cast<i128>(slice_) * kMicro, earned));
    }
}

std::int64_t LimitBucket::credit_at(const Account& a, std::int64_t t, std::int64_t room) const {
    const i128 accrued = static_cast<i128>(a.credit) + static_cast<i128>(a.limit_u) * (t - a.credit_time);
    const i128 cap = static_cast<i128>(room) -
                     static_cast<i128>(kMicro) * (a.granted_end_sum - static_cast<i128>(a.granted) * t);
    return static_cast<std::int64_t>(accrued < cap ? accrued : cap);
}

std::int64_t LimitBucket::release_time(const Account& a, std::int64_t request, std::int64_t t,
                                       std::int64_t room) const {
    const std::int64_t need = min_grant(request) * kMicro;
    if (a.credit >= need) return t;
    if (a.limit_u == 0) return kNever;
    i128 until = t + ceil_div(static_cast<i128>(need) - a.credit, a.limit_u);
    if (a.granted > 0) {
        // ... and the cap (the running grants' unused part) must have room for it.
        const i128 cap_time = ceil_div(static_cast<i128>(need) - static_cast<i128>(room) +
                                           static_cast<i128>(kMicro) * a.granted_end_sum,
                                       static_cast<i128>(kMicro) * a.granted);
        until = std::max(until, cap_time);
    }
    return min_never(until);
}

std::size_t LimitBucket::memory_bytes() const {
    std::size_t bytes = accounts_.capacity() * sizeof(Account);
    for (const Account& a : accounts_) bytes += a.parked.capacity() * sizeof(std::uint64_t);
    return bytes;
}

}  // namespace sched

namespace {
using sched::kNever;  // (vsched/scheduler/common.hpp)
}  // namespace

// ---- the scheduler's side of rule 5 ---------------------------------------------------------

void CpuScheduler::apply_limit(std::uint32_t vm_id) {
    Vm& m = vms_[vm_id];
    sched::LimitBucket::Account& b = limits_[vm_id];
    if (m.limit < static_cast<double>(m.vcpus)) {
        if (b.bound) {
            update_credit(vm_id, now_);
        } else {
            // Queued vCPUs are accounted up to now before their VM can be held.
            for (std::uint32_t k = 0; k < m.vcpus; ++k) {
                Vcpu& v = vcpus_[m.first + k];
                if (v.state == kQueued) flush(v, now_);
            }
        }
        limits_.bind(b, m.limit, now_);
        m.request = limits_.request(m.limit);
        set_held_until(vm_id, now_);
    } else {
        if (b.bound) {
            for (std::uint32_t k = 0; k < m.vcpus; ++k) {
                Vcpu& v = vcpus_[m.first + k];
                if (v.state == kQueued) flush(v, now_);
                v.granted = false;
            }
        }
        b.bound = false;
        m.request = slice_;
        b.held_until = -1;
    }
}

// The VM's queued vCPUs are accounted up to t (limited or ready by the old
// held_until), then its credit is brought to t.
void CpuScheduler::update_credit(std::uint32_t vm_id, std::int64_t t) {
    const Vm& m = vms_[vm_id];
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        Vcpu& v = vcpus_[m.first + k];
        if (v.state == kQueued) flush(v, t);
    }
    limits_.bring_credit(limits_[vm_id], t, limits_.room(vm_lag_at(vm_id, t), vms_[vm_id].vcpus));
}

void CpuScheduler::set_held_until(std::uint32_t vm_id, std::int64_t t) {
    sched::LimitBucket::Account& b = limits_[vm_id];
    b.held_until = limits_.release_time(b, vms_[vm_id].request, t, limits_.room(vm_lag_at(vm_id, t), vms_[vm_id].vcpus));
    if (!b.parked.empty() && b.held_until < kNever) releases_.push(Key{b.held_until, vm_id, 0});
    // An urgent VM released by its limit may preempt: wake then (rule 6).
    if (res_[vm_id].listed && b.held_until > now_ && b.held_until < kNever) {
        res_.events.push(Key{b.held_until, vm_id, 0});
    }
}

// If the queued vCPU (slot, gen)'s VM is held by its limit, parks it on the VM
// (with a release event pending) and returns true.
bool CpuScheduler::park_if_held(std::uint32_t slot, std::uint32_t gen) {
    const std::uint32_t vm = vcpus_[slot].vm;
    sched::LimitBucket::Account& b = limits_[vm];
    if (!limits_.held(b, now_)) return false;
    if (b.parked.empty() && b.held_until < kNever) releases_.push(Key{b.held_until, vm, 0});
    b.parked.push_back((static_cast<std::uint64_t>(slot) << 32) | gen);
    return true;
}

// Unpark the vCPUs of VMs whose limit released them by now.
void CpuScheduler::process_releases() {
    while (!releases_.empty() && releases_.front().a <= now_) {
        const Key e = releases_.pop();
        sched::LimitBucket::Account& b = limits_[e.slot];
        if (!vms_[e.slot].alive || b.parked.empty()) continue;
        if (!limits_.held(b, now_)) {
            unpark(e.slot);
        } else if (b.held_until < kNever) {
            releases_.push(Key{b.held_until, e.slot, 0});
        }
    }
}

void CpuScheduler::unpark(std::uint32_t vm_id) {
    sched::LimitBucket::Account& b = limits_[vm_id];
    for (const std::uint64_t p : b.parked) {
        const auto slot = static_cast<std::uint32_t>(p >> 32);
        const auto gen = static_cast<std::uint32_t>(p & 0xffffffffu);
        const Vcpu& v = vcpus_[slot];
        if (v.gen == gen && v.state == kQueued) enqueue(slot);
    }
    b.parked.clear();
}

}  // namespace vsched
