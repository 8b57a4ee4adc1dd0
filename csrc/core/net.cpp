// Network QoS, fluid engine: what each VM gets of the link in one tick given
// its offered load (docs/engines/network.md, rules N1-N5).
//
// Per VM i in band k: demand d_i, shares w_i, reservation r_i, limit l_i.
//   ceiling u_i = min(d_i, l_i)        floor f_i = min(r_i, u_i)
// Per band k (sums over its VMs in id order): F_k = sum f_i, U_k = sum u_i,
// cap c_k (+inf: none), minimum m_k (0: none).
//   set-aside     G_k = max(F_k, min(m_k, min(U_k, c_k)))
//   below         B_k = sum_{j>k} G_j   (B_last = 0, B_k = B_{k+1} + G_{k+1})
//   band capacity C_k = min(c_k, max(G_k, R_k - B_k)),  R_0 = link
//   allocation    a = fair_share(C_k, d, w, r, l) over band k's VMs
//   remaining     R_{k+1} = R_k - sum_{i in k} a_i
// So band 0 is served first, but every lower band keeps its floors and its
// minimum; a cap bounds a band whatever the link has left.
#include "vsched/net.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "vsched/errors.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxLink = 0x1p50;  // ~1.1e15 bps: the packet engine's integer rates stay exact
constexpr std::int64_t kMaxBands = 64;
constexpr std::int64_t kMaxShares = std::int64_t{1} << 32;
constexpr const char* kKind = "NetScheduler";
constexpr std::uint32_t kFormat = 1;

template <typename T>
void room_for_one_more(std::vector<T>& v) {
    if (v.size() == v.capacity()) v.reserve(std::max<std::size_t>(16, 2 * v.capacity()));
}

}  // namespace

NetScheduler::NetScheduler(double link_bps, std::int64_t bands, const NetGuard& guard) {
    if (!std::isfinite(link_bps) || !(link_bps >= 1.0) || link_bps > kMaxLink) {
        throw std::invalid_argument(
            message("link_bps = ", format_number(link_bps), ": link_bps must be in [1, 2**50]"));
    }
    if (bands < 1 || bands > kMaxBands) {
        throw std::invalid_argument(message("bands = ", bands, ": bands must be an integer in [1, ", kMaxBands, "]"));
    }
    const auto b = static_cast<std::size_t>(bands);
    if (!guard.caps.empty() && guard.caps.size() != b) {
        throw std::invalid_argument(message("guard caps has length ", guard.caps.size(), ", expected ", b));
    }
    if (!guard.minimums.empty() && guard.minimums.size() != b) {
        throw std::invalid_argument(message("guard minimums has length ", guard.minimums.size(), ", expected ", b));
    }
    std::vector<double> caps = guard.caps.empty() ? std::vector<double>(b, kInf) : guard.caps;
    std::vector<double> minimums = guard.minimums.empty() ? std::vector<double>(b, 0.0) : guard.minimums;
    for (std::size_t k = 0; k < b; ++k) {
        if (std::isnan(caps[k]) || !(caps[k] >= 1.0)) {
            throw std::invalid_argument(message("guard caps[", k, "] = ", format_number(caps[k]),
                                                ": a cap must be >= 1 bps (None or inf for none)"));
        }
    }
    double sum = 0.0;
    for (std::size_t k = 0; k < b; ++k) {
        if (!std::isfinite(minimums[k]) || minimums[k] < 0.0) {
            throw std::invalid_argument(message("guard minimums[", k, "] = ", format_number(minimums[k]),
                                                ": a minimum must be finite and >= 0"));
        }
        if (minimums[k] > caps[k]) {
            throw std::invalid_argument(message("guard minimums[", k, "] = ", format_number(minimums[k]),
                                                " exceeds caps[", k, "] = ", format_number(caps[k])));
        }
        sum += minimums[k];
    }
    if (floors_exceed(sum, link_bps)) {
        throw AdmissionError(message("guard minimums sum to ", format_number(sum), " > link_bps ",
                                     format_number(link_bps)));
    }
    link_bps_ = link_bps;
    caps_ = std::move(caps);
    minimums_ = std::move(minimums);
    reservation_sum_.assign(b, 0.0);
    sum_valid_.assign(b, 1);
}

NetScheduler::Params NetScheduler::check_params(std::int64_t band, std::int64_t shares, double reservation,
                                                double limit) const {
    if (band < 0 || band >= static_cast<std::int64_t>(bands())) {
        throw std::invalid_argument(message("band = ", band, ": band must be in [0, ", bands() - 1, "]"));
    }
    if (shares < 1 || shares > kMaxShares) {
        throw std::invalid_argument(message("shares = ", shares, ": shares must be an integer in [1, 2**32]"));
    }
    if (!std::isfinite(reservation) || reservation < 0.0) {
        throw std::invalid_argument(message("reservation = ", format_number(reservation),
                                            ": reservation must be finite and >= 0"));
    }
    if (std::isnan(limit) || limit < 0.0) {
        throw std::invalid_argument(
            message("limit = ", format_number(limit), ": limit must be >= 0 (None or inf for no limit)"));
    }
    if (limit < reservation) {
        throw AdmissionError(message("limit ", format_number(limit), " is below reservation ",
                                     format_number(reservation), " by ", format_number(reservation - limit)));
    }
    return Params{band, static_cast<double>(shares), reservation, limit};
}

double NetScheduler::band_reservations(std::size_t band) const {
    if (!sum_valid_[band]) {
        double total = 0.0;
        for (std::size_t i = 0; i < size(); ++i) {
            if (static_cast<std::size_t>(band_[i]) == band) total += reservation_[i];
        }
        reservation_sum_[band] = total;
        sum_valid_[band] = 1;
    }
    return reservation_sum_[band];
}

void NetScheduler::check_admission(std::size_t index, const Params& p) const {
    const auto nb = bands();
    std::vector<double> sums(nb);
    for (std::size_t k = 0; k < nb; ++k) sums[k] = band_reservations(k);
    const auto band = static_cast<std::size_t>(p.band);
    if (index == size()) {
        sums[band] += p.reservation;  // the new VM comes last in id order
    } else {
        const auto old_band = static_cast<std::size_t>(band_[index]);
        for (const std::size_t k : {old_band, band}) {
            double total = 0.0;
            for (std::size_t i = 0; i < size(); ++i) {
                const bool in_k = i == index ? band == k : static_cast<std::size_t>(band_[i]) == k;
                if (in_k) total += i == index ? p.reservation : reservation_[i];
            }
            sums[k] = total;
        }
    }
    if (floors_exceed(sums[band], caps_[band])) {
        throw AdmissionError(message("reservations of band ", band, " would sum to ", format_number(sums[band]),
                                     " > its cap ", format_number(caps_[band])));
    }
    double total = 0.0;
    for (std::size_t k = 0; k < nb; ++k) total += std::max(sums[k], minimums_[k]);
    if (floors_exceed(total, link_bps_)) {
        throw AdmissionError(message("reservations exceed the link by ", format_number(total - link_bps_),
                                     ": with the guard minimums they would take ", format_number(total),
                                     " > link_bps ", format_number(link_bps_)));
    }
}

std::size_t NetScheduler::index_of(std::int64_t vm) const {
    const std::uint32_t found = index_.find(ids_, vm);
    if (found == IdColumns::kNone) throw KeyError(message("vm ", vm, " is not on this host"));
    return found;
}

std::int64_t NetScheduler::add_vm(std::int64_t band, std::int64_t shares, double reservation, double limit) {
    const Params p = check_params(band, shares, reservation, limit);
    check_admission(size(), p);
    const std::int64_t id = next_id_;
    // Room first, so that bad_alloc leaves the object as it was.
    room_for_one_more(ids_);
    room_for_one_more(band_);
    for (std::vector<double>* v : {&shares_, &reservation_, &limit_}) room_for_one_more(*v);
    room_for_one_more(starved_);
    room_for_one_more(starved_ticks_);
    index_.reserve(ids_, size() + 1);
    index_.insert(id, size());
    ids_.push_back(id);
    band_.push_back(p.band);
    shares_.push_back(p.shares);
    reservation_.push_back(p.reservation);
    limit_.push_back(p.limit);
    starved_.push_back(0);
    starved_ticks_.push_back(0);
    const auto k = static_cast<std::size_t>(p.band);
    if (sum_valid_[k]) reservation_sum_[k] += p.reservation;
    bands_dirty_ = true;
    ++next_id_;
    return id;
}

void NetScheduler::set_vm(std::int64_t vm, std::int64_t band, std::int64_t shares, double reservation,
                          double limit) {
    const std::size_t index = index_of(vm);
    const Params p = check_params(band, shares, reservation, limit);
    check_admission(index, p);
    sum_valid_[static_cast<std::size_t>(band_[index])] = 0;
    sum_valid_[static_cast<std::size_t>(p.band)] = 0;
    band_[index] = p.band;
    shares_[index] = p.shares;
    reservation_[index] = p.reservation;
    limit_[index] = p.limit;
    bands_dirty_ = true;
}

void NetScheduler::remove_vm(std::int64_t vm) {
    const std::size_t index = index_of(vm);
    sum_valid_[static_cast<std::size_t>(band_[index])] = 0;
    index_.remove(ids_, index);
    ids_.erase(ids_.begin() + index);
    band_.erase(band_.begin() + index);
    shares_.erase(shares_.begin() + index);
    reservation_.erase(reservation_.begin() + index);
    limit_.erase(limit_.begin() + index);
    starved_.erase(starved_.begin() + index);
    starved_ticks_.erase(starved_ticks_.begin() + index);
    bands_dirty_ = true;
}

void NetScheduler::rebuild_bands() {
    const std::size_t nb = bands();
    members_.assign(nb, {});
    band_shares_.assign(nb, {});
    band_reservation_.assign(nb, {});
    band_limit_.assign(nb, {});
    for (std::size_t i = 0; i < size(); ++i) {
        const auto k = static_cast<std::size_t>(band_[i]);
        members_[k].push_back(i);
        band_shares_[k].push_back(shares_[i]);
        band_reservation_[k].push_back(reservation_[i]);
        band_limit_[k].push_back(limit_[i]);
    }
    bands_dirty_ = false;
}

void NetScheduler::validate_demand(const double* demand) const {
    for (std::size_t i = 0; i < size(); ++i) {
        if (!std::isfinite(demand[i]) || demand[i] < 0.0) {
            throw std::invalid_argument(message("demand_bps[", i, "] = ", format_number(demand[i]),
                                                ": demand_bps must be finite and >= 0"));
        }
    }
}

// The formulas are at the top of this file (N4).
void NetScheduler::allocate(const double* demand, double* out) {
    if (bands_dirty_) rebuild_bands();
    const std::size_t nb = bands();
    setaside_.resize(nb);
    below_.resize(nb);
    band_demand_.resize(nb);
    for (std::size_t k = 0; k < nb; ++k) {
        const std::vector<std::size_t>& m = members_[k];
        std::vector<double>& d = band_demand_[k];
        d.resize(m.size());
        double floors = 0.0;    // F_k
        double ceilings = 0.0;  // U_k
        for (std::size_t j = 0; j < m.size(); ++j) {
            d[j] = demand[m[j]];
            const double u = std::min(d[j], band_limit_[k][j]);
            floors += std::min(band_reservation_[k][j], u);
            ceilings += u;
        }
        setaside_[k] = std::max(floors, std::min(minimums_[k], std::min(ceilings, caps_[k])));
    }
    double below = 0.0;
    for (std::size_t k = nb; k-- > 0;) {
        below_[k] = below;
        below += setaside_[k];
    }
    double remaining = link_bps_;
    for (std::size_t k = 0; k < nb; ++k) {
        const std::vector<std::size_t>& m = members_[k];
        if (m.empty()) continue;
        alloc_.resize(m.size());
        FairShareInput in;
        in.capacity = std::min(caps_[k], std::max(setaside_[k], remaining - below_[k]));
        in.n = m.size();
        in.demand = band_demand_[k].data();
        in.shares = band_shares_[k].data();
        in.reservation = band_reservation_[k].data();
        in.limit = band_limit_[k].data();
        solver_.solve(in, alloc_.data());  // F_k <= G_k <= capacity: the floors fit
        double used = 0.0;
        for (std::size_t j = 0; j < m.size(); ++j) {
            out[m[j]] = alloc_[j];
            used += alloc_[j];
        }
        remaining -= used;
    }
    // N5: a VM that wanted bandwidth and got none is starved this tick.
    for (std::size_t i = 0; i < size(); ++i) {
        const bool starved = std::min(demand[i], limit_[i]) > 0.0 && out[i] == 0.0;
        starved_[i] = starved ? 1 : 0;
        starved_ticks_[i] += starved ? 1 : 0;
    }
}

void NetScheduler::validate_packets(const std::int64_t* vm_ids, const std::int64_t* arrival_ns,
                                    const std::int64_t* size_bytes, PacketBatch& batch,
                                    std::vector<PacketArrival>& packets, std::vector<std::int64_t>& offered_buffer) const {
    if (batch.queue_bytes < 1 || batch.queue_bytes > kMaxTimeNs) {
        throw std::invalid_argument(
            message("queue_bytes = ", batch.queue_bytes, ": queue_bytes must be an integer in [1, 2**62]"));
    }
    if (batch.quantum_bytes < 1 || batch.quantum_bytes > kMaxPacketBytes) {
        throw std::invalid_argument(
            message("quantum_bytes = ", batch.quantum_bytes, ": quantum_bytes must be an integer in [1, 2**24]"));
    }
    if (batch.burst_bytes < 0 || batch.burst_bytes > kMaxPacketBytes) {
        throw std::invalid_argument(
            message("burst_bytes = ", batch.burst_bytes, ": burst_bytes must be an integer in [0, 2**24]"));
    }
    // VM id -> index: a table when the ids are dense enough, else the map.
    const bool dense = next_id_ <= 4 * static_cast<std::int64_t>(size()) + 4096;
    std::vector<std::int32_t> table;
    if (dense) {
        // Ids no VM has map to size() (the place of a refused packet, see `offered`); [next_id_]
        // is the fast pass's place for an id outside [0, next_id_).
        table.assign(static_cast<std::size_t>(next_id_) + 1, static_cast<std::int32_t>(size()));
        for (std::size_t i = 0; i < size(); ++i) table[static_cast<std::size_t>(ids_[i])] = static_cast<std::int32_t>(i);
    }
    // One pass reads the caller's three arrays and writes the engine's records and per-VM
    // counts (no copy of the arrays first); nothing the caller sees changes if a packet is refused.
    const std::size_t n = batch.n;
    if (packets.size() < n + 1) packets.resize(n + 1);
    PacketArrival* out = packets.data();
    offered_buffer.assign(size() + 1, 0);  // + 1: the fast pass's place for a refused packet (no VM at all)
    std::int64_t* offered = offered_buffer.data();
    std::int64_t largest = 0;
    const auto link = static_cast<std::int64_t>(link_bps_);
    // Every packet finishes by the last arrival plus, summed over packets, its
    // transmission and the wait for its band's cap to refill (N10), each at
    // most one ns above its exact quotient: H = floor(8e9 S / L) +
    // sum_k floor(8e9 S_k / slowest_k) + 3n, S = bytes in all, S_k in band k,
    // slowest_k = min(L, floor(cap_k)). Refused if that could pass 2**62 ns.
    // Bytes are summed per VM (consecutive packets rarely share one, so the sums do not wait on
    // each other), then per band. N12: a VM limited below the link also waits for its own bucket:
    // + sum_i floor(8e9 S_i / floor(l_i)).
    std::vector<std::int64_t> vm_bytes(size() + 1, 0);
    std::int64_t previous = 0;
    bool checked = !dense;
    if (dense) {
        // The common case without a branch per check: a bad value only sets `bad` (its record
        // and sums are then garbage, kept in bounds), and a bad batch is read again below by
        // the checks in order, which name the first bad packet. Unsigned sums: no overflow.
        // (A negative arrival is below `previous`, which is >= 0 while the batch is good.) The
        // pointers are restrict: the stores to the sums do not make the loop reload the inputs.
        const auto ids = static_cast<std::uint64_t>(next_id_);
        const auto absent = static_cast<std::int32_t>(size());
        const std::int32_t* __restrict index_of_id = table.data();
        const std::int64_t* __restrict vm_in = vm_ids;
        const std::int64_t* __restrict arrival_in = arrival_ns;
        const std::int64_t* __restrict size_in = size_bytes;
        std::uint64_t* __restrict bytes_of = reinterpret_cast<std::uint64_t*>(vm_bytes.data());
        std::int64_t* __restrict offered_of = offered;
        PacketArrival* __restrict record = out;
        // Per packet only the order is checked; the rest after the pass: an unknown id counts at
        // offered[absent], the latest arrival of an ordered batch is its last one, and sizes are
        // in range when the smallest and the largest are.
        bool unordered = false;
        std::int64_t smallest = std::numeric_limits<std::int64_t>::max();
        for (std::size_t p = 0; p < n; ++p) {
            const auto vm = static_cast<std::uint64_t>(vm_in[p]);
            const std::int64_t arrival = arrival_in[p];
            const std::int64_t bytes = size_in[p];
            const std::int32_t index = index_of_id[std::min(vm, ids)];
            unordered |= arrival < previous;
            previous = arrival;
            bytes_of[index] += static_cast<std::uint64_t>(bytes);
            ++offered_of[index];
            largest = std::max(largest, bytes);
            smallest = std::min(smallest, bytes);
            record[p] = PacketArrival{arrival, static_cast<std::int32_t>(bytes), index};
        }
        const bool bad = unordered || offered_of[absent] != 0 || previous > kMaxTimeNs ||
                         (n > 0 && (smallest < 1 || largest > kMaxPacketBytes));
        if (bad) {
            checked = true;
            previous = 0;
            largest = 0;
            std::fill(vm_bytes.begin(), vm_bytes.end(), 0);
            std::fill(offered_buffer.begin(), offered_buffer.end(), 0);
        }
    }
    for (std::size_t p = 0; checked && p < n; ++p) {
        const std::int64_t vm = vm_ids[p];
        std::int32_t index = -1;
        if (dense) {
            if (vm >= 0 && vm < next_id_ && table[static_cast<std::size_t>(vm)] < static_cast<std::int32_t>(size())) {
                index = table[static_cast<std::size_t>(vm)];
            }
        } else {
            const std::uint32_t found = index_.find(ids_, vm);
            if (found != IdColumns::kNone) index = static_cast<std::int32_t>(found);
        }
        if (index < 0) throw KeyError(message("vm[", p, "] = ", vm, ": vm ", vm, " is not on this host"));
        const std::int64_t arrival = arrival_ns[p];
        if (arrival < 0 || arrival > kMaxTimeNs) {
            throw std::invalid_argument(
                message("arrival_ns[", p, "] = ", arrival, ": arrival_ns must be in [0, 2**62]"));
        }
        if (arrival < previous) {
            throw std::invalid_argument(message("arrival_ns[", p, "] = ", arrival, " < arrival_ns[", p - 1,
                                                "] = ", previous, ": packets must be in arrival order"));
        }
        previous = arrival;
        const std::int64_t bytes = size_bytes[p];
        if (bytes < 1 || bytes > kMaxPacketBytes) {
            throw std::invalid_argument(
                message("size_bytes[", p, "] = ", bytes, ": size_bytes must be an integer in [1, 2**24]"));
        }
        vm_bytes[static_cast<std::size_t>(index)] += bytes;  // < 2**63: n < 2**39
        ++offered[static_cast<std::size_t>(index)];
        largest = std::max(largest, bytes);
        out[p] = PacketArrival{arrival, static_cast<std::int32_t>(bytes), index};
    }
    out[n] = PacketArrival{std::numeric_limits<std::int64_t>::max(), 0, 0};  // the sentinel
    std::vector<std::int64_t> band_bytes(bands(), 0);
    for (std::size_t i = 0; i < size(); ++i) band_bytes[static_cast<std::size_t>(band_[i])] += vm_bytes[i];
    using Wide = unsigned __int128;
    Wide total_bytes = 0;
    Wide horizon = 3 * static_cast<Wide>(batch.n);
    for (std::size_t k = 0; k < bands(); ++k) {
        total_bytes += static_cast<Wide>(band_bytes[k]);
        const std::int64_t slowest = std::isinf(caps_[k]) ? link : std::min(link, static_cast<std::int64_t>(caps_[k]));
        horizon += static_cast<Wide>(band_bytes[k]) * 8'000'000'000u / static_cast<Wide>(slowest);
    }
    horizon += total_bytes * 8'000'000'000u / static_cast<Wide>(link);
    for (std::size_t i = 0; i < size(); ++i) {
        const double l = limit_[i];
        if (l >= 1.0 && l < link_bps_) {
            horizon += static_cast<Wide>(vm_bytes[i]) * 8'000'000'000u / static_cast<Wide>(static_cast<std::int64_t>(l));
        }
    }
    if (horizon > static_cast<Wide>(kMaxTimeNs - previous)) {
        throw std::invalid_argument("the packets would keep the link busy past 2**62 ns: use a faster link "
                                    "or fewer, smaller packets");
    }    batch.packets = out;
    batch.offered = offered;
    batch.largest_bytes = largest;
}

PacketStats NetScheduler::simulate_packets(const PacketBatch& batch, std::int64_t* start_ns, std::int64_t* finish_ns,
                                           Interrupt* interrupt) const {
    PacketConfig config;
    config.link_bps = static_cast<std::int64_t>(link_bps_);
    config.band.resize(size());
    config.quantum.resize(size());
    for (std::size_t i = 0; i < size(); ++i) {
        config.band[i] = static_cast<std::int32_t>(band_[i]);
        const auto shares = static_cast<std::int64_t>(shares_[i]);
        config.quantum[i] = (shares * batch.quantum_bytes + 999) / 1000;
    }
    // Per-VM buckets (N12): only when some VM's limit is below the link or it holds a reservation.
    const bool limited = std::any_of(limit_.begin(), limit_.end(), [&](double l) { return l < link_bps_; });
    const bool reserved = std::any_of(reservation_.begin(), reservation_.end(), [](double r) { return r >= 1.0; });
    if (limited) {
        config.limit_bps.resize(size());
        for (std::size_t i = 0; i < size(); ++i) {
            config.limit_bps[i] = limit_[i] < link_bps_ ? static_cast<std::int64_t>(limit_[i]) : -1;
        }
    }
    if (reserved) {
        config.reservation_bps.resize(size());
        for (std::size_t i = 0; i < size(); ++i) {
            config.reservation_bps[i] = static_cast<std::int64_t>(std::min(reservation_[i], std::floor(link_bps_)));
        }
    }
    for (std::size_t k = 0; k < bands(); ++k) {
        config.cap_bps.push_back(std::isinf(caps_[k]) ? -1 : static_cast<std::int64_t>(caps_[k]));
        config.minimum_bps.push_back(static_cast<std::int64_t>(minimums_[k]));
    }
    config.burst_bytes = batch.burst_bytes > 0 ? batch.burst_bytes : std::max<std::int64_t>(batch.largest_bytes, 1);
    return run_packets(config, batch, start_ns, finish_ns, interrupt);
}

std::string NetScheduler::save() const {
    StateWriter w(kKind, kFormat);
    w.put(link_bps_);
    w.put_vector(caps_);
    w.put_vector(minimums_);
    w.put(next_id_);
    w.put_vector(ids_);
    w.put_vector(band_);
    w.put_vector(shares_);
    w.put_vector(reservation_);
    w.put_vector(limit_);
    w.put_vector(starved_);
    w.put_vector(starved_ticks_);
    return w.take();
}

NetScheduler NetScheduler::restore(const std::string& bytes) {
    StateReader r(bytes, kKind, kFormat);
    NetScheduler s;
    s.link_bps_ = r.get<double>();
    s.caps_ = r.get_vector<double>();
    s.minimums_ = r.get_vector<double>();
    s.next_id_ = r.get<std::int64_t>();
    s.ids_ = r.get_vector<std::int64_t>();
    s.band_ = r.get_vector<std::int64_t>();
    s.shares_ = r.get_vector<double>();
    s.reservation_ = r.get_vector<double>();
    s.limit_ = r.get_vector<double>();
    s.starved_ = r.get_vector<std::uint8_t>();
    s.starved_ticks_ = r.get_vector<std::int64_t>();
    r.expect_end();
    const std::size_t n = s.ids_.size();
    const bool consistent = s.caps_.size() == s.minimums_.size() && !s.caps_.empty() &&
                            s.band_.size() == n && s.shares_.size() == n && s.reservation_.size() == n &&
                            s.limit_.size() == n && s.starved_.size() == n && s.starved_ticks_.size() == n;
    if (!consistent) throw std::invalid_argument("corrupt NetScheduler checkpoint (inconsistent lengths)");
    for (std::size_t i = 0; i < n; ++i) {
        if (s.band_[i] < 0 || s.band_[i] >= static_cast<std::int64_t>(s.caps_.size()) || s.ids_[i] >= s.next_id_ ||
            (i > 0 && s.ids_[i] <= s.ids_[i - 1])) {
            throw std::invalid_argument("corrupt NetScheduler checkpoint (bad VM table)");
        }
        s.index_.reserve(s.ids_, i + 1);
        s.index_.insert(s.ids_[i], i);
    }
    s.reservation_sum_.assign(s.caps_.size(), 0.0);
    s.sum_valid_.assign(s.caps_.size(), 0);
    return s;
}

}  // namespace vsched
