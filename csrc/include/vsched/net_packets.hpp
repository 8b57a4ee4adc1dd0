// The packet-level network engine: per-VM FIFO queues with tail drop, strict
// priority across bands, deficit round robin within a band, the bands' guard
// as token buckets; one non-preemptive link; integer nanoseconds and bytes.
// Python-free. Rules: docs/engines/network.md (N6-N12); the formulas are
// beside run_packets (csrc/core/net_packets.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vsched/interrupt.hpp"

namespace vsched {

// Largest packet (bytes) and quantum; with it every bit count * 1e9 fits int64.
constexpr std::int64_t kMaxPacketBytes = std::int64_t{1} << 24;
// Latest arrival and latest finish time (ns).
constexpr std::int64_t kMaxTimeNs = std::int64_t{1} << 62;

// One validated packet as the engine reads it when it arrives: 16 bytes, so
// the arrivals are one stream of memory.
struct PacketArrival {
    std::int64_t time_ns;     // arrival
    std::int32_t size_bytes;  // in [1, kMaxPacketBytes]
    std::int32_t vm;          // VM index (not id)
};

// One batch of packets in arrival order (time_ns non-decreasing), borrowed:
// packets[0, n) and a sentinel packets[n] whose time_ns is INT64_MAX (the
// engine reads the next arrival without a bounds check).
struct PacketBatch {
    std::size_t n = 0;
    const PacketArrival* packets = nullptr;
    const std::int64_t* offered = nullptr;  // packets per VM index
    std::int64_t largest_bytes = 0;  // the largest size in the batch (0: no packet)
    std::int64_t queue_bytes = 0;    // per-VM queue limit (tail drop)
    std::int64_t quantum_bytes = 0;  // DRR quantum of a VM with 1000 shares
    std::int64_t burst_bytes = 0;    // token-bucket depth; 0: the largest packet of the batch
};

// The configuration the engine runs with, per VM index and per band.
struct PacketConfig {
    std::int64_t link_bps = 0;                  // floor(link_bps) >= 1
    std::vector<std::int32_t> band;             // per VM
    std::vector<std::int64_t> quantum;          // per VM: ceil(shares * quantum_bytes / 1000)
    std::vector<std::int64_t> cap_bps;          // per band: floor(cap), -1 = none
    std::vector<std::int64_t> minimum_bps;      // per band: floor(minimum), 0 = none
    std::vector<std::int64_t> limit_bps;        // per VM: floor(limit), -1 = none (limit >= link); empty: none
    std::vector<std::int64_t> reservation_bps;  // per VM: min(floor(reservation), link), 0 = none; empty: none
    std::int64_t burst_bytes = 0;               // resolved (> 0)
};

// Transmission time of `bytes` on the link: ceil(bytes * 8e9 / link_bps) ns.
std::int64_t transmission_ns(std::int64_t bytes, std::int64_t link_bps);

// What a run did, per VM index (docs/engines/network.md, N11).
struct PacketStats {
    std::int64_t duration_ns = 0;  // last finish - first arrival (0: nothing sent)
    std::vector<std::int64_t> sent_packets, sent_bytes, dropped_packets;
    std::vector<double> throughput_bps, delay_p50_ns, delay_p99_ns, delay_max_ns;  // NaN delays: none sent
};

// Runs the batch (at most 64 bands); writes for each packet its start of transmission and its finish, or -1 for
// both if it was dropped, and returns the per-VM totals and delay quantiles.
// Polls `interrupt` once per packet sent (throws Interrupted).
PacketStats run_packets(const PacketConfig& config, const PacketBatch& batch, std::int64_t* start_ns,
                        std::int64_t* finish_ns, Interrupt* interrupt);

}  // namespace vsched
