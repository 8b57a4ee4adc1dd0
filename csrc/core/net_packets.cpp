// Network QoS, packet engine (docs/engines/network.md, rules N6-N12).
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
//
// Buckets are refilled lazily, when a decision looks at them: a refill is
// min(D, tokens + rate * dt) and two refills compose into one (tokens <= D),
// so the result is the same as refilling every bucket at every instant.
#include "vsched/net_packets.hpp"

#include "vsched/scratch.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <stdexcept>
#include <utility>

namespace vsched {

namespace {

constexpr std::int64_t kBitNs = 8'000'000'000;  // bits * 1e9 per byte
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kTabulatedTx = 16384;  // tx(s) kept for s up to this (the common sizes)

struct Bucket {
    std::int64_t rate = 0;    // per ns; 0: no bucket
    std::int64_t tokens = 0;
    std::int64_t last = 0;    // time of the last refill

    void refill(std::int64_t now, std::int64_t depth) {
        const std::int64_t dt = now - last;
        last = now;
        if (dt <= 0) return;
        // min(depth, tokens + rate * dt), the product in 128 bits (no division on this hot path).
        const __int128 filled = static_cast<__int128>(tokens) + static_cast<__int128>(rate) * dt;
        tokens = filled >= depth ? depth : static_cast<std::int64_t>(filled);
    }
    // After refill(now) with tokens <= 0: the first instant the bucket is positive again.
    std::int64_t positive_at(std::int64_t now) const { return now + (-tokens) / rate + 1; }
};

// One VM's queue and DRR state, kept together: a decision touches most of it.
struct VmQueue {
    std::int64_t head = -1;       // packet index of the head (-1: empty); FIFO linked through next_packet
    std::int64_t tail = -1;
    std::int64_t head_size = 0;   // DRR reads it on every visit
    std::int64_t queued = 0;      // bytes queued
    std::int64_t capacity = 0;    // queue_bytes, or 0 for a VM that drops everything (limit < 1 bps)
    std::int64_t deficit = 0;
    std::int64_t quantum = 0;
    std::int32_t band = 0;
    std::int32_t next = -1;       // neighbours in the band's circular list
    std::int32_t prev = -1;
    bool in_turn = false;
    bool listed = false;          // on its band's list (backlogged and awake)
    bool limited = false;         // has a limit bucket
    bool reserved = false;        // has a reservation bucket
};

// One band: its circular DRR list (first = the VM whose turn it is) and guard buckets.
struct BandState {
    std::int32_t first = -1;
    std::int64_t listed = 0;
    Bucket cap, minimum;
};

// The statistic of N11 for one VM's delays: the values at ranks lo50, lo50 + 1,
// lo99, lo99 + 1 and the maximum, by two selections (p99 first, then p50 below it).
void delay_quantiles(std::int64_t* x, std::size_t c, double& p50, double& p99, double& top) {
    const double h99 = static_cast<double>(c - 1) * 0.99;
    const double h50 = static_cast<double>(c - 1) * 0.5;
    const auto lo99 = static_cast<std::size_t>(std::floor(h99));
    const auto lo50 = static_cast<std::size_t>(std::floor(h50));
    std::nth_element(x, x + lo99, x + c);
    // Now x[0, lo99) <= x[lo99] <= x(lo99, c).
    const double a99 = static_cast<double>(x[lo99]);
    const double b99 = lo99 + 1 < c ? static_cast<double>(*std::min_element(x + lo99 + 1, x + c)) : a99;
    top = static_cast<double>(*std::max_element(x + lo99, x + c));
    p99 = a99 + (h99 - static_cast<double>(lo99)) * (b99 - a99);
    double a50 = a99, b50 = b99;
    if (lo50 < lo99) {
        std::nth_element(x, x + lo50, x + lo99);
        a50 = static_cast<double>(x[lo50]);
        b50 = lo50 + 1 < lo99 ? static_cast<double>(*std::min_element(x + lo50 + 1, x + lo99)) : a99;
    }
    p50 = a50 + (h50 - static_cast<double>(lo50)) * (b50 - a50);
}

}  // namespace

std::int64_t transmission_ns(std::int64_t bytes, std::int64_t link_bps) {
    return (bytes * kBitNs + link_bps - 1) / link_bps;
}

PacketStats run_packets(const PacketConfig& config, const PacketBatch& batch, const std::int32_t* vm_index,
                        std::int64_t* start_ns, std::int64_t* finish_ns, Interrupt* interrupt) {
    const std::size_t n = batch.n;
    const std::size_t vms = config.band.size();
    const std::size_t nb = config.cap_bps.size();
    if (nb < 1 || nb > 64) throw std::logic_error("run_packets: bands must be in [1, 64]");
    const std::int64_t* size = batch.size_bytes;
    const std::int64_t* arrival = batch.arrival_ns;
    const std::int64_t depth = config.burst_bytes * kBitNs;

    // Per VM: its queue and DRR state; the FIFO of packet indices is linked
    // through next_packet (read only at a queue's non-tail packets, so never
    // initialised: a fresh or cleared array would cost its page faults).
    Scratch<std::int64_t, 0> next_packet_buffer;
    std::vector<std::int64_t>& next_packet_vector = next_packet_buffer.get();
    if (next_packet_vector.size() < n) next_packet_vector.resize(n);
    std::int64_t* next_packet = next_packet_vector.data();
    std::vector<VmQueue> queue(vms);
    for (std::size_t i = 0; i < vms; ++i) {
        queue[i].band = config.band[i];
        queue[i].quantum = config.quantum[i];
        queue[i].capacity = batch.queue_bytes;
    }
    // Per band: circular list of the VMs with a backlog, awake, in DRR order;
    // a bit per band with a non-empty list (at most 64 bands) and per band with a minimum.
    std::vector<BandState> band_state(nb);
    std::uint64_t listed_bands = 0, minimum_bands = 0;
    bool guarded = false;
    for (std::size_t k = 0; k < nb; ++k) {
        if (config.cap_bps[k] >= 0) band_state[k].cap = Bucket{config.cap_bps[k], depth, 0};
        if (config.minimum_bps[k] > 0) {
            band_state[k].minimum = Bucket{config.minimum_bps[k], depth, 0};
            minimum_bands |= std::uint64_t{1} << k;
        }
        guarded = guarded || config.cap_bps[k] >= 0 || config.minimum_bps[k] > 0;
    }
    // Per VM buckets (N12): limit (rate floor(l_i); -1 none, 0 drops every packet) and reservation.
    const bool limits = !config.limit_bps.empty();
    const bool reservations = !config.reservation_bps.empty();
    std::vector<Bucket> limit(limits ? vms : 0), reservation(reservations ? vms : 0);
    std::vector<std::int32_t> reserved;  // VMs with a reservation, by (band, index): phase 0's order
    for (std::size_t i = 0; limits && i < vms; ++i) {
        if (config.limit_bps[i] > 0) {
            limit[i] = Bucket{config.limit_bps[i], depth, 0};
            queue[i].limited = true;
        } else if (config.limit_bps[i] == 0) {
            queue[i].capacity = 0;
        }
    }
    for (std::size_t i = 0; reservations && i < vms; ++i) {
        if (config.reservation_bps[i] > 0) {
            reservation[i] = Bucket{config.reservation_bps[i], depth, 0};
            queue[i].reserved = true;
            reserved.push_back(static_cast<std::int32_t>(i));
        }
    }
    std::stable_sort(reserved.begin(), reserved.end(),
                     [&](std::int32_t a, std::int32_t b) { return config.band[a] < config.band[b]; });
    // VMs over their limit sleep off the active lists until their bucket is positive: (wake, VM).
    using Sleeper = std::pair<std::int64_t, std::int32_t>;
    std::priority_queue<Sleeper, std::vector<Sleeper>, std::greater<Sleeper>> sleeping;
    // Phase 0 finds nobody before phase0_after. Each reserved VM keeps not_before, the time its
    // first failing condition (band over cap, reservation or limit bucket <= 0) turns: sends only
    // take tokens away, so it stays a lower bound, listed or not; a VM joining a list brings it
    // down to its own not_before. Skipping the scan (and a VM in it) until then is exact.
    std::vector<std::int64_t> not_before(reservations ? vms : 0, 0);
    std::int64_t phase0_after = reserved.empty() ? kNever : 0;

    // Per VM statistics (N11): packets offered (the delay segments' sizes), sent, bytes, drops.
    std::vector<std::size_t> segment(vms + 1, 0);
    std::int64_t largest = 0;
    for (std::size_t p = 0; p < n; ++p) {
        ++segment[static_cast<std::size_t>(vm_index[p]) + 1];
        largest = std::max(largest, size[p]);
    }
    for (std::size_t i = 0; i < vms; ++i) segment[i + 1] += segment[i];
    Scratch<std::int64_t, 4> delay_buffer;
    std::vector<std::int64_t>& delay_vector = delay_buffer.get();
    if (delay_vector.size() < n) delay_vector.resize(n);
    std::int64_t* delay = delay_vector.data();
    std::vector<std::size_t> sent_end(segment.begin(), segment.end() - 1);  // delay[segment[i], sent_end[i])
    PacketStats st;
    st.sent_bytes.assign(vms, 0);
    st.dropped_packets.assign(vms, 0);

    auto join = [&](std::int32_t i) {  // at the tail of its band's list
        VmQueue& q = queue[static_cast<std::size_t>(i)];
        BandState& b = band_state[static_cast<std::size_t>(q.band)];
        if (b.first < 0) {
            b.first = q.next = q.prev = i;
            listed_bands |= std::uint64_t{1} << q.band;
        } else {
            VmQueue& head = queue[static_cast<std::size_t>(b.first)];
            const std::int32_t tail = head.prev;
            queue[static_cast<std::size_t>(tail)].next = i;
            q.prev = tail;
            q.next = b.first;
            head.prev = i;
        }
        q.listed = true;
        ++b.listed;
        if (q.reserved) phase0_after = std::min(phase0_after, not_before[static_cast<std::size_t>(i)]);
    };
    auto leave = [&](std::int32_t i) {
        VmQueue& q = queue[static_cast<std::size_t>(i)];
        BandState& b = band_state[static_cast<std::size_t>(q.band)];
        if (q.next == i) {
            b.first = -1;
            listed_bands &= ~(std::uint64_t{1} << q.band);
        } else {
            queue[static_cast<std::size_t>(q.prev)].next = q.next;
            queue[static_cast<std::size_t>(q.next)].prev = q.prev;
            if (b.first == i) b.first = q.next;
        }
        q.listed = false;
        --b.listed;
    };
    // The head packet leaves VM i's queue; an emptied queue leaves its band's list with deficit 0.
    auto dequeue = [&](std::int32_t i) {
        VmQueue& q = queue[static_cast<std::size_t>(i)];
        const std::int64_t p = q.head;
        q.queued -= q.head_size;
        if (p == q.tail) {
            q.head = q.tail = -1;
            q.deficit = 0;
            q.in_turn = false;
            leave(i);
        } else {
            q.head = next_packet[p];
            q.head_size = size[q.head];
        }
        return p;
    };
    auto cap_open = [&](BandState& b, std::int64_t now) {
        if (b.cap.rate == 0) return true;
        b.cap.refill(now, depth);
        return b.cap.tokens > 0;
    };

    // tx(s) of the common sizes, tabulated on first use (N6).
    std::vector<std::int64_t> tx(static_cast<std::size_t>(std::min<std::int64_t>(largest, kTabulatedTx)) + 1, 0);
    auto tx_of = [&](std::int64_t s) {
        if (s >= static_cast<std::int64_t>(tx.size())) return transmission_ns(s, config.link_bps);
        std::int64_t& t = tx[static_cast<std::size_t>(s)];
        if (t == 0) t = transmission_ns(s, config.link_bps);
        return t;
    };

    InterruptPoll poll(interrupt);
    std::int64_t now = 0;
    std::int64_t last_finish = -1;
    std::size_t next_arrival = 0;
    std::int64_t backlog = 0;  // packets queued
    for (;;) {
        // Arrivals up to now join their queue or are dropped (N7, N12).
        while (next_arrival < n && arrival[next_arrival] <= now) {
            const std::size_t p = next_arrival++;
            const std::int32_t i = vm_index[p];
            VmQueue& q = queue[static_cast<std::size_t>(i)];
            const std::int64_t s = size[p];
            if (q.queued + s > q.capacity) {
                start_ns[p] = -1;
                finish_ns[p] = -1;
                ++st.dropped_packets[static_cast<std::size_t>(i)];
                continue;
            }
            q.queued += s;
            if (q.head < 0) {
                q.head = static_cast<std::int64_t>(p);
                q.head_size = s;
                join(i);
            } else {
                next_packet[q.tail] = static_cast<std::int64_t>(p);
            }
            q.tail = static_cast<std::int64_t>(p);
            ++backlog;
        }
        // Sleepers whose limit bucket is positive again rejoin their band's list at the tail (N12).
        while (!sleeping.empty() && sleeping.top().first <= now) {
            const std::int32_t i = sleeping.top().second;
            sleeping.pop();
            join(i);
        }
        if (backlog == 0) {
            if (next_arrival == n) break;
            now = std::max(now, arrival[next_arrival]);
            continue;
        }
        // Phase 0 (N12): the first VM by (band, index) that is in its band's list, has a positive
        // reservation bucket and limit bucket, and whose band is not over its cap.
        std::int32_t chosen = -1;
        if (now >= phase0_after) {
            std::int64_t retry = kNever;
            for (const std::int32_t r : reserved) {
                const auto v = static_cast<std::size_t>(r);
                const VmQueue& q = queue[v];
                if (!q.listed) continue;
                std::int64_t& due = not_before[v];
                if (due > now) {
                    retry = std::min(retry, due);
                    continue;
                }
                BandState& b = band_state[static_cast<std::size_t>(q.band)];
                if (!cap_open(b, now)) {
                    due = b.cap.positive_at(now);
                } else {
                    reservation[v].refill(now, depth);
                    if (reservation[v].tokens <= 0) {
                        due = reservation[v].positive_at(now);
                    } else if (q.limited) {
                        limit[v].refill(now, depth);
                        if (limit[v].tokens <= 0) due = limit[v].positive_at(now);
                    }
                }
                if (due > now) {
                    retry = std::min(retry, due);
                    continue;
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
        std::int32_t sender = chosen;
        if (chosen >= 0) {
            band = static_cast<std::size_t>(queue[static_cast<std::size_t>(chosen)].band);
            p = dequeue(chosen);
        } else {
            if (!guarded) {
                if (listed_bands != 0) band = static_cast<std::size_t>(__builtin_ctzll(listed_bands));
            } else {
                for (std::uint64_t m = listed_bands & minimum_bands; m != 0 && band == nb; m &= m - 1) {
                    const auto k = static_cast<std::size_t>(__builtin_ctzll(m));
                    BandState& b = band_state[k];
                    b.minimum.refill(now, depth);
                    if (b.minimum.tokens > 0 && cap_open(b, now)) {
                        band = k;
                        by_minimum = true;
                    }
                }
                for (std::uint64_t m = listed_bands; m != 0 && band == nb; m &= m - 1) {
                    const auto k = static_cast<std::size_t>(__builtin_ctzll(m));
                    if (cap_open(band_state[k], now)) band = k;
                }
            }
            if (band == nb) {
                // Every listed band is over its cap (each refilled just above), or every backlogged
                // VM sleeps: idle until the first refill, wake-up or arrival.
                std::int64_t wake = kNever;
                for (std::uint64_t m = listed_bands; m != 0; m &= m - 1) {
                    wake = std::min(wake, band_state[static_cast<std::size_t>(__builtin_ctzll(m))].cap.positive_at(now));
                }
                if (!sleeping.empty()) wake = std::min(wake, sleeping.top().first);
                if (next_arrival < n) wake = std::min(wake, arrival[next_arrival]);
                now = wake;
                continue;
            }
            // Deficit round robin within the band (N9); a VM over its limit goes to sleep (N12).
            BandState& b = band_state[band];
            std::int64_t misses = 0;
            auto skip_rounds = [&]() {
                // A full pass without a send: skip the rounds nobody could send in.
                std::int64_t rounds = kNever;
                std::int32_t j = b.first;
                for (std::int64_t c = 0; c < b.listed; ++c, j = queue[static_cast<std::size_t>(j)].next) {
                    const VmQueue& q = queue[static_cast<std::size_t>(j)];
                    rounds = std::min(rounds, (q.head_size - q.deficit + q.quantum - 1) / q.quantum);
                }
                for (std::int64_t c = 0; c < b.listed; ++c, j = queue[static_cast<std::size_t>(j)].next) {
                    VmQueue& q = queue[static_cast<std::size_t>(j)];
                    q.deficit += (rounds - 1) * q.quantum;
                }
                misses = 0;
            };
            for (;;) {
                const std::int32_t i = b.first;
                VmQueue& q = queue[static_cast<std::size_t>(i)];
                if (q.limited) {
                    Bucket& l = limit[static_cast<std::size_t>(i)];
                    l.refill(now, depth);
                    if (l.tokens <= 0) {
                        leave(i);
                        q.in_turn = false;
                        sleeping.emplace(l.positive_at(now), i);
                        if (b.listed == 0) break;
                        if (misses >= b.listed) skip_rounds();
                        continue;
                    }
                }
                if (!q.in_turn) {
                    q.deficit += q.quantum;
                    q.in_turn = true;
                }
                if (q.head_size <= q.deficit) {
                    q.deficit -= q.head_size;
                    sender = i;
                    p = dequeue(i);
                    break;
                }
                q.in_turn = false;
                b.first = q.next;  // the turn passes: i goes to the tail
                if (++misses >= b.listed) skip_rounds();
            }
            if (p < 0) continue;  // every VM of the band went to sleep: choose again
        }
        --backlog;
        const auto pk = static_cast<std::size_t>(p);
        const auto owner = static_cast<std::size_t>(sender);
        const std::int64_t s = size[pk];
        const std::int64_t cost = s * kBitNs;
        BandState& b = band_state[band];
        if (b.cap.rate > 0) {
            b.cap.refill(now, depth);
            b.cap.tokens -= cost;
        }
        if (b.minimum.rate > 0) {
            b.minimum.refill(now, depth);
            const std::int64_t tokens = b.minimum.tokens;
            b.minimum.tokens = by_minimum ? tokens - cost : std::max(std::min<std::int64_t>(tokens, 0), tokens - cost);
        }
        const VmQueue& q = queue[owner];
        if (q.limited) {
            limit[owner].refill(now, depth);
            limit[owner].tokens -= cost;
        }
        if (q.reserved) {
            Bucket& r = reservation[owner];
            r.refill(now, depth);
            // A DRR send counts towards the reservation, down to a debt of one depth (N12).
            r.tokens = chosen >= 0 ? r.tokens - cost : std::max(std::min<std::int64_t>(r.tokens, -depth), r.tokens - cost);
        }
        start_ns[pk] = now;
        delay[sent_end[owner]++] = now - arrival[pk];
        st.sent_bytes[owner] += s;
        now += tx_of(s);
        finish_ns[pk] = now;
        last_finish = now;
        poll();
    }

    // N11: throughput over the first arrival (arrival[0]: they are in order) .. the last
    // finish; quantile q of c sorted delays x: h = (c - 1) * q, lo = floor(h),
    // x[lo] + (h - lo) * (x[min(lo + 1, c - 1)] - x[lo]), found by selection.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    st.sent_packets.assign(vms, 0);
    st.throughput_bps.assign(vms, 0.0);
    st.delay_p50_ns.assign(vms, nan);
    st.delay_p99_ns.assign(vms, nan);
    st.delay_max_ns.assign(vms, nan);
    st.duration_ns = last_finish < 0 ? 0 : last_finish - arrival[0];
    for (std::size_t i = 0; i < vms; ++i) {
        const std::size_t c = sent_end[i] - segment[i];
        st.sent_packets[i] = static_cast<std::int64_t>(c);
        if (st.duration_ns > 0) st.throughput_bps[i] = static_cast<double>(st.sent_bytes[i]) * 8e9 / static_cast<double>(st.duration_ns);
        if (c > 0) delay_quantiles(delay + segment[i], c, st.delay_p50_ns[i], st.delay_p99_ns[i], st.delay_max_ns[i]);
    }
    return st;
}

}  // namespace vsched
