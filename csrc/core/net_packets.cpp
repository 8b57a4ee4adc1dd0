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
// How it stays fast without changing a result: buckets are refilled lazily,
// when a decision looks at them (a refill is min(D, tokens + rate * dt), and
// two refills compose into one since tokens <= D); a bucket found empty keeps
// the instant it turns positive, floor(-tokens / rate) + 1 after the refill,
// and is not looked at again before it (sends only take tokens away, so the
// instant only moves later); phase 0 keeps such an instant per reserved VM,
// phase 1 the earliest one of the minimum buckets. A VM alone on its band's
// list that lacks r rounds for its head packet gets the r quanta at once (what
// the skipped rounds and its next turn give it).
// The loop is compiled once per combination of guard / limits / reservations.
// Memory per packet: its 16-byte arrival record (validated) and one 8-byte
// place in its VM's FIFO segment, which holds its index while queued and its
// delay once sent (the segments then are the per-VM delays of N11).
#include "vsched/net_packets.hpp"

#include "vsched/containers/dary_heap.hpp"
#include "vsched/scratch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <utility>

namespace vsched {

namespace {

constexpr std::int64_t kBitNs = 8'000'000'000;  // bits * 1e9 per byte
constexpr std::int64_t kMaxCost = kMaxPacketBytes * kBitNs;
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kTabulatedTx = 16384;  // tx(s) kept for s up to this (the common sizes)

class Bucket {
public:
    Bucket() = default;
    // Full at time 0. Tokens never go below -(depth + kMaxCost) (a send needs a positive
    // bucket, or subtracts down to -depth at most), so after full_after_ ns it is full
    // again, and below that rate * dt < 2^59 fits.
    Bucket(std::int64_t rate, std::int64_t depth)
        : rate_(rate), tokens_(depth), depth_(depth), full_after_((2 * depth + kMaxCost) / rate + 1) {}

    bool exists() const { return rate_ > 0; }
    std::int64_t tokens() const { return tokens_; }

    void refill(std::int64_t now) {
        const std::int64_t dt = now - last_;
        last_ = now;
        tokens_ = dt >= full_after_ ? depth_ : std::min(depth_, tokens_ + rate_ * dt);
    }
    // tokens > 0 at `now`. When not, positive_from() is the first instant it will be (a lower
    // bound if something was taken since; exact for a bucket only taken from while positive).
    bool positive(std::int64_t now) {
        if (now < positive_from_) return false;
        refill(now);
        if (tokens_ > 0) return true;
        positive_from_ = now + (-tokens_) / rate_ + 1;
        return false;
    }
    std::int64_t positive_from() const { return positive_from_; }
    // A send: tokens -= cost; or, counted towards a minimum or a reservation without creating
    // a debt beyond `floor` (0 or -depth): tokens = max(tokens - cost, min(tokens, floor)).
    void take(std::int64_t now, std::int64_t cost) {
        refill(now);
        tokens_ -= cost;
    }
    void take_down_to(std::int64_t now, std::int64_t cost, std::int64_t floor) {
        refill(now);
        tokens_ = std::max(tokens_ - cost, std::min(tokens_, floor));
    }
    // take_down_to(now, cost, 0) of a bucket only taken from while positive otherwise (a
    // minimum): nothing to do before positive_from(), the refilled tokens being <= 0 there.
    void take_down_to_zero(std::int64_t now, std::int64_t cost) {
        if (now < positive_from_) return;
        take_down_to(now, cost, 0);
    }

private:
    std::int64_t rate_ = 0;  // per ns; 0: no bucket
    std::int64_t tokens_ = 0;
    std::int64_t depth_ = 0;
    std::int64_t full_after_ = kNever;
    std::int64_t last_ = 0;  // time of the last refill
    std::int64_t positive_from_ = 0;
};

// One VM: its queue, DRR state and statistics, kept together (a decision touches most of it):
// what DRR reads on every visit in the first 64 bytes, 128 bytes in all so that a VM's
// index becomes its address by one shift. The band's list links are addresses: a step of
// DRR's walk is one load.
struct alignas(128) VmQueue {
    std::int64_t head_size = 0;   // the head packet's size and arrival (when queued)
    std::int64_t deficit = 0;
    std::int64_t quantum = 0;
    std::int64_t head_arrival = 0;
    std::int64_t queued = 0;      // bytes queued
    VmQueue* next = nullptr;      // neighbours in the band's circular list
    VmQueue* prev = nullptr;
    std::int32_t band = 0;
    bool in_turn = false;
    bool listed = false;          // on its band's list (backlogged and awake)
    bool limited = false;         // has a limit bucket
    bool reserved = false;        // has a reservation bucket
    std::int64_t head = 0;        // packet index of the head (when queued)
    std::int64_t capacity = 0;    // queue_bytes, or 0 for a VM that drops everything (limit < 1 bps)
    std::size_t head_at = 0;      // the head's place in the VM's segment of fifo_
    std::size_t tail_at = 0;      // one past the last queued (== head_at: empty)
    std::int64_t sent_bytes = 0;
    std::int64_t dropped = 0;
    std::size_t segment = 0;      // start of its segment of fifo_ (one place per packet offered)
};
static_assert(sizeof(VmQueue) == 128, "a VM's record is two cache lines");

// One band: its circular DRR list (first = the VM whose turn it is) and guard buckets.
struct BandState {
    VmQueue* first = nullptr;
    std::int64_t listed = 0;
    Bucket cap, minimum;
};

// The values at `ranks` (ascending, < c) of x[0, c) in sorted order, into out[]. Radix
// buckets on the top 6-10 bits of (x - min): one pass for the range, one to count, then the
// buckets holding a wanted rank, gathered and done again (small ones sorted). The same values
// as sorting x, in O(c) passes without the unpredictable branches of a selection; *top: the max.
void values_at_ranks(const std::int64_t* x, std::size_t c, const std::size_t* ranks, std::size_t m,
                     std::int64_t* out, std::int64_t* top = nullptr) {
    if (c <= 48) {
        std::int64_t sorted[48];
        std::copy(x, x + c, sorted);
        std::sort(sorted, sorted + c);
        for (std::size_t j = 0; j < m; ++j) out[j] = sorted[ranks[j]];
        if (top != nullptr) *top = sorted[c - 1];
        return;
    }
    std::int64_t lo = x[0], hi = x[0];
    for (std::size_t p = 1; p < c; ++p) {
        lo = std::min(lo, x[p]);
        hi = std::max(hi, x[p]);
    }
    if (top != nullptr) *top = hi;
    if (lo == hi) {
        for (std::size_t j = 0; j < m; ++j) out[j] = lo;
        return;
    }
    // 2^b buckets, b = ceil(log2 c) within [6, 10]: about one value a bucket, so that zeroing and
    // walking the tables costs no more than the values themselves (a VM with few packets).
    const int bits = 64 - __builtin_clzll(static_cast<std::uint64_t>(hi - lo));
    const int bucket_bits = std::clamp(64 - __builtin_clzll(static_cast<std::uint64_t>(c - 1)), 6, 10);
    const std::size_t buckets = std::size_t{1} << bucket_bits;
    const int shift = bits > bucket_bits ? bits - bucket_bits : 0;
    // Two tables, even and odd places: a VM's delays come in runs of one bucket, and one table's
    // increments would each wait on the previous one's store.
    std::uint32_t count[1024], count_odd[1024];
    std::fill(count, count + buckets, 0u);
    std::fill(count_odd, count_odd + buckets, 0u);
    std::size_t p = 0;
    for (; p + 1 < c; p += 2) {
        ++count[static_cast<std::uint64_t>(x[p] - lo) >> shift];
        ++count_odd[static_cast<std::uint64_t>(x[p + 1] - lo) >> shift];
    }
    if (p < c) ++count[static_cast<std::uint64_t>(x[p] - lo) >> shift];
    const auto in_bucket = [&](std::size_t k) { return static_cast<std::size_t>(count[k]) + count_odd[k]; };
    // The buckets holding the wanted ranks (at most m), and each one's ranks within it.
    std::size_t group_bucket[8], group_first[8], group_end[8], local[8];
    std::size_t groups = 0, below = 0, bucket = 0;
    for (std::size_t j = 0; j < m;) {
        while (below + in_bucket(bucket) <= ranks[j]) below += in_bucket(bucket++);
        group_bucket[groups] = bucket;
        group_first[groups] = j;
        while (j < m && ranks[j] < below + in_bucket(bucket)) {
            local[j] = ranks[j] - below;
            ++j;
        }
        group_end[groups++] = j;
    }
    if (shift == 0) {  // a bucket holds one value
        for (std::size_t g = 0; g < groups; ++g) {
            for (std::size_t t = group_first[g]; t < group_end[g]; ++t) out[t] = lo + static_cast<std::int64_t>(group_bucket[g]);
        }
        return;
    }
    // Gather the wanted buckets in one pass into one array, bucket after bucket (a bucket's slot,
    // -1 for the others: rarely taken).
    std::int8_t slot[1024];
    std::fill(slot, slot + buckets, static_cast<std::int8_t>(-1));
    std::size_t start[9], cursor[8];
    start[0] = 0;
    for (std::size_t g = 0; g < groups; ++g) {
        slot[group_bucket[g]] = static_cast<std::int8_t>(g);
        cursor[g] = start[g];
        start[g + 1] = start[g] + in_bucket(group_bucket[g]);
    }
    std::vector<std::int64_t> members(start[groups]);
    for (std::size_t q = 0; q < c; ++q) {
        const std::int8_t g = slot[static_cast<std::uint64_t>(x[q] - lo) >> shift];
        if (g >= 0) members[cursor[g]++] = x[q];
    }
    for (std::size_t g = 0; g < groups; ++g) {
        values_at_ranks(members.data() + start[g], start[g + 1] - start[g], local + group_first[g],
                        group_end[g] - group_first[g], out + group_first[g]);
    }
}

// N11 for one VM's c delays: quantile q at h = (c - 1) q, lo = floor(h), interpolated
// x[lo] + (h - lo) (x[min(lo + 1, c - 1)] - x[lo]) between the sorted values; and the max.
void delay_quantiles(const std::int64_t* x, std::size_t c, double& p50, double& p99, double& top) {
    const double h50 = static_cast<double>(c - 1) * 0.5;
    const double h99 = static_cast<double>(c - 1) * 0.99;
    const auto lo50 = static_cast<std::size_t>(std::floor(h50));
    const auto lo99 = static_cast<std::size_t>(std::floor(h99));
    const std::size_t ranks[4] = {lo50, std::min(lo50 + 1, c - 1), lo99, std::min(lo99 + 1, c - 1)};
    std::int64_t v[4], largest = 0;
    values_at_ranks(x, c, ranks, 4, v, &largest);
    const double a50 = static_cast<double>(v[0]), b50 = static_cast<double>(v[1]);
    const double a99 = static_cast<double>(v[2]), b99 = static_cast<double>(v[3]);
    p50 = a50 + (h50 - static_cast<double>(lo50)) * (b50 - a50);
    p99 = a99 + (h99 - static_cast<double>(lo99)) * (b99 - a99);
    top = static_cast<double>(largest);
}

class PacketEngine {
public:
    PacketEngine(const PacketConfig& config, const PacketBatch& batch, std::int64_t* start_ns, std::int64_t* finish_ns,
                 Interrupt* interrupt);

    // The event loop; kGuarded: some band has a cap or a minimum; kLimits / kReservations: some
    // VM has a limit bucket (or drops everything) / a reservation bucket.
    template <bool kGuarded, bool kLimits, bool kReservations>
    void run();
    PacketStats stats();

    bool guarded() const { return guarded_; }
    bool limits() const { return !limit_.empty(); }
    bool reservations() const { return !reserved_.empty(); }

private:
    void join(std::int32_t i);
    void leave(VmQueue& q);
    std::int64_t dequeue(VmQueue& q);
    bool cap_open(BandState& b, std::int64_t now) { return !b.cap.exists() || b.cap.positive(now); }
    std::int64_t tx_of(std::int64_t s);
    std::int32_t phase0(std::int64_t now);
    std::int32_t index_of(const VmQueue* q) const { return static_cast<std::int32_t>(q - queue_.data()); }
    void skip_rounds(BandState& b);

    const PacketConfig& config_;
    const PacketBatch& batch_;
    std::int64_t* start_ns_;
    std::int64_t* finish_ns_;
    InterruptPoll poll_;
    std::int64_t depth_;
    Scratch<std::int64_t, 4> fifo_buffer_;
    // Each VM's FIFO as its segment (in VM order, one place per packet it was offered): the
    // indices of its queued packets in arrival order, each overwritten by the packet's delay
    // when it is sent, so at the end the segment's first sent_packets places are its delays.
    std::int64_t* fifo_;
    std::vector<VmQueue> queue_;
    std::vector<BandState> band_;
    std::uint64_t listed_bands_ = 0;   // bit k: band k's list is not empty (at most 64 bands)
    std::uint64_t minimum_bands_ = 0;  // bit k: band k has a minimum
    std::uint64_t capped_bands_ = 0;   // bit k: band k has a cap
    // Phase 1 finds nobody before phase1_after_, the earliest positive_from() of the minimum
    // buckets (listed or not: a take only moves it later), so it is skipped until then.
    std::int64_t phase1_after_ = 0;
    bool guarded_ = false;
    std::vector<Bucket> limit_, reservation_;
    std::vector<std::int32_t> reserved_;  // VMs with a reservation, by (band, index): phase 0's order
    // Phase 0 finds nobody before phase0_after_. Each reserved VM keeps not_before_, the time its
    // first failing condition (band over cap, reservation or limit bucket <= 0) turns: sends only
    // take tokens away, so it stays a lower bound, listed or not; a VM joining a list brings
    // phase0_after_ down to its not_before_. Skipping the scan (or a VM in it) until then is exact.
    std::vector<std::int64_t> not_before_;
    std::int64_t phase0_after_ = kNever;
    // VMs over their limit sleep off the lists until their bucket is positive: (wake, VM),
    // earliest first. Entries are totally ordered (equal ones are equal), so the wake order is
    // the same under any heap.
    using Sleeper = std::pair<std::int64_t, std::int32_t>;
    DaryHeap<Sleeper, std::less<Sleeper>> sleeping_;
    std::vector<std::int64_t> tx_;  // tx(s) for s <= kTabulatedTx, 0 until first needed (N6)
    std::int64_t last_finish_ = -1;
};

PacketEngine::PacketEngine(const PacketConfig& config, const PacketBatch& batch, std::int64_t* start_ns,
                           std::int64_t* finish_ns, Interrupt* interrupt)
    : config_(config), batch_(batch), start_ns_(start_ns), finish_ns_(finish_ns),
      poll_(interrupt), depth_(config.burst_bytes * kBitNs) {
    const std::size_t n = batch.n;
    const std::size_t vms = config.band.size();
    const std::size_t nb = config.cap_bps.size();
    if (nb < 1 || nb > 64) throw std::logic_error("run_packets: bands must be in [1, 64]");
    // Per-packet work arrays, reused (fresh ones cost their page faults), never cleared:
    // a FIFO place is read only once written (by an arrival or, for a delay, by its send).
    std::vector<std::int64_t>& fifo = fifo_buffer_.get();
    if (fifo.size() < n) fifo.resize(n);
    fifo_ = fifo.data();

    queue_.resize(vms);
    not_before_.assign(vms, kNever);  // kNever: no reservation (a join then leaves phase0_after_ alone)
    std::size_t offset = 0;
    for (std::size_t i = 0; i < vms; ++i) {
        VmQueue& q = queue_[i];
        q.band = config.band[i];
        q.quantum = config.quantum[i];
        q.capacity = batch.queue_bytes;
        q.segment = q.head_at = q.tail_at = offset;
        offset += static_cast<std::size_t>(batch.offered[i]);
    }
    tx_.assign(static_cast<std::size_t>(std::min(batch.largest_bytes, kTabulatedTx)) + 1, 0);

    band_.resize(nb);
    for (std::size_t k = 0; k < nb; ++k) {
        if (config.cap_bps[k] >= 0) {
            band_[k].cap = Bucket(config.cap_bps[k], depth_);
            capped_bands_ |= std::uint64_t{1} << k;
        }
        if (config.minimum_bps[k] > 0) {
            band_[k].minimum = Bucket(config.minimum_bps[k], depth_);
            minimum_bands_ |= std::uint64_t{1} << k;
        }
        guarded_ = guarded_ || config.cap_bps[k] >= 0 || config.minimum_bps[k] > 0;
    }
    // Per VM buckets (N12): limit (rate floor(l_i); -1 none, 0 drops every packet) and reservation.
    if (!config.limit_bps.empty()) {
        limit_.resize(vms);
        for (std::size_t i = 0; i < vms; ++i) {
            if (config.limit_bps[i] > 0) {
                limit_[i] = Bucket(config.limit_bps[i], depth_);
                queue_[i].limited = true;
            } else if (config.limit_bps[i] == 0) {
                queue_[i].capacity = 0;
            }
        }
    }
    if (!config.reservation_bps.empty()) {
        reservation_.resize(vms);
        for (std::size_t i = 0; i < vms; ++i) {
            if (config.reservation_bps[i] > 0) {
                reservation_[i] = Bucket(config.reservation_bps[i], depth_);
                queue_[i].reserved = true;
                reserved_.push_back(static_cast<std::int32_t>(i));
            }
        }
        std::stable_sort(reserved_.begin(), reserved_.end(),
                         [&](std::int32_t a, std::int32_t b) { return config.band[a] < config.band[b]; });
        for (const std::int32_t r : reserved_) not_before_[static_cast<std::size_t>(r)] = 0;
        if (!reserved_.empty()) phase0_after_ = 0;
    }
}

// VM i joins the tail of its band's list. Without a branch on whether the list was empty
// (often so for a lightly loaded band, and unpredictable): then i is its own head and tail.
inline __attribute__((always_inline)) void PacketEngine::join(std::int32_t i) {
    VmQueue& q = queue_[static_cast<std::size_t>(i)];
    BandState& b = band_[static_cast<std::size_t>(q.band)];
    const std::uintptr_t empty = -static_cast<std::uintptr_t>(b.listed == 0);  // all ones or 0: a select by mask
    const auto self = reinterpret_cast<std::uintptr_t>(&q);
    const auto first = reinterpret_cast<std::uintptr_t>(b.first);
    VmQueue* const head = reinterpret_cast<VmQueue*>(first ^ ((first ^ self) & empty));
    const auto head_prev = reinterpret_cast<std::uintptr_t>(head->prev);
    VmQueue* const tail = reinterpret_cast<VmQueue*>(head_prev ^ ((head_prev ^ self) & empty));
    tail->next = &q;
    q.prev = tail;
    q.next = head;
    head->prev = &q;
    b.first = head;
    listed_bands_ |= std::uint64_t{1} << q.band;
    q.listed = true;
    ++b.listed;
    phase0_after_ = std::min(phase0_after_, not_before_[static_cast<std::size_t>(i)]);
}

// A VM leaves its band's list; without a branch on whether it was alone there (its own
// neighbours then: the unlinking writes only its own fields).
inline __attribute__((always_inline)) void PacketEngine::leave(VmQueue& q) {
    BandState& b = band_[static_cast<std::size_t>(q.band)];
    const bool alone = b.listed == 1;
    VmQueue* const next = q.next;
    q.prev->next = next;
    next->prev = q.prev;
    VmQueue* const after = alone ? nullptr : next;
    b.first = b.first == &q ? after : b.first;
    listed_bands_ &= ~(std::uint64_t{alone} << q.band);
    q.listed = false;
    --b.listed;
}

// The head packet leaves the VM's queue; an emptied queue leaves its band's list with deficit 0.
inline __attribute__((always_inline)) std::int64_t PacketEngine::dequeue(VmQueue& q) {
    const std::int64_t p = q.head;
    q.queued -= q.head_size;
    if (++q.head_at == q.tail_at) {
        q.deficit = 0;
        q.in_turn = false;
        leave(q);
    } else {
        const std::int64_t next = fifo_[q.head_at];
        const PacketArrival& packet = batch_.packets[next];
        q.head = next;
        q.head_size = packet.size_bytes;
        q.head_arrival = packet.time_ns;
        // The new head's times are written at its own send: fetch them meanwhile.
        __builtin_prefetch(&start_ns_[next], 1);
        __builtin_prefetch(&finish_ns_[next], 1);
    }
    return p;
}

std::int64_t PacketEngine::tx_of(std::int64_t s) {
    if (s >= static_cast<std::int64_t>(tx_.size())) return transmission_ns(s, config_.link_bps);
    std::int64_t& t = tx_[static_cast<std::size_t>(s)];
    if (t == 0) t = transmission_ns(s, config_.link_bps);
    return t;
}

// Phase 0 (N12): the first VM by (band, index) that is in its band's list, has a positive
// reservation bucket and limit bucket, and whose band is not over its cap; -1: none.
std::int32_t PacketEngine::phase0(std::int64_t now) {
    std::int64_t retry = kNever;
    for (const std::int32_t r : reserved_) {
        const auto v = static_cast<std::size_t>(r);
        const VmQueue& q = queue_[v];
        if (!q.listed) continue;
        std::int64_t& due = not_before_[v];
        if (due <= now) {
            BandState& b = band_[static_cast<std::size_t>(q.band)];
            if (!cap_open(b, now)) {
                due = b.cap.positive_from();
            } else if (!reservation_[v].positive(now)) {
                due = reservation_[v].positive_from();
            } else if (q.limited && !limit_[v].positive(now)) {
                due = limit_[v].positive_from();
            } else {
                phase0_after_ = 0;  // look again at the next decision
                return r;
            }
        }
        retry = std::min(retry, due);
    }
    phase0_after_ = retry;
    return -1;
}

// A full pass of band b's list without a send: skip the rounds nobody could send in.
void PacketEngine::skip_rounds(BandState& b) {
    std::int64_t rounds = kNever;
    VmQueue* j = b.first;
    for (std::int64_t c = 0; c < b.listed; ++c) {
        rounds = std::min(rounds, (j->head_size - j->deficit + j->quantum - 1) / j->quantum);
        j = j->next;
    }
    for (std::int64_t c = 0; c < b.listed; ++c) {
        j->deficit += (rounds - 1) * j->quantum;
        j = j->next;
    }
}

template <bool kGuarded, bool kLimits, bool kReservations>
void PacketEngine::run() {
    const std::size_t nb = band_.size();
    // The records end with a sentinel arriving at kNever (PacketBatch): no bounds check.
    const PacketArrival* const packets = batch_.packets;
    std::int64_t now = 0;
    std::size_t next_arrival = 0;
    std::int64_t next_time = packets[0].time_ns;  // arrival of the next packet, kNever: none
    std::int64_t backlog = 0;                     // packets queued
    std::int64_t last_finish = -1;
    // __builtin_expect marks the rare paths (a drop, an idle link, a phase-0 send, every band
    // over its cap, a full pass without a send): the compiler lays them out of the common path.
    for (;;) {
        // Arrivals up to now join their queue or are dropped (N7, N12).
        while (next_time <= now) {
            const std::size_t p = next_arrival++;
            const std::int64_t next_time_was = next_time;
            next_time = packets[next_arrival].time_ns;
            const std::int32_t i = packets[p].vm;
            VmQueue& q = queue_[static_cast<std::size_t>(i)];
            const std::int64_t s = packets[p].size_bytes;
            if (__builtin_expect(q.queued + s > q.capacity, 0)) {
                start_ns_[p] = -1;
                finish_ns_[p] = -1;
                ++q.dropped;
                continue;
            }
            q.queued += s;
            if (q.head_at == q.tail_at) {
                q.head = static_cast<std::int64_t>(p);
                q.head_size = s;
                q.head_arrival = next_time_was;
                join(i);
            }
            fifo_[q.tail_at++] = static_cast<std::int64_t>(p);
            ++backlog;
        }
        // Sleepers whose limit bucket is positive again rejoin their band's list at the tail (N12).
        if constexpr (kLimits) {
            while (!sleeping_.empty() && sleeping_.top().first <= now) {
                const std::int32_t i = sleeping_.top().second;
                sleeping_.pop();
                join(i);
            }
        }
        if (__builtin_expect(backlog == 0, 0)) {
            if (next_time == kNever) break;  // the sentinel
            now = std::max(now, next_time);
            continue;
        }
        std::int32_t chosen = -1;
        if constexpr (kReservations) {
            if (now >= phase0_after_) chosen = phase0(now);
        }
        // Choose the band (N8, N10).
        std::size_t band = nb;
        bool by_minimum = false;
        std::int32_t sender = chosen;
        std::int64_t p = -1;
        std::int64_t s = 0, sent_arrival = 0;
        if (__builtin_expect(chosen >= 0, 0)) {
            const VmQueue& q = queue_[static_cast<std::size_t>(chosen)];
            band = static_cast<std::size_t>(q.band);
            s = q.head_size;
            sent_arrival = q.head_arrival;
            p = dequeue(queue_[static_cast<std::size_t>(chosen)]);
        } else {
            if constexpr (!kGuarded) {
                if (listed_bands_ != 0) band = static_cast<std::size_t>(__builtin_ctzll(listed_bands_));
            } else {
                if (now >= phase1_after_) {
                    for (std::uint64_t m = listed_bands_ & minimum_bands_; m != 0; m &= m - 1) {
                        const auto k = static_cast<std::size_t>(__builtin_ctzll(m));
                        if (band_[k].minimum.positive(now) && cap_open(band_[k], now)) {
                            band = k;
                            by_minimum = true;
                            break;
                        }
                    }
                    if (band == nb) {
                        phase1_after_ = kNever;
                        for (std::uint64_t m = minimum_bands_; m != 0; m &= m - 1) {
                            const auto k = static_cast<std::size_t>(__builtin_ctzll(m));
                            phase1_after_ = std::min(phase1_after_, band_[k].minimum.positive_from());
                        }
                    }
                }
                if (band == nb && capped_bands_ == 0) {
                    if (listed_bands_ != 0) band = static_cast<std::size_t>(__builtin_ctzll(listed_bands_));
                } else if (band == nb) {
                    // The first listed band without a cap, unless a capped one above it is open.
                    const std::uint64_t uncapped = listed_bands_ & ~capped_bands_;
                    const std::size_t k0 = uncapped != 0 ? static_cast<std::size_t>(__builtin_ctzll(uncapped)) : nb;
                    const std::uint64_t above = k0 >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << k0) - 1;
                    for (std::uint64_t m = listed_bands_ & capped_bands_ & above; m != 0; m &= m - 1) {
                        const auto k = static_cast<std::size_t>(__builtin_ctzll(m));
                        if (band_[k].cap.positive(now)) {
                            band = k;
                            break;
                        }
                    }
                    if (band == nb) band = k0;
                }
            }
            if (__builtin_expect(band == nb, 0)) {
                // Every listed band is over its cap (each looked at just above), or every
                // backlogged VM sleeps: idle until the first refill, wake-up or arrival.
                std::int64_t wake = next_time;
                for (std::uint64_t m = listed_bands_; m != 0; m &= m - 1) {
                    wake = std::min(wake, band_[static_cast<std::size_t>(__builtin_ctzll(m))].cap.positive_from());
                }
                if (!sleeping_.empty()) wake = std::min(wake, sleeping_.top().first);
                now = wake;
                continue;
            }
            // Deficit round robin within the band (N9); a VM over its limit goes to sleep (N12).
            BandState& b = band_[band];
            std::int64_t misses = 0;
            if constexpr (!kLimits) {
                // The same walk with the head and the list's length in registers (nobody leaves
                // the list before the send): a turn passing does not store the band's head.
                VmQueue* at = b.first;
                const std::int64_t listed = b.listed;
                for (;;) {
                    VmQueue& q = *at;
                    // A turn opens with deficit += q_i: without a branch (whether the head's turn
                    // is already open, after a higher band's interruption, is the data's choice).
                    std::int64_t deficit = q.deficit + (q.quantum & (static_cast<std::int64_t>(q.in_turn) - 1));
                    if (q.head_size > deficit) {
                        if (listed == 1) {
                            // Alone on the list, it sends after the r rounds it lacks: what
                            // skip_rounds ((r - 1) q_i) and the next turn's q_i give it.
                            deficit += (q.head_size - deficit + q.quantum - 1) / q.quantum * q.quantum;
                        } else {
                            q.deficit = deficit;
                            q.in_turn = false;
                            at = q.next;  // the turn passes: the VM goes to the tail
                            if (__builtin_expect(++misses >= listed, 0)) {
                                b.first = at;
                                skip_rounds(b);
                                misses = 0;
                            }
                            continue;
                        }
                    }
                    s = q.head_size;
                    sent_arrival = q.head_arrival;
                    q.deficit = deficit - s;
                    q.in_turn = true;
                    b.first = at;
                    sender = index_of(at);
                    p = dequeue(q);
                    break;
                }
            } else {
                for (;;) {
                    const std::int32_t i = index_of(b.first);
                    VmQueue& q = *b.first;
                    if (q.limited && !limit_[static_cast<std::size_t>(i)].positive(now)) {
                        leave(q);
                        q.in_turn = false;
                        sleeping_.push(Sleeper{limit_[static_cast<std::size_t>(i)].positive_from(), i});
                        if (b.listed == 0) break;
                        if (misses >= b.listed) {
                            skip_rounds(b);
                            misses = 0;
                        }
                        continue;
                    }
                    q.deficit += q.quantum & (static_cast<std::int64_t>(q.in_turn) - 1);  // as above
                    q.in_turn = true;
                    if (q.head_size <= q.deficit) {
                        s = q.head_size;
                        sent_arrival = q.head_arrival;
                        q.deficit -= s;
                        sender = i;
                        p = dequeue(q);
                        break;
                    }
                    q.in_turn = false;
                    b.first = q.next;  // the turn passes: i goes to the tail
                    if (++misses >= b.listed) {
                        skip_rounds(b);
                        misses = 0;
                    }
                }
            }
            if (__builtin_expect(p < 0, 0)) continue;  // every VM of the band went to sleep: choose again
        }
        --backlog;
        const auto pk = static_cast<std::size_t>(p);
        VmQueue& q = queue_[static_cast<std::size_t>(sender)];
        const std::int64_t cost = s * kBitNs;
        if constexpr (kGuarded) {
            BandState& b = band_[band];
            if (b.cap.exists()) b.cap.take(now, cost);
            if (b.minimum.exists()) {
                if (by_minimum) {
                    b.minimum.take(now, cost);
                } else {
                    b.minimum.take_down_to_zero(now, cost);
                }
            }
        }
        if constexpr (kLimits) {
            if (q.limited) limit_[static_cast<std::size_t>(sender)].take(now, cost);
        }
        if constexpr (kReservations) {
            if (q.reserved) {
                // A DRR send counts towards the reservation, down to a debt of one depth (N12).
                Bucket& r = reservation_[static_cast<std::size_t>(sender)];
                if (chosen >= 0) {
                    r.take(now, cost);
                } else {
                    r.take_down_to(now, cost, -depth_);
                }
            }
        }
        start_ns_[pk] = now;
        fifo_[q.head_at - 1] = now - sent_arrival;  // its place in the FIFO (dequeue moved past it)
        q.sent_bytes += s;
        now += tx_of(s);
        finish_ns_[pk] = now;
        last_finish = now;
        poll_();
    }
    last_finish_ = last_finish;
}

// N11: throughput over the first arrival (arrival[0]: they are in order) .. the last
// finish; quantile q of c sorted delays x: h = (c - 1) * q, lo = floor(h),
// x[lo] + (h - lo) * (x[min(lo + 1, c - 1)] - x[lo]), found by selection.
PacketStats PacketEngine::stats() {
    const std::size_t vms = queue_.size();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    PacketStats st;
    st.duration_ns = last_finish_ < 0 ? 0 : last_finish_ - batch_.packets[0].time_ns;
    st.sent_packets.assign(vms, 0);
    st.sent_bytes.assign(vms, 0);
    st.dropped_packets.assign(vms, 0);
    st.throughput_bps.assign(vms, 0.0);
    st.delay_p50_ns.assign(vms, nan);
    st.delay_p99_ns.assign(vms, nan);
    st.delay_max_ns.assign(vms, nan);
    for (std::size_t i = 0; i < vms; ++i) {
        const VmQueue& q = queue_[i];
        const std::size_t c = q.head_at - q.segment;  // every queued packet was sent
        st.sent_packets[i] = static_cast<std::int64_t>(c);
        st.sent_bytes[i] = q.sent_bytes;
        st.dropped_packets[i] = q.dropped;
        if (st.duration_ns > 0) st.throughput_bps[i] = static_cast<double>(q.sent_bytes) * 8e9 / static_cast<double>(st.duration_ns);
        if (c > 0) delay_quantiles(fifo_ + q.segment, c, st.delay_p50_ns[i], st.delay_p99_ns[i], st.delay_max_ns[i]);
    }
    return st;
}

}  // namespace

std::int64_t transmission_ns(std::int64_t bytes, std::int64_t link_bps) {
    return (bytes * kBitNs + link_bps - 1) / link_bps;
}

PacketStats run_packets(const PacketConfig& config, const PacketBatch& batch, std::int64_t* start_ns,
                        std::int64_t* finish_ns, Interrupt* interrupt) {
    PacketEngine engine(config, batch, start_ns, finish_ns, interrupt);
    const int variant = (engine.guarded() ? 4 : 0) + (engine.limits() ? 2 : 0) + (engine.reservations() ? 1 : 0);
    switch (variant) {
        case 0: engine.run<false, false, false>(); break;
        case 1: engine.run<false, false, true>(); break;
        case 2: engine.run<false, true, false>(); break;
        case 3: engine.run<false, true, true>(); break;
        case 4: engine.run<true, false, false>(); break;
        case 5: engine.run<true, false, true>(); break;
        case 6: engine.run<true, true, false>(); break;
        default: engine.run<true, true, true>(); break;
    }
    return engine.stats();
}

}  // namespace vsched
