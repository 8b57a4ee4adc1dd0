// Moving a VM between schedulers (docs/engines/scheduler.md, "Moving a VM"):
// its parameters, and per vCPU its accounting counters and queued work. The
// EEVDF lag, the limit bucket and the reservation account do not travel:
// the imported VM starts them afresh, exactly as add_vm would.
#include <stdexcept>

#include "vsched/errors.hpp"
#include "vsched/scheduler.hpp"

namespace vsched {

namespace {
constexpr std::int64_t kMaxCount = std::int64_t{1} << 62;  // finite counters and queued work stay below
constexpr std::int64_t kMaxTime = std::int64_t{1} << 61;   // a vCPU's time counters sum to at most this
}  // namespace

SchedVmParams CpuScheduler::vm_params(std::int64_t vm) const {
    const std::int64_t slot = slot_of(vm);
    if (slot < 0) throw KeyError(message("vm = ", vm, ": no such VM"));
    const Vm& m = vms_[static_cast<std::size_t>(slot)];
    return {m.vcpus, m.shares, m.reservation, m.limit};
}

std::int64_t CpuScheduler::import_vm(const SchedVmParams& params, const VcpuCarry* carry) {
    if (params.vcpus >= 1 && params.vcpus <= 1024) {
        for (std::int64_t k = 0; k < params.vcpus; ++k) {
            const VcpuCarry& c = carry[k];
            const std::int64_t values[] = {c.run_ns, c.ready_ns, c.limited_ns, c.wait_ns, c.switches};
            for (const std::int64_t x : values) {
                if (x < 0 || x >= kMaxCount) {
                    throw std::invalid_argument(message("vCPU ", k, ": counter ", x, " is not in [0, 2**62)"));
                }
            }
            if (c.pending_ns < 0 || (c.pending_ns >= kMaxCount && c.pending_ns != kForever)) {
                throw std::invalid_argument(message("pending_ns[", k, "] = ", c.pending_ns,
                                                    ": must be in [0, 2**62) or vsched.FOREVER"));
            }
            if (c.run_ns + c.ready_ns > kMaxTime - c.limited_ns - c.wait_ns) {  // each < 2**62: no overflow
                throw std::invalid_argument(
                    message("vCPU ", k, ": run_ns + ready_ns + limited_ns + wait_ns exceeds 2**61 ns"));
            }
        }
    }
    // add_vm checks the parameters and admission; nothing has changed if it throws.
    const std::int64_t id = add_vm(params.vcpus, params.shares, params.reservation, params.limit);
    Vm& m = vms_[static_cast<std::size_t>(slot_of(id))];
    for (std::uint32_t k = 0; k < m.vcpus; ++k) {
        Vcpu& v = vcpus_[m.first + k];
        const VcpuCarry& c = carry[k];
        v.run_ns = c.run_ns;
        v.ready_ns = c.ready_ns;
        v.limited_ns = c.limited_ns;
        v.wait_ns = c.wait_ns;
        v.switches = c.switches;
        if (c.pending_ns > 0) {
            v.pending = c.pending_ns;
            wake(v);  // as add_work on an idle vCPU
        }
    }
    return id;
}

}  // namespace vsched
