// VM ids and slots of the CPU scheduler (docs/engines/scheduler.md, "State,
// threads, Ctrl-C"): a long-lived scheduler sees VMs come and go forever, so
// its cost and memory must follow the live VMs, not every VM ever created.
//
// A VM's id is handed out once (0, 1, 2, ...; never reused, as in the
// reference). Its records live at a *slot*: vms_[slot], and its vCPUs side by
// side in vcpus_. New VMs take the next slots at the end, so slot order is id
// order; every tie-break of the rules (vm, vcpu) is a comparison of slots,
// and every sum "in id order" walks the slots. A removed VM's slots stay dead
// (its heap entries are stale by generation) until dead slots outnumber live
// ones; then compact_slots() renumbers the live slots in order, rewrites every
// stored slot and drops the entries of dead ones. Renumbering keeps order, so
// every queue pops the same entries in the same order and no decision
// changes; the dropped entries could only ever have been skipped. Each
// compaction costs O(slots + queued entries) and halves the slots at least:
// O(1) amortized per removal, and at most about twice the live slots in use.
#include <algorithm>
#include <limits>

#include "vsched/scheduler.hpp"

namespace vsched {

namespace {
constexpr std::uint32_t kGone = std::numeric_limits<std::uint32_t>::max();
}  // namespace

// ids_ is ascending (ids are handed out in increasing order and compaction
// keeps order): until the first compaction a VM's slot is its id.
std::int64_t CpuScheduler::slot_of(std::int64_t vm) const {
    if (vm < 0) return -1;
    std::size_t slot;
    if (static_cast<std::uint64_t>(vm) < ids_.size() && ids_[static_cast<std::size_t>(vm)] == vm) {
        slot = static_cast<std::size_t>(vm);
    } else {
        const auto it = std::lower_bound(ids_.begin(), ids_.end(), vm);
        if (it == ids_.end() || *it != vm) return -1;
        slot = static_cast<std::size_t>(it - ids_.begin());
    }
    return vms_[slot].alive ? static_cast<std::int64_t>(slot) : -1;
}

void CpuScheduler::compact_if_sparse() {
    if ((dead_vms_ >= 64 && dead_vms_ >= live_vms_) || (dead_vcpus_ >= 1024 && dead_vcpus_ >= live_vcpus_)) {
        compact_slots();
    }
}

void CpuScheduler::compact_slots() {
    std::vector<std::uint32_t> vm_map(vms_.size(), kGone), vcpu_map(vcpus_.size(), kGone);
    std::uint32_t vms = 0, vcpus = 0;
    for (std::size_t i = 0; i < vms_.size(); ++i) {
        Vm& m = vms_[i];
        if (!m.alive) continue;
        vm_map[i] = vms;
        const std::uint32_t first = vcpus;
        for (std::uint32_t k = 0; k < m.vcpus; ++k) {
            vcpu_map[m.first + k] = vcpus;
            Vcpu& v = vcpus_[vcpus++] = vcpus_[m.first + k];  // never ahead of the source
            v.vm = vms;
        }
        m.first = first;
        for (std::uint64_t& p : limits_[i].parked) {  // (slot << 32 | gen) of its own vCPUs
            p = (static_cast<std::uint64_t>(vcpu_map[p >> 32]) << 32) | (p & 0xffffffffu);
        }
        if (vms != i) {
            vms_[vms] = m;
            limits_[vms] = std::move(limits_[i]);
            res_[vms] = res_[i];
        }
        ++vms;
    }
    vms_.resize(vms);
    limits_.accounts().resize(vms);
    res_.accounts().resize(vms);
    vcpus_.resize(vcpus);
    ids_.resize(vms);
    for (std::size_t i = 0; i < vms; ++i) ids_[i] = vms_[i].id;

    auto vcpu_entry = [&](auto& e) {
        e.slot = vcpu_map[e.slot];
        return e.slot != kGone;
    };
    auto vm_entry = [&](auto& e) {
        e.slot = vm_map[e.slot];
        return e.slot != kGone;
    };
    eligible_.filter_map(vcpu_entry);
    waiting_.filter_map(vcpu_entry);
    busy_.filter_map(vcpu_entry);
    releases_.filter_map(vm_entry);
    borrowed_.filter_map(vcpu_entry);
    res_.remap_slots(vm_map, kGone, now_);
    drop_runs();  // slots moved: built again at the next victim search
    fs_vms_.clear();  // scratch of recompute(), refilled there
    // The incremental recompute's list names old slots: the next recompute is
    // a full one (compactions are amortized O(1) per removal, so is this).
    caches_valid_ = false;
    dirty_vms_.clear();
    for (Vm& m : vms_) m.dirty = false;
    scratch_pending_.assign(vcpus_.size(), -1);
    dead_vms_ = 0;
    dead_vcpus_ = 0;
}

std::size_t CpuScheduler::memory_bytes() const {
    std::size_t bytes = sizeof(*this) + vms_.capacity() * sizeof(Vm) + vcpus_.capacity() * sizeof(Vcpu) +
                        ids_.capacity() * sizeof(std::int64_t) + borrowed_.capacity() * sizeof(Entry) +
                        (fs_vms_.capacity() + scratch_slots_.capacity()) * sizeof(std::uint32_t) +
                        scratch_pending_.capacity() * sizeof(std::int64_t) + runs_.capacity() * sizeof(RunRecord) +
                        (fs_demand_.capacity() + fs_shares_.capacity() + fs_reservation_.capacity() +
                         fs_limit_.capacity() + fs_out_.capacity()) * sizeof(double) +
                        limits_.memory_bytes() + res_.memory_bytes();
    bytes += eligible_.memory_bytes() + waiting_.memory_bytes() + busy_.memory_bytes() + releases_.memory_bytes();
    return bytes;
}

}  // namespace vsched
