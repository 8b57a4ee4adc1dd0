// Sliding-window reallocation: lend idle entitlement while the host is under
// its load threshold. Python-free; the rules are written out in
// src/vsched/reallocation.py (class docstring) and csrc/core/reallocator.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vsched/id_columns.hpp"
#include <vector>

#include "vsched/exclusive_use.hpp"
#include "vsched/fair_share.hpp"
#include "vsched/interrupt.hpp"
#include "vsched/ordered_sum.hpp"
#include "vsched/usage_window.hpp"
#include "vsched/warm_fair_share.hpp"

namespace vsched {

// One VM as plain data: its parameters, its window and the saturation flag
// of its last sample (export_vm / import_vm).
struct VmState {
    double size = 0.0;
    std::int64_t shares = 1000;
    double reservation = 0.0;
    double limit = 0.0;      // +inf: none
    bool saturated = false;  // the last sample reached the entitlement then in force
    ColumnState window;
};

// One object, one thread at a time (ExclusiveUse: the bindings hold its scope
// for every call).
class Reallocator : public ExclusiveUse {
public:
    // Throws std::invalid_argument on a bad value (names the argument).
    Reallocator(double capacity, std::int64_t window, double threshold, const std::string& estimator,
                double percentile, double headroom);

    // Admits a VM (limit = +inf: none) and returns its id (0, 1, 2, ... never
    // reused). invalid_argument on bad values, AdmissionError when a guarantee
    // would break; the object is unchanged on any throw.
    std::int64_t add_vm(double size, std::int64_t shares, double reservation, double limit);
    // Replaces the parameters of a VM (its window and saturation are kept).
    void set_vm(std::int64_t vm, double size, std::int64_t shares, double reservation, double limit);
    void remove_vm(std::int64_t vm);

    const std::vector<std::int64_t>& vms() const { return ids_; }
    std::size_t size() const { return ids_.size(); }

    // Throws invalid_argument unless usage[0..count) are all finite and >= 0
    // (row-major ticks x VMs for batches; `count` is the total).
    void validate_usage(const double* usage, std::size_t count) const;
    // One tick: usage[i] for the VM vms()[i]. Validates everything first.
    void observe(const double* usage);
    // `ticks` rows of size() samples; writes the entitlements after each tick
    // to out (same shape). With cap_at_entitlement the rows are demands and
    // VM i is observed using min(demand_i, its entitlement in force).
    // `interrupt` is polled between ticks: when it asks to stop, Interrupted
    // is thrown there and the object has observed exactly the ticks before.
    void observe_many(const double* usage, std::size_t ticks, bool cap_at_entitlement, double* out,
                      Interrupt* interrupt = nullptr);

    // VM `vm` as plain data (KeyError if unknown); nothing changes.
    VmState export_vm(std::int64_t vm) const;
    // Admits `state` as a new VM (the id add_vm would return) through the
    // same checks as add_vm, then installs its window. invalid_argument /
    // AdmissionError and nothing changed when it cannot be done.
    std::int64_t import_vm(const VmState& state);

    // The whole state as a checkpoint (vsched/state_io.hpp), and back:
    // restore() throws invalid_argument on a checkpoint of another kind or
    // format, or on truncated or corrupt bytes.
    std::string save() const;
    static Reallocator restore(const std::string& bytes);

    const std::vector<double>& entitlements();
    const std::vector<double>& base();
    const std::vector<double>& estimates();
    double load();
    bool lending();

    double capacity() const { return capacity_; }
    std::size_t window() const { return windows_.config().window; }
    double threshold() const { return threshold_; }
    double percentile() const { return percentile_; }
    double headroom() const { return headroom_; }
    const std::string& estimator() const { return windows_.estimator_name(); }

private:
    struct Params {
        double size, shares, reservation, limit;
    };
    Params check_params(double size, std::int64_t shares, double reservation, double limit) const;
    // AdmissionError if the floors (reservations) would exceed the capacity
    // with VM `index` (== size() for a new VM) given `reservation`.
    void check_admission(std::size_t index, double reservation) const;
    std::size_t index_of(std::int64_t vm) const;
    void store(std::size_t index, const Params& p);
    // add_vm's second half, after every check: appends the VM (with its
    // window from `window` if given) and returns its id.
    std::int64_t admit(const Params& p, const ColumnState* window, bool saturated);
    void refresh();       // recomputes every cached result if the state changed
    void push_tick(const double* usage, bool cap_at_entitlement);

    double capacity_;
    double threshold_;
    double percentile_;
    double headroom_;

    std::int64_t next_id_ = 0;
    std::vector<std::int64_t> ids_;
    IdColumns index_;  // id -> index into ids_ and the per-VM vectors
    std::vector<double> size_, shares_, reservation_, limit_;
    std::vector<double> ceiling_;              // min(size, limit)
    CachedOrderedSum reservation_sum_;         // sum of reservation_ in VM order (admission)
    UsageWindows windows_{"max", WindowConfig{}};  // replaced by the constructor (holds the config)
    std::vector<std::uint32_t> column_;        // VM index -> its column in windows_
    std::vector<std::uint8_t> saturated_;      // last sample reached the entitlement
    std::vector<double> samples_;              // scratch: the samples of one tick

    // Cached results, valid while !dirty_ (base also while !base_dirty_).
    bool dirty_ = true;
    bool base_dirty_ = true;
    std::vector<double> base_, estimates_, entitlements_;
    double load_ = 0.0;
    bool lending_ = false;

    FairShareSolver solver_;                   // base (recomputed on VM changes only)
    WarmFairShare first_pass_, second_pass_;   // every tick; each keeps its own level
    std::vector<double> demand_, first_, second_;  // scratch for the two passes
};

}  // namespace vsched
