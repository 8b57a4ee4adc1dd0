// Rule 5 of docs/engines/scheduler.md: the limit token bucket of each limited
// VM (limit < vcpus), in micro-core-ns. Python-free.
//
//   credit accrues at limit_u = floor(limit * 10^6) per ns, capped so that
//   credit + unused grants <= room(t); with k running grants ending at e_1..e_k:
//     credit(t) = min(credit0 + limit_u * (t - t0), room(t) - 10^6 * (sum e - k*t))
//     room(t) = slice*10^6 + min(2*slice*vcpus*10^6, max(0, sum of the VM's vCPU lags at t))
//   (a VM behind its fluid share keeps what it is behind, up to its lag bound, to catch up;
//   the extra saturates at kRoomExtraMax so that the credit stays an int64)
//   a dispatch takes a grant of its run length; a run cut short refunds the rest;
//   held while credit < max(1, request // 4) * 10^6, request = slice // max(1, ceil(limit));
//   a VM that becomes limited starts with min(slice * 10^6, limit_u * slice) of credit
//   (nothing for limit 0).
//
// The bucket's state lives here, one Account per VM slot (beside the core's
// CpuScheduler::vms_, compacted with it); the core (csrc/core/scheduler.cpp and
// csrc/core/scheduler/limit_bucket.cpp) accounts the vCPUs' limited time and
// parks the vCPUs of held VMs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "vsched/scheduler/common.hpp"

namespace vsched::sched {

class LimitBucket {
public:
    struct Account {
        bool bound = false;            // limit < vcpus: the bucket applies
        std::int64_t held_until = -1;  // held before this time (bound VMs only)
        std::int64_t limit_u = 0;      // floor(limit * 10^6)
        std::int64_t credit = 0, credit_time = 0;  // credit as of credit_time
        std::int64_t granted = 0;      // running grants
        i128 granted_end_sum = 0;      // sum of their run ends (may pass int64)
        std::vector<std::uint64_t> parked;  // (slot << 32 | gen) of queued vCPUs skipped while held
    };

    explicit LimitBucket(std::int64_t slice_ns) : slice_(slice_ns) {}

    std::vector<Account>& accounts() { return accounts_; }
    const std::vector<Account>& accounts() const { return accounts_; }
    Account& operator[](std::size_t slot) { return accounts_[slot]; }
    const Account& operator[](std::size_t slot) const { return accounts_[slot]; }

    bool held(const Account& a, std::int64_t now) const { return a.bound && a.held_until > now; }
    // The end of the interval a queued vCPU of this VM counts as limited (-1: none).
    static std::int64_t held_end(const Account& a) { return a.bound ? a.held_until : -1; }

    // request = slice // max(1, ceil(limit)) ns: a limited VM's run quantum.
    std::int64_t request(double limit) const;
    // Starts the bucket of a VM that becomes limited at t (or re-rates a bound one,
    // whose credit must be brought to t first).
    void bind(Account& a, double limit, std::int64_t t) const;
    // room(t) above, from the VM's lag sum at t (micro-core-ns) and its vCPUs.
    static constexpr std::int64_t kRoomExtraMax = 4'000'000'000'000'000'000;
    std::int64_t room(i128 vm_lag, std::uint32_t vcpus) const {
        const i128 bound = 2 * static_cast<i128>(slice_) * vcpus * kMicro;
        const i128 extra = std::min<i128>(std::min<i128>(bound, kRoomExtraMax), std::max<i128>(0, vm_lag));
        return static_cast<std::int64_t>(static_cast<i128>(slice_) * kMicro + extra);
    }
    // credit(t) above, with the room of t.
    std::int64_t credit_at(const Account& a, std::int64_t t, std::int64_t room) const;
    void bring_credit(Account& a, std::int64_t t, std::int64_t room) const {
        a.credit = credit_at(a, t, room);
        a.credit_time = t;
    }
    // A grant of `length` ns ending at run_end; its refund at t (a run cut short).
    static void grant(Account& a, std::int64_t length, std::int64_t run_end) {
        a.credit -= length * kMicro;
        ++a.granted;
        a.granted_end_sum += run_end;
    }
    static void refund(Account& a, std::int64_t run_end, std::int64_t t) {
        a.credit += (run_end - t) * kMicro;
        --a.granted;
        a.granted_end_sum -= run_end;
    }
    // The first instant >= t at which credit(t') >= max(1, request // 4) * 10^6
    // (credit brought to t, with the room of t; kNever if it never comes).
    std::int64_t release_time(const Account& a, std::int64_t request, std::int64_t t, std::int64_t room) const;

    std::size_t memory_bytes() const;

private:
    std::int64_t slice_;
    std::vector<Account> accounts_;  // by VM slot
};

}  // namespace vsched::sched
