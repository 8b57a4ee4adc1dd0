// vCPU fair-share scheduler: EEVDF-style slices of vCPUs on the pCPUs of one
// host, with shares, reservations and limits. Rules: docs/engines/scheduler.md
// (numbered once there); formulas beside the code: the core loop (rules 1-4, 7)
// in csrc/core/scheduler.cpp, the limit bucket (rule 5) in
// vsched/scheduler/limit_bucket.hpp + csrc/core/scheduler/limit_bucket.cpp, the
// reservation accounts (rule 6) in vsched/scheduler/reservations.hpp +
// csrc/core/scheduler/reservations.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vsched/containers/lazy_heap.hpp"
#include "vsched/exclusive_use.hpp"
#include "vsched/fair_share.hpp"
#include "vsched/huge_pages.hpp"
#include "vsched/interrupt.hpp"
#include "vsched/ordered_sum.hpp"
#include "vsched/scheduler/common.hpp"
#include "vsched/scheduler/limit_bucket.hpp"
#include "vsched/scheduler/reservations.hpp"
#include "vsched/scheduler/waiting_queue.hpp"
#include "vsched/warm_fair_share.hpp"
#include "vsched/two_lane_queue.hpp"

namespace vsched {

// Work that never runs out (the vCPU is CPU-bound until clear_work).
constexpr std::int64_t kForever = INT64_MAX;

// One row of per-vCPU statistics (cumulative, brought up to now).
struct VcpuRow {
    std::int64_t vm, vcpu, run_ns, ready_ns, limited_ns, wait_ns, pending_ns, switches;
};

// One thread at a time (ExclusiveUse): the bindings hold its scope in every call.
// A VM's parameters (limit +inf for none).
struct SchedVmParams {
    std::int64_t vcpus, shares;
    double reservation, limit;
};

// What travels with a moved VM, per vCPU (scheduler_vm_state.cpp).
struct VcpuCarry {
    std::int64_t run_ns, ready_ns, limited_ns, wait_ns, switches, pending_ns;
};

class CpuScheduler : public ExclusiveUse {
public:
    // Heap entries (vsched/scheduler/common.hpp); gen detects stale ones. Key
    // is ordered by (a, slot), Entry by (a, b, slot) (only the heaps that need
    // a second key pay for it).
    using Key = sched::Key;
    using Entry = sched::Entry;
    using Before = sched::Before;

    // strict_reservations: rule 6 on (a reserved VM gets >= r*T - slice in every
    // window). Off, a reservation is only the floor of the fluid target (rule 1),
    // kept within the lag bound: cheaper on hosts where most VMs hold one.
    CpuScheduler(std::int64_t pcpus, std::int64_t slice_ns, bool strict_reservations = true);

    std::int64_t now() const { return now_; }
    std::int64_t pcpus() const { return pcpus_; }
    std::int64_t slice_ns() const { return slice_; }
    std::int64_t decisions() const { return decisions_; }
    bool strict_reservations() const { return strict_reservations_; }

    // limit: +inf for none. Returns the new VM id.
    std::int64_t add_vm(std::int64_t vcpus, std::int64_t shares, double reservation, double limit);
    void set_vm(std::int64_t vm, std::optional<std::int64_t> shares, std::optional<double> reservation,
                std::optional<double> limit);
    void remove_vm(std::int64_t vm);

    // Batch of n (vm, vcpu, work_ns); validated as a whole before any is applied.
    void add_work(std::size_t n, const std::int64_t* vm, const std::int64_t* vcpu, const std::int64_t* work_ns);
    // vcpu < 0: every vCPU of the VM.
    void clear_work(std::int64_t vm, std::optional<std::int64_t> vcpu);
    // clear_work of every vCPU of every live VM, in id order.
    void clear_all_work();
    // Batch of n (vm, limit) (limit +inf for none): validated as a whole (unknown
    // VM, NaN or negative limit, limit below the VM's reservation) before any is
    // applied; then each is set_vm(vm, limit) in order (a repeated VM: the last wins).
    void set_limits(std::size_t n, const std::int64_t* vm, const double* limit);
    // interrupt (optional) is polled between decision instants; when it asks
    // to stop, run throws Interrupted with now() at the last instant decided,
    // in exactly the state of a run() asked to end there.
    void run(std::int64_t duration_ns, Interrupt* interrupt = nullptr);

    // Checkpoint (csrc/core/scheduler_state.cpp, docs/engines/scheduler.md):
    // the whole state as versioned bytes; load() refuses (invalid_argument)
    // bytes of another kind or format, corrupt or inconsistent ones.
    std::string save() const;
    static CpuScheduler load(const std::string& bytes);

    std::size_t live_vms() const { return live_vms_; }
    // Recomputes (rule 1) since construction or restore: full ones (every VM)
    // and incremental ones (only the changed VMs); same decisions either way.
    std::int64_t full_recomputes() const { return full_recomputes_; }
    std::int64_t incremental_recomputes() const { return incremental_recomputes_; }
    // Tests: every recompute a full one (the incremental one must not change a decision).
    void set_force_full_recompute(bool on) { force_full_recompute_ = on; }
    std::size_t live_vcpus() const { return live_vcpus_; }
    // Moving a VM (scheduler_vm_state.cpp, docs/engines/scheduler.md "Moving a VM"):
    // its parameters (KeyError if unknown), and a new VM with these parameters
    // (add_vm's checks) whose vCPUs start with these counters and queued work;
    // carry has params.vcpus rows, all checked before anything changes.
    SchedVmParams vm_params(std::int64_t vm) const;
    std::int64_t import_vm(const SchedVmParams& params, const VcpuCarry* carry);

    // Bytes this object holds (records, queues, scratch): follows the live VMs,
    // not every VM ever added (scheduler_slots.cpp).
    std::size_t memory_bytes() const;
    // Writes live_vcpus() rows, VMs in id order then vCPU index order.
    void vcpu_stats(VcpuRow* out) const;

private:
    enum State : std::uint8_t { kWait = 0, kQueued = 1, kRunning = 2 };

    struct Vcpu {
        std::int64_t pending = 0;
        std::int64_t since = 0;
        std::int64_t run_ns = 0, ready_ns = 0, limited_ns = 0, wait_ns = 0, switches = 0;
        std::int64_t lag = 0, lag_time = 0, rate = 0;
        std::int64_t eligible = 0, deadline = 0;
        std::int64_t run_start = 0, run_end = 0, stopped_at = -1;
        std::uint32_t vm = 0, index = 0, gen = 0;
        State state = kWait;
        bool granted = false;
        bool borrowed = false;  // running although not eligible at dispatch (preemptible)
        bool reserved = false;  // running because its VM was urgent at dispatch (rule 6)
        std::uint32_t run_pos = 0;  // while running: its record in runs_
    };
    // A run on a pCPU, with what rule 6's victim search reads of it, kept
    // together (one record per pCPU: a search reads these, not the vCPU records).
    struct RunRecord {
        std::uint32_t slot, vm, gen;  // gen: the vCPU's during this run
        std::int64_t deadline;
        std::int64_t victim_from;  // first instant it may be a victim: kNever if it started overdue,
                                   // run start + P for a reserved run, else its start
    };
    // Kept only while a VM has a reserved rate (rule 6 can preempt): built at
    // the first victim search, dropped when no reserved rate is left, so a
    // host without reservations pays one branch per dispatch and stop.
    std::vector<RunRecord> runs_;  // the running vCPUs, the first runs_count_, in no particular order
    std::uint32_t runs_count_ = 0;
    bool runs_kept_ = false;
    void add_run(std::uint32_t slot);
    void remove_run(std::uint32_t slot);
    void keep_runs();   // builds runs_ from the vCPU records and keeps it from now on
    void drop_runs();   // stops keeping runs_ (a restore, a compaction, no reserved rate left)

    // A VM's record in the core loop. Its limit bucket (rule 5) is limits_[slot]
    // and its reservation account (rule 6) res_[slot]: their own state, kept
    // beside vms_ (same slots, compacted together).
    struct Vm {
        std::int64_t id = 0;  // the public VM id (slots are reused, ids never)
        std::uint32_t first = 0, vcpus = 0;
        std::int64_t shares = 0;
        double reservation = 0.0, limit = 0.0;
        std::int64_t demand = 0;    // its vCPUs with work
        bool alive = true;
        std::int64_t request = 0;   // run quantum: slice, or slice // ceil(limit) if limited (rule 5)
        std::int64_t running = 0;   // its vCPUs on a pCPU
        // Rule 1's inputs and result at the last recompute, for the incremental
        // recompute (a cache: not in checkpoints; a restored object's first
        // recompute is a full one).
        bool dirty = false;  // listed in dirty_vms_ since the last recompute
        bool in_fs = false;  // had demand (was in the fair-share division)
        double fs_u = 0.0, fs_f = 0.0, fs_w = 0.0;  // ceiling, floor and shares it was given
        double fs_a = 0.0;                          // its fluid target a_i
        std::int64_t fs_q = 0;                      // ceil(fs_u * 2^40), its term of ceilings_q_
    };


    // VM ids and slots (scheduler_slots.cpp): the slot of live VM `vm`, or -1.
    std::int64_t slot_of(std::int64_t vm) const;
    void compact_if_sparse();
    void compact_slots();

    // Checkpoint helpers (scheduler_state.cpp).
    void validate_loaded();  // also sets the live counts

    Vm& vm_ref(std::int64_t vm);
    double reserved_sum() const;
    void check_params(std::int64_t vcpus, std::int64_t shares, double reservation, double limit,
                      std::int64_t skip) const;

    // The core loop (scheduler.cpp).
    void decide();
    bool dispatch_best();
    void stop_least_deserving_borrowed();
    // Rule 6 (reservation; scheduler/reservations.cpp), by VM slot.
    std::int64_t res_slope(std::uint32_t vm) const {
        return sched::ReservationAccounts::slope(res_[vm], vms_[vm].running);
    }
    std::int64_t res_lag_at(std::uint32_t vm, std::int64_t t) const {
        return res_.lag_at(res_[vm], vms_[vm].running, t);
    }
    void res_update(std::uint32_t vm, std::int64_t t) { res_.bring(res_[vm], vms_[vm].running, t); }
    bool urgent(std::uint32_t vm) const { return res_.urgent(res_[vm], vms_[vm].running, now_); }
    std::int64_t urgent_pick();
    void res_changed(std::uint32_t vm_id);
    std::int64_t urgency_victim();
    void add_victims_of(std::uint32_t vm_id);
    bool as_victim(const RunRecord& r, sched::ReservationAccounts::Victim& out) const;
    std::int64_t urgent_pick_now();
    bool overdue_pickable();
    // Rule 1 (recompute()): the full division over every VM with demand, or
    // the incremental one over the VMs changed since (recompute_incremental()
    // says whether it applies and gives the same result, bit for bit).
    void recompute();
    void recompute_full();
    bool recompute_incremental();
    void rerate_vm(std::uint32_t vm_id, bool stale_old_entries);  // new rates and keys of its vCPUs
    void set_res_rate(std::uint32_t vm_id);  // rule 6's res_u from the VM's demand
    bool surely_uncontended() const;
    void mark_dirty(std::uint32_t vm_id);
    bool pick_and_dispatch();
    template <class Queue>
    bool pick_from(Queue& queue);
    bool park_if_held(std::uint32_t slot, std::uint32_t gen);
    bool eligible_pickable();
    void process_releases();
    void dispatch(std::uint32_t slot);
    void stop(std::uint32_t slot, std::int64_t t);
    void to_wait(Vcpu& v, std::int64_t t);
    void clear_vcpu(std::uint32_t slot);
    void wake(Vcpu& v);
    void enqueue(std::uint32_t slot);
    void flush(Vcpu& v, std::int64_t t) const;
    void bring_lag(Vcpu& v, std::int64_t t) const;
    // The sum of the lags at t of the VM's vCPUs with work (rule 5's room reads it).
    sched::i128 vm_lag_at(std::uint32_t vm, std::int64_t t) const;
    void set_keys(Vcpu& v, std::int64_t t) const;
    std::int64_t next_event();

    // Rule 5 (limit bucket; scheduler/limit_bucket.cpp), by VM slot.
    void apply_limit(std::uint32_t vm_id);
    void update_credit(std::uint32_t vm_id, std::int64_t t);
    void set_held_until(std::uint32_t vm_id, std::int64_t t);
    bool held(std::uint32_t vm_id) const { return limits_.held(limits_[vm_id], now_); }
    void unpark(std::uint32_t vm_id);

    std::int64_t pcpus_, slice_;
    bool strict_reservations_ = true;
    std::int64_t now_ = 0;
    std::int64_t running_ = 0;
    std::int64_t borrowed_count_ = 0;
    std::int64_t decisions_ = 0;
    CachedOrderedSum reserved_sum_;  // see reserved_sum()
    bool dirty_ = false;
    // Incremental recompute (scheduler.cpp, recompute_incremental()).
    std::vector<std::uint32_t> dirty_vms_;  // VMs whose demand or parameters changed since the last recompute
    bool caches_valid_ = false;  // every VM's fs_* is that of the last recompute (false: next one is full)
    bool at_ceilings_ = false;   // the last division gave every VM its ceiling (fs_a == fs_u)
    __int128 ceilings_q_ = 0;    // sum of fs_q over the VMs in the division
    std::size_t fs_count_ = 0;   // VMs in the division
    // No lag line can reach the +-1e18 clamp before this time (lags move by at
    // most 10^6 per ns; see kLagHorizon in scheduler.cpp): until then lags
    // brought to now and keys recomputed at now are what the unchanged lines
    // give, so unchanged VMs can be skipped.
    mutable std::int64_t lag_guard_ = 0;
    std::int64_t full_recomputes_ = 0, incremental_recomputes_ = 0;
    bool force_full_recompute_ = false;  // not in checkpoints (a test switch)
    std::size_t live_vms_ = 0, live_vcpus_ = 0;
    std::vector<Vm> vms_;       // by slot; slot order is VM id order (scheduler_slots.cpp)
    // By slot; each VM's vCPUs side by side, in VM order. On 2 MB pages once the records
    // reach 2 MB (~14,000 vCPUs): the decisions read them at random, and at 10,000 VMs the
    // 4 KB pages' TLB misses cost ~30 % of a decision (docs/performance.md, sliced tick).
    HugeVector<Vcpu> vcpus_;
    std::vector<std::int64_t> ids_;  // ids_[slot] = vms_[slot].id, ascending
    std::int64_t next_id_ = 0;
    std::size_t dead_vms_ = 0, dead_vcpus_ = 0;  // slots of removed VMs not yet compacted
    std::vector<std::uint32_t> scratch_slots_;   // add_work / set_limits: VM slot of each item

    // Priority queues (entries may be stale: checked by gen when they come out).
    TwoLaneQueue<Key, Before> eligible_;    // queued, eligible: (deadline, slot)
    sched::WaitingQueue waiting_;           // queued, not yet eligible: (eligible, deadline, slot)
    TwoLaneQueue<Key, Before> busy_;        // running: (run_end, slot)
    TwoLaneQueue<Key, Before> releases_;    // held VMs with parked vCPUs: (held_until, vm)
    // Borrowed runs, largest (eligible, deadline, slot) on top; live entries:
    // borrowed_count_ (stale by gen, dropped by the lazy heap's compaction rule).
    // Binary: its array is checkpointed in this layout (state format unchanged).
    LazyHeap<Entry, LargestFirst<Before>, 2> borrowed_;
    sched::LimitBucket limits_;         // rule 5: each VM's bucket, by slot
    sched::ReservationAccounts res_;    // rule 6: each VM's account, urgent VMs, events
    void list_urgent(std::uint32_t vm_id);
    std::int64_t urgent_pick_by_scan();
    std::int64_t queued_with_earliest_deadline(const Vm& m) const;

    WarmFairShare solver_;  // the kernel's result, warm-started from the last recompute's level
    std::vector<double> fs_demand_, fs_shares_, fs_reservation_, fs_limit_, fs_out_;
    std::vector<std::uint32_t> fs_vms_;
    std::vector<std::int64_t> scratch_pending_;  // add_work validation, indexed by slot
};

}  // namespace vsched
