// Network QoS, packet engine (docs/engines/network.md, rules N6-N10).
//
// One link of L = floor(link_bps) bps sends one packet at a time, never
// preempted: a packet of s bytes takes tx(s) = ceil(s * 8e9 / L) ns (N6).
// Decision instants are the link's finish times and, when it is idle, the
// next arrival (or cap refill). At each instant t, first every packet with
// arrival <= t joins its VM's queue unless queued_bytes + s > queue_bytes
// (tail drop, N7); then:
//   phase 1  the highest band that is backlogged, has a minimum and a
//            positive minimum bucket, and is not over its cap;
//   phase 2  else the highest backlogged band not over its cap (SPQ, N8);
//   within the band, deficit round robin (N9): the VM at the head of the
//   band's active list opens a turn with deficit += q_i,
//   q_i = ceil(shares_i * quantum_bytes / 1000), sends its head packet if it
//   fits the deficit (deficit -= s; an emptied queue leaves the list with
//   deficit 0), else closes its turn and goes to the tail. A full pass in
//   which nobody fits skips the r - 1 rounds nobody could send in,
//   r = min_i ceil((s_head_i - deficit_i) / q_i), adding (r - 1) q_i to each.
// Buckets (N10), in units of bit * 1e9 (a rate of b bps adds b per ns, a
// packet costs s * 8e9), depth D = burst_bytes * 8e9, full at the start:
//   cap bucket of band k, rate floor(cap_k): the band may send while > 0,
//   every packet it sends is subtracted (so it may go to minus one packet);
//   minimum bucket, rate floor(m_k): a phase-1 send subtracts the packet, a
//   phase-2 send subtracts it but not below min(tokens, 0).
// When every backlogged band is over its cap the link idles until the first
// of the next arrival and the earliest time a cap bucket is positive again,
// t + floor(-tokens / rate) + 1.
#include "vsched/net_packets.hpp"

#include <algorithm>
#include <limits>

namespace vsched {

namespace {

constexpr std::int64_t kBitNs = 8'000'000'000;  // bits * 1e9 per byte

struct Bucket {
    std::int64_t rate = 0;    // per ns; 0: no bucket
    std::int64_t tokens = 0;
    std::int64_t last = 0;    // time of the last refill

    void refill(std::int64_t now, std::int64_t depth) {
        const std::int64_t dt = now - last;
        last = now;
        if (dt <= 0 || rate == 0) return;
        const std::int64_t room = depth - tokens;  // >= 0
        if (dt >= (room + rate - 1) / rate) {
            tokens = depth;
        } else {
            tokens += rate * dt;
        }
    }
};

}  // namespace

std::int64_t transmission_ns(std::int64_t bytes, std::int64_t link_bps) {
    return (bytes * kBitNs + link_bps - 1) / link_bps;
}

void run_packets(const PacketConfig& config, const PacketBatch& batch, const std::int32_t* vm_index,
                 std::int64_t* start_ns, std::int64_t* finish_ns, Interrupt* interrupt) {
    const std::size_t n = batch.n;
    const std::size_t vms = config.band.size();
    const std::size_t nb = config.cap_bps.size();
    const std::int64_t* size = batch.size_bytes;
    const std::int64_t depth = config.burst_bytes * kBitNs;

    // Per VM: FIFO of packet indices (linked through next_packet), bytes
    // queued, DRR deficit and turn, link in its band's active list.
    std::vector<std::int64_t> next_packet(n, -1);
    std::vector<std::int64_t> head(vms, -1), tail(vms, -1), queued(vms, 0), deficit(vms, 0);
    std::vector<std::uint8_t> in_turn(vms, 0);
    std::vector<std::int32_t> next_active(vms, -1);
    // Per band: active list (VMs with a backlog, in DRR order) and buckets.
    std::vector<std::int32_t> first(nb, -1), last(nb, -1);
    std::vector<std::int64_t> active(nb, 0);
    std::vector<Bucket> cap(nb), minimum(nb);
    for (std::size_t k = 0; k < nb; ++k) {
        if (config.cap_bps[k] >= 0) cap[k] = Bucket{config.cap_bps[k], depth, 0};
        if (config.minimum_bps[k] > 0) minimum[k] = Bucket{config.minimum_bps[k], depth, 0};
    }
    const bool guarded = std::any_of(config.cap_bps.begin(), config.cap_bps.end(), [](std::int64_t c) { return c >= 0; }) ||
                         std::any_of(config.minimum_bps.begin(), config.minimum_bps.end(), [](std::int64_t m) { return m > 0; });

    auto push_active = [&](std::size_t k, std::int32_t i) {
        next_active[static_cast<std::size_t>(i)] = -1;
        if (last[k] < 0) {
            first[k] = i;
        } else {
            next_active[static_cast<std::size_t>(last[k])] = i;
        }
        last[k] = i;
        ++active[k];
    };
    auto pop_active = [&](std::size_t k) {
        const std::int32_t i = first[k];
        first[k] = next_active[static_cast<std::size_t>(i)];
        if (first[k] < 0) last[k] = -1;
        --active[k];
        return i;
    };

    InterruptPoll poll(interrupt);
    std::int64_t now = 0;
    std::size_t next_arrival = 0;
    std::int64_t backlog = 0;  // packets queued
    for (;;) {
        // Arrivals up to now join their queue or are dropped (N7).
        while (next_arrival < n && batch.arrival_ns[next_arrival] <= now) {
            const std::size_t p = next_arrival++;
            const auto i = static_cast<std::size_t>(vm_index[p]);
            if (queued[i] + size[p] > batch.queue_bytes) {
                start_ns[p] = -1;
                finish_ns[p] = -1;
                continue;
            }
            queued[i] += size[p];
            if (head[i] < 0) {
                head[i] = static_cast<std::int64_t>(p);
                push_active(static_cast<std::size_t>(config.band[i]), static_cast<std::int32_t>(i));
            } else {
                next_packet[static_cast<std::size_t>(tail[i])] = static_cast<std::int64_t>(p);
            }
            tail[i] = static_cast<std::int64_t>(p);
            ++backlog;
        }
        if (backlog == 0) {
            if (next_arrival == n) break;
            now = std::max(now, batch.arrival_ns[next_arrival]);
            continue;
        }
        // Choose the band (N8, N10).
        std::size_t band = nb;
        bool by_minimum = false;
        if (guarded) {
            for (std::size_t k = 0; k < nb; ++k) {
                cap[k].refill(now, depth);
                minimum[k].refill(now, depth);
            }
            for (std::size_t k = 0; k < nb && band == nb; ++k) {
                if (active[k] > 0 && minimum[k].rate > 0 && minimum[k].tokens > 0 &&
                    (cap[k].rate == 0 || cap[k].tokens > 0)) {
                    band = k;
                    by_minimum = true;
                }
            }
            for (std::size_t k = 0; k < nb && band == nb; ++k) {
                if (active[k] > 0 && (cap[k].rate == 0 || cap[k].tokens > 0)) band = k;
            }
            if (band == nb) {
                // Every backlogged band is over its cap: idle until one refills.
                std::int64_t wake = std::numeric_limits<std::int64_t>::max();
                for (std::size_t k = 0; k < nb; ++k) {
                    if (active[k] > 0) wake = std::min(wake, now + (-cap[k].tokens) / cap[k].rate + 1);
                }
                if (next_arrival < n) wake = std::min(wake, batch.arrival_ns[next_arrival]);
                now = wake;
                continue;
            }
        } else {
            band = 0;
            while (active[band] == 0) ++band;
        }
        // Deficit round robin within the band (N9).
        std::int64_t p = -1;
        std::int64_t misses = 0;
        for (;;) {
            const auto i = static_cast<std::size_t>(first[band]);
            if (!in_turn[i]) {
                deficit[i] += config.quantum[i];
                in_turn[i] = 1;
            }
            const std::int64_t s = size[head[i]];
            if (s <= deficit[i]) {
                deficit[i] -= s;
                p = head[i];
                head[i] = next_packet[static_cast<std::size_t>(p)];
                queued[i] -= s;
                if (head[i] < 0) {
                    tail[i] = -1;
                    deficit[i] = 0;
                    in_turn[i] = 0;
                    pop_active(band);
                }
                break;
            }
            in_turn[i] = 0;
            push_active(band, pop_active(band));
            if (++misses == active[band]) {
                // A full pass without a send: skip the rounds nobody could send in.
                std::int64_t rounds = std::numeric_limits<std::int64_t>::max();
                for (std::int32_t j = first[band]; j >= 0; j = next_active[static_cast<std::size_t>(j)]) {
                    const auto v = static_cast<std::size_t>(j);
                    const std::int64_t need = size[head[v]] - deficit[v];
                    rounds = std::min(rounds, (need + config.quantum[v] - 1) / config.quantum[v]);
                }
                for (std::int32_t j = first[band]; j >= 0; j = next_active[static_cast<std::size_t>(j)]) {
                    const auto v = static_cast<std::size_t>(j);
                    deficit[v] += (rounds - 1) * config.quantum[v];
                }
                misses = 0;
            }
        }
        --backlog;
        const auto pk = static_cast<std::size_t>(p);
        const std::int64_t cost = size[pk] * kBitNs;
        if (cap[band].rate > 0) cap[band].tokens -= cost;
        if (minimum[band].rate > 0) {
            const std::int64_t tokens = minimum[band].tokens;
            minimum[band].tokens = by_minimum ? tokens - cost : std::max(std::min<std::int64_t>(tokens, 0), tokens - cost);
        }
        start_ns[pk] = now;
        now += transmission_ns(size[pk], config.link_bps);
        finish_ns[pk] = now;
        poll();
    }
}

}  // namespace vsched
