// Network QoS, packet engine (docs/engines/network.md, rules N6-N10, N12).
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
// Per VM (N12): limit bucket, rate floor(l_i) when l_i < link (< 1 bps: every
// packet dropped); DRR puts a VM whose bucket is <= 0 to sleep until
// t + floor(-tokens / rate) + 1, then it rejoins its band's list at the tail.
// Reservation bucket, rate min(floor(r_i), L): phase 0, before phase 1, sends
// the head packet of the first listed VM by (band, index) with reservation
// and limit buckets > 0 and its band not over its cap (tokens -= cost); any
// other send: tokens = max(tokens - cost, min(tokens, -D)).
#include "vsched/net_packets.hpp"

#include "vsched/scratch.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

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
        // min(depth, tokens + rate * dt), the product in 128 bits (no division on this hot path).
        const __int128 filled = static_cast<__int128>(tokens) + static_cast<__int128>(rate) * dt;
        tokens = filled >= depth ? depth : static_cast<std::int64_t>(filled);
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
    // queued, DRR deficit and turn, links in its band's active list.
    Scratch<std::int64_t, 0> next_packet_buffer;  // reused: a fresh one costs its page faults
    std::vector<std::int64_t>& next_packet = next_packet_buffer.get();
    next_packet.assign(n, -1);
    std::vector<std::int64_t> head(vms, -1), tail(vms, -1), queued(vms, 0), deficit(vms, 0);
    std::vector<std::int64_t> head_size(vms, 0);  // size of the head packet: DRR reads it on every visit
    std::vector<std::uint8_t> in_turn(vms, 0);
    std::vector<std::int32_t> next_active(vms, -1), prev_active(vms, -1);
    // Per band: active list (VMs with a backlog, awake, in DRR order) and buckets.
    std::vector<std::int32_t> first(nb, -1), last(nb, -1);
    std::vector<std::int64_t> active(nb, 0);
    std::vector<Bucket> cap(nb), minimum(nb);
    for (std::size_t k = 0; k < nb; ++k) {
        if (config.cap_bps[k] >= 0) cap[k] = Bucket{config.cap_bps[k], depth, 0};
        if (config.minimum_bps[k] > 0) minimum[k] = Bucket{config.minimum_bps[k], depth, 0};
    }
    const bool guarded = std::any_of(config.cap_bps.begin(), config.cap_bps.end(), [](std::int64_t c) { return c >= 0; }) ||
                         std::any_of(config.minimum_bps.begin(), config.minimum_bps.end(), [](std::int64_t m) { return m > 0; });
    // Per VM buckets (N12): limit (rate floor(l_i); -1 none, 0 drops every packet) and reservation.
    const bool limited = !config.limit_bps.empty();
    const bool reserving = !config.reservation_bps.empty();
    std::vector<Bucket> limit(limited ? vms : 0), reservation(reserving ? vms : 0);
    std::vector<std::int32_t> reserved;  // VMs with a reservation, by (band, index): phase 0's order
    for (std::size_t i = 0; limited && i < vms; ++i) {
        if (config.limit_bps[i] > 0) limit[i] = Bucket{config.limit_bps[i], depth, 0};
    }
    for (std::size_t i = 0; reserving && i < vms; ++i) {
        if (config.reservation_bps[i] > 0) {
            reservation[i] = Bucket{config.reservation_bps[i], depth, 0};
            reserved.push_back(static_cast<std::int32_t>(i));
        }
    }
    std::stable_sort(reserved.begin(), reserved.end(),
                     [&](std::int32_t a, std::int32_t b) { return config.band[a] < config.band[b]; });
    // VMs over their limit sleep off the active lists until their bucket is positive: (wake, VM).
    using Sleeper = std::pair<std::int64_t, std::int32_t>;
    std::priority_queue<Sleeper, std::vector<Sleeper>, std::greater<Sleeper>> sleeping;
    std::vector<std::uint8_t> in_ring(vms, 0);
    // Phase 0 finds nobody before this time unless a reserved VM joins a list: every reserved
    // VM's failing condition (band over cap, reservation or limit bucket <= 0) only turns at a
    // known refill time, and sends only take tokens away. Skipping the scan until then is exact.
    std::int64_t phase0_after = 0;

    auto push_active = [&](std::size_t k, std::int32_t i) {
        const auto v = static_cast<std::size_t>(i);
        next_active[v] = -1;
        prev_active[v] = last[k];
        if (last[k] < 0) {
            first[k] = i;
        } else {
            next_active[static_cast<std::size_t>(last[k])] = i;
        }
        last[k] = i;
        in_ring[v] = 1;
        ++active[k];
    };
    auto unlink_active = [&](std::size_t k, std::int32_t i) {
        const auto v = static_cast<std::size_t>(i);
        const std::int32_t before = prev_active[v], after = next_active[v];
        if (before < 0) first[k] = after; else next_active[static_cast<std::size_t>(before)] = after;
        if (after < 0) last[k] = before; else prev_active[static_cast<std::size_t>(after)] = before;
        in_ring[v] = 0;
        --active[k];
    };
    auto pop_active = [&](std::size_t k) {
        const std::int32_t i = first[k];
        unlink_active(k, i);
        return i;
    };

    // tx(s) of the common sizes, computed once (N6).
    std::int64_t largest = 0;
    for (std::size_t p = 0; p < n; ++p) largest = std::max(largest, size[p]);
    std::vector<std::int64_t> tx(static_cast<std::size_t>(std::min<std::int64_t>(largest, 16384) + 1));
    for (std::size_t s = 0; s < tx.size(); ++s) tx[s] = transmission_ns(static_cast<std::int64_t>(s), config.link_bps);
    auto tx_of = [&](std::int64_t s) {
        return s < static_cast<std::int64_t>(tx.size()) ? tx[static_cast<std::size_t>(s)]
                                                          : transmission_ns(s, config.link_bps);
    };

    InterruptPoll poll(interrupt);
    std::int64_t now = 0;
    std::size_t next_arrival = 0;
    std::int64_t backlog = 0;  // packets queued
    for (;;) {
        // Arrivals up to now join their queue or are dropped (N7, N12).
        while (next_arrival < n && batch.arrival_ns[next_arrival] <= now) {
            const std::size_t p = next_arrival++;
            const auto i = static_cast<std::size_t>(vm_index[p]);
            if (queued[i] + size[p] > batch.queue_bytes || (limited && config.limit_bps[i] == 0)) {
                start_ns[p] = -1;
                finish_ns[p] = -1;
                continue;
            }
            queued[i] += size[p];
            if (head[i] < 0) {
                head[i] = static_cast<std::int64_t>(p);
                head_size[i] = size[p];
                push_active(static_cast<std::size_t>(config.band[i]), static_cast<std::int32_t>(i));
                if (reserving && reservation[i].rate > 0) phase0_after = 0;
            } else {
                next_packet[static_cast<std::size_t>(tail[i])] = static_cast<std::int64_t>(p);
            }
            tail[i] = static_cast<std::int64_t>(p);
            ++backlog;
        }
        // Sleepers whose limit bucket is positive again rejoin their band's list at the tail (N12).
        while (!sleeping.empty() && sleeping.top().first <= now) {
            const std::int32_t i = sleeping.top().second;
            sleeping.pop();
            push_active(static_cast<std::size_t>(config.band[static_cast<std::size_t>(i)]), i);
            if (reserving && reservation[static_cast<std::size_t>(i)].rate > 0) phase0_after = 0;
        }
        if (backlog == 0) {
            if (next_arrival == n) break;
            now = std::max(now, batch.arrival_ns[next_arrival]);
            continue;
        }
        if (guarded) {
            for (std::size_t k = 0; k < nb; ++k) {
                cap[k].refill(now, depth);
                minimum[k].refill(now, depth);
            }
        }
        // Phase 0 (N12): the first VM by (band, index) that is in its band's list, has a positive
        // reservation bucket and limit bucket, and whose band is not over its cap.
        std::int64_t chosen = -1;
        if (now >= phase0_after && !reserved.empty()) {
            auto positive_at = [&](const Bucket& b) { return now + (-b.tokens) / b.rate + 1; };
            std::int64_t retry = std::numeric_limits<std::int64_t>::max();
            for (const std::int32_t r : reserved) {
                const auto v = static_cast<std::size_t>(r);
                const auto k = static_cast<std::size_t>(config.band[v]);
                if (!in_ring[v]) continue;
                if (cap[k].rate > 0 && cap[k].tokens <= 0) {
                    retry = std::min(retry, positive_at(cap[k]));
                    continue;
                }
                reservation[v].refill(now, depth);
                if (reservation[v].tokens <= 0) {
                    retry = std::min(retry, positive_at(reservation[v]));
                    continue;
                }
                if (limited && limit[v].rate > 0) {
                    limit[v].refill(now, depth);
                    if (limit[v].tokens <= 0) {
                        retry = std::min(retry, positive_at(limit[v]));
                        continue;
                    }
                }
                chosen = r;
                break;
            }
            phase0_after = chosen >= 0 ? 0 : retry;
        }
        // Choose the band (N8, N10).
        std::size_t band = nb;
        bool by_minimum = false;
        std::int64_t p = -1;
        if (chosen >= 0) {
            const auto i = static_cast<std::size_t>(chosen);
            band = static_cast<std::size_t>(config.band[i]);
            p = head[i];
            head[i] = next_packet[static_cast<std::size_t>(p)];
            queued[i] -= head_size[i];
            if (head[i] >= 0) {
                head_size[i] = size[head[i]];
            } else {
                tail[i] = -1;
                deficit[i] = 0;
                in_turn[i] = 0;
                unlink_active(band, chosen);
            }
        } else {
            if (guarded) {
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
            } else {
                for (std::size_t k = 0; k < nb && band == nb; ++k) {
                    if (active[k] > 0) band = k;
                }
            }
            if (band == nb) {
                // Every listed band is over its cap (or every backlogged VM sleeps): idle until the
                // first refill, wake-up or arrival.
                std::int64_t wake = std::numeric_limits<std::int64_t>::max();
                for (std::size_t k = 0; k < nb; ++k) {
                    if (active[k] > 0) wake = std::min(wake, now + (-cap[k].tokens) / cap[k].rate + 1);
                }
                if (!sleeping.empty()) wake = std::min(wake, sleeping.top().first);
                if (next_arrival < n) wake = std::min(wake, batch.arrival_ns[next_arrival]);
                now = wake;
                continue;
            }
            // Deficit round robin within the band (N9); a VM over its limit goes to sleep (N12).
            std::int64_t misses = 0;
            auto skip_rounds = [&]() {
                // A full pass without a send: skip the rounds nobody could send in.
                std::int64_t rounds = std::numeric_limits<std::int64_t>::max();
                for (std::int32_t j = first[band]; j >= 0; j = next_active[static_cast<std::size_t>(j)]) {
                    const auto v = static_cast<std::size_t>(j);
                    const std::int64_t need = head_size[v] - deficit[v];
                    rounds = std::min(rounds, (need + config.quantum[v] - 1) / config.quantum[v]);
                }
                for (std::int32_t j = first[band]; j >= 0; j = next_active[static_cast<std::size_t>(j)]) {
                    const auto v = static_cast<std::size_t>(j);
                    deficit[v] += (rounds - 1) * config.quantum[v];
                }
                misses = 0;
            };
            for (;;) {
                const auto i = static_cast<std::size_t>(first[band]);
                if (limited && limit[i].rate > 0) {
                    limit[i].refill(now, depth);
                    if (limit[i].tokens <= 0) {
                        pop_active(band);
                        in_turn[i] = 0;
                        sleeping.emplace(now + (-limit[i].tokens) / limit[i].rate + 1, static_cast<std::int32_t>(i));
                        if (active[band] == 0) break;
                        if (misses >= active[band]) skip_rounds();
                        continue;
                    }
                }
                if (!in_turn[i]) {
                    deficit[i] += config.quantum[i];
                    in_turn[i] = 1;
                }
                const std::int64_t s = head_size[i];
                if (s <= deficit[i]) {
                    deficit[i] -= s;
                    p = head[i];
                    head[i] = next_packet[static_cast<std::size_t>(p)];
                    queued[i] -= s;
                    if (head[i] >= 0) {
                        head_size[i] = size[head[i]];
                    } else {
                        tail[i] = -1;
                        deficit[i] = 0;
                        in_turn[i] = 0;
                        pop_active(band);
                    }
                    break;
                }
                in_turn[i] = 0;
                push_active(band, pop_active(band));
                if (++misses >= active[band]) skip_rounds();
            }
            if (p < 0) continue;  // every VM of the band went to sleep: choose again
        }
        --backlog;
        const auto pk = static_cast<std::size_t>(p);
        const std::int64_t cost = size[pk] * kBitNs;
        if (cap[band].rate > 0) cap[band].tokens -= cost;
        if (minimum[band].rate > 0) {
            const std::int64_t tokens = minimum[band].tokens;
            minimum[band].tokens = by_minimum ? tokens - cost : std::max(std::min<std::int64_t>(tokens, 0), tokens - cost);
        }
        const auto owner = static_cast<std::size_t>(vm_index[pk]);
        if (limited && limit[owner].rate > 0) {
            limit[owner].refill(now, depth);  // a no-op unless phase 0 skipped it (refills compose)
            limit[owner].tokens -= cost;
        }
        if (reserving && reservation[owner].rate > 0) {
            reservation[owner].refill(now, depth);
            const std::int64_t tokens = reservation[owner].tokens;
            // A DRR send counts towards the reservation, down to a debt of one depth (N12).
            reservation[owner].tokens =
                chosen >= 0 ? tokens - cost : std::max(std::min<std::int64_t>(tokens, -depth), tokens - cost);
        }
        start_ns[pk] = now;
        now += tx_of(size[pk]);
        finish_ns[pk] = now;
        poll();
    }
}

// N11: per VM, the delays (start - arrival) of its sent packets grouped by a
// counting sort; quantile q of c sorted delays x: h = (c - 1) * q, lo = floor(h),
// x[lo] + (h - lo) * (x[min(lo + 1, c - 1)] - x[lo]), found by selection.
PacketStats packet_stats(std::size_t vms, const PacketBatch& batch, const std::int32_t* vm_index,
                         const std::int64_t* start_ns, const std::int64_t* finish_ns) {
    const std::size_t n = batch.n;
    PacketStats st;
    st.sent_packets.assign(vms, 0);
    st.sent_bytes.assign(vms, 0);
    st.dropped_packets.assign(vms, 0);
    std::int64_t first = std::numeric_limits<std::int64_t>::max();
    std::int64_t last = -1;
    for (std::size_t p = 0; p < n; ++p) {
        const auto i = static_cast<std::size_t>(vm_index[p]);
        first = std::min(first, batch.arrival_ns[p]);
        if (start_ns[p] < 0) {
            ++st.dropped_packets[i];
            continue;
        }
        ++st.sent_packets[i];
        st.sent_bytes[i] += batch.size_bytes[p];
        last = std::max(last, finish_ns[p]);
    }
    st.duration_ns = last < 0 ? 0 : last - first;
    std::vector<std::size_t> offset(vms + 1, 0);
    for (std::size_t i = 0; i < vms; ++i) offset[i + 1] = offset[i] + static_cast<std::size_t>(st.sent_packets[i]);
    Scratch<double, 0> delay_buffer;
    std::vector<double>& delay = delay_buffer.get();
    delay.resize(offset[vms]);
    std::vector<std::size_t> fill(offset.begin(), offset.end() - 1);
    for (std::size_t p = 0; p < n; ++p) {
        if (start_ns[p] < 0) continue;
        delay[fill[static_cast<std::size_t>(vm_index[p])]++] = static_cast<double>(start_ns[p] - batch.arrival_ns[p]);
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    st.throughput_bps.assign(vms, 0.0);
    st.delay_p50_ns.assign(vms, nan);
    st.delay_p99_ns.assign(vms, nan);
    st.delay_max_ns.assign(vms, nan);
    auto quantile = [](double* x, std::size_t c, double q) {
        const double h = static_cast<double>(c - 1) * q;
        const auto lo = static_cast<std::size_t>(std::floor(h));
        std::nth_element(x, x + lo, x + c);
        const double a = x[lo];
        const double b = lo + 1 < c ? *std::min_element(x + lo + 1, x + c) : a;
        return a + (h - static_cast<double>(lo)) * (b - a);
    };
    for (std::size_t i = 0; i < vms; ++i) {
        if (st.duration_ns > 0) st.throughput_bps[i] = static_cast<double>(st.sent_bytes[i]) * 8e9 / static_cast<double>(st.duration_ns);
        const std::size_t c = offset[i + 1] - offset[i];
        if (c == 0) continue;
        double* x = delay.data() + offset[i];
        st.delay_max_ns[i] = *std::max_element(x, x + c);
        st.delay_p50_ns[i] = quantile(x, c, 0.5);
        st.delay_p99_ns[i] = quantile(x, c, 0.99);
    }
    return st;
}

}  // namespace vsched
