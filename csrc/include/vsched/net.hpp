// Network QoS for one host's NIC: strict priority across bands, weighted fair
// share with floors and ceilings within a band, an optional guard against
// starvation. Python-free. The rules are numbered in docs/engines/network.md;
// the fluid formulas are beside NetScheduler::allocate (csrc/core/net.cpp),
// the packet engine's in csrc/core/net_packets.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vsched/id_columns.hpp"
#include <vector>

#include "vsched/exclusive_use.hpp"
#include "vsched/fair_share.hpp"
#include "vsched/interrupt.hpp"
#include "vsched/net_packets.hpp"

namespace vsched {

// The guard of each band (docs/engines/network.md, N3): caps[k] bounds band
// k's total rate (+inf: none), minimums[k] is set aside for band k before
// any higher band is served (0: none).
struct NetGuard {
    std::vector<double> caps;
    std::vector<double> minimums;
};

// One object, one thread at a time (ExclusiveUse: the bindings hold its scope
// for every call).
class NetScheduler : public ExclusiveUse {
public:
    // Throws std::invalid_argument on a bad value (names the argument) and
    // AdmissionError when the minimums exceed the link. Empty guard vectors
    // mean no caps / no minimums.
    NetScheduler(double link_bps, std::int64_t bands, const NetGuard& guard);

    // Admits a VM (limit = +inf: none) and returns its id (0, 1, 2, ... never
    // reused). invalid_argument on bad values, AdmissionError when a guarantee
    // would break; the object is unchanged on any throw.
    std::int64_t add_vm(std::int64_t band, std::int64_t shares, double reservation, double limit);
    void set_vm(std::int64_t vm, std::int64_t band, std::int64_t shares, double reservation, double limit);
    void remove_vm(std::int64_t vm);

    const std::vector<std::int64_t>& vms() const { return ids_; }
    std::size_t size() const { return ids_.size(); }

    // Throws invalid_argument unless demand[0..size()) are finite and >= 0.
    void validate_demand(const double* demand) const;
    // One fluid tick: out[i] = the rate of VM vms()[i]; updates the
    // starvation record. Expects validated demand.
    void allocate(const double* demand, double* out);
    // Of the last allocate: 1 for a VM that wanted bandwidth and got none.
    const std::vector<std::uint8_t>& starved() const { return starved_; }
    // Ticks each VM has been starved since it was added.
    const std::vector<std::int64_t>& starved_ticks() const { return starved_ticks_; }

    // The packet engine (a pure function of the configuration and the
    // packets: nothing changes). Throws before anything runs on bad input;
    // Interrupted when `interrupt` asks to stop.
    // validate_packets reads the n packets (VM id, arrival, size) once and, if
    // they are good, writes the engine's records into `packets` (n + 1, the
    // last a sentinel) and the packets per VM index into `offered`, and points
    // `batch` at them; batch's options are checked too.
    void validate_packets(const std::int64_t* vm, const std::int64_t* arrival_ns, const std::int64_t* size_bytes,
                          PacketBatch& batch, std::vector<PacketArrival>& packets,
                          std::vector<std::int64_t>& offered) const;
    PacketStats simulate_packets(const PacketBatch& batch, std::int64_t* start_ns, std::int64_t* finish_ns,
                                 Interrupt* interrupt) const;

    std::string save() const;
    static NetScheduler restore(const std::string& bytes);

    double link_bps() const { return link_bps_; }
    std::size_t bands() const { return caps_.size(); }
    const std::vector<double>& caps() const { return caps_; }
    const std::vector<double>& minimums() const { return minimums_; }
    std::int64_t band_of(std::int64_t vm) const { return band_[index_of(vm)]; }

private:
    NetScheduler() = default;
    struct Params {
        std::int64_t band;
        double shares, reservation, limit;
    };
    Params check_params(std::int64_t band, std::int64_t shares, double reservation, double limit) const;
    // AdmissionError unless, with VM `index` (== size() for a new VM) given
    // `p`, every band's reservations fit its cap and sum_k max(R_k, m_k) fits
    // the link (N2).
    void check_admission(std::size_t index, const Params& p) const;
    double band_reservations(std::size_t band) const;  // R_k, summed in id order (cached)
    std::size_t index_of(std::int64_t vm) const;
    void rebuild_bands();  // members_ and the gathered per-band parameters

    double link_bps_ = 0.0;
    std::vector<double> caps_, minimums_;

    std::int64_t next_id_ = 0;
    std::vector<std::int64_t> ids_;
    IdColumns index_;  // id -> index into ids_ and the per-VM vectors
    std::vector<std::int64_t> band_;
    std::vector<double> shares_, reservation_, limit_;
    std::vector<std::uint8_t> starved_;
    std::vector<std::int64_t> starved_ticks_;

    mutable std::vector<double> reservation_sum_;        // R_k per band, valid where sum_valid_
    mutable std::vector<std::uint8_t> sum_valid_;

    // Per band, in id order: the members' indices and gathered parameters
    // (rebuilt when a VM changes), scratch for one tick.
    bool bands_dirty_ = true;
    std::vector<std::vector<std::size_t>> members_;
    std::vector<std::vector<double>> band_shares_, band_reservation_, band_limit_;
    std::vector<std::vector<double>> band_demand_;
    std::vector<double> alloc_, setaside_, below_;  // a of one band, G_k, B_k
    FairShareSolver solver_;
};

}  // namespace vsched
