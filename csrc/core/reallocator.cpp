// Sliding-window reallocation.
//
// Per VM i: size s_i, shares w_i, reservation r_i, limit l_i (inf = none),
// ceiling c_i = min(s_i, l_i). Admission keeps r_i <= s_i, r_i <= l_i and
// sum(r) <= C * (1 + 1e-9) (summed in VM order; the kernel's rounding slack),
// so the floors of every division below are exactly r_i and always feasible.
//
//   base       b = fair_share(C, demand = s, w, r, l)
//   load       L = (sum over VMs of the window mean) / C
//   lending    L < threshold and at least one VM has a sample
//   estimate   e_i = b_i                                   if the window is empty
//              e_i = clamp(stat_i * (1 + headroom), 0, c_i) otherwise,
//                    then max(e_i, b_i) if VM i is saturated
//   saturated  the last sample u_i >= x_i * (1 - 1e-9), x_i = entitlement in
//              force when it was observed (its real demand is hidden by the cap)
//   entitlement, not lending:  x = b
//              lending: u_i = min(max(e_i, r_i), l_i)
//                       contended (sum(u) > C, summed in VM order):
//                               x = p = fair_share(C, demand = max(e, r), w, r, l)
//                               (p hands out all of C: nothing is left)
//                       else    p = u, left R = C - sum(u),
//                               q = fair_share(R, demand = c - p, w)   (if R > 0)
//                               x_i = min(c_i, p_i + q_i)
//
// b uses the kernel (FairShareSolver, only when VM parameters change); the two
// per-tick passes use WarmFairShare, which returns the kernel's result bit for
// bit from the previous tick's water level in fewer passes.
//
// Everything is a pure function of (parameters, window state, saturated
// flags), so results are computed lazily and cached until the state changes: calling
// entitlements() twice, or after set_vm with the same values, changes nothing.
// A saturated VM gets >= b_i at the next tick: lowering other VMs' demands
// only raises the water level, and its own demand max(e_i, r_i) >= b_i.
#include "vsched/reallocator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "vsched/errors.hpp"

namespace vsched {

namespace {

constexpr std::int64_t kMaxShares = std::int64_t{1} << 53;  // exact as a double
constexpr std::int64_t kMaxWindow = 1000000;
// A sample this close below the entitlement counts as having reached it.
constexpr double kSaturation = 1.0 - 1e-9;

// Makes the next push_back unable to throw, growing geometrically.
template <typename T>
void room_for_one_more(std::vector<T>& v) {
    if (v.size() == v.capacity()) v.reserve(std::max<std::size_t>(16, 2 * v.capacity()));
}

}  // namespace

Reallocator::Reallocator(double capacity, std::int64_t window, double threshold,
                         const std::string& estimator, double percentile, double headroom) {
    if (!std::isfinite(capacity) || !(capacity > 0.0)) {
        throw std::invalid_argument(
            message("capacity = ", format_number(capacity), ": capacity must be finite and > 0"));
    }
    if (window < 1 || window > kMaxWindow) {
        throw std::invalid_argument(message("window = ", window, ": window must be in [1, ", kMaxWindow, "]"));
    }
    if (!std::isfinite(threshold) || threshold < 0.0) {
        throw std::invalid_argument(
            message("threshold = ", format_number(threshold), ": threshold must be finite and >= 0"));
    }
    const std::vector<std::string>& names = estimator_names();
    if (std::find(names.begin(), names.end(), estimator) == names.end()) {
        make_estimator(estimator, WindowConfig{});  // throws, naming the choices
    }
    if (!(percentile >= 0.0 && percentile <= 100.0)) {
        throw std::invalid_argument(
            message("percentile = ", format_number(percentile), ": percentile must be in [0, 100]"));
    }
    if (!std::isfinite(headroom) || headroom < 0.0) {
        throw std::invalid_argument(
            message("headroom = ", format_number(headroom), ": headroom must be finite and >= 0"));
    }
    capacity_ = capacity;
    threshold_ = threshold;
    percentile_ = percentile;
    headroom_ = headroom;
    WindowConfig config;
    config.window = static_cast<std::size_t>(window);
    config.quantile = percentile / 100.0;
    // EWMA with the span convention: its centre of mass, (W - 1) / 2 ticks
    // back, is the same as that of a plain mean over W samples.
    config.alpha = 2.0 / (static_cast<double>(window) + 1.0);
    windows_ = UsageWindows(estimator, config);
}

Reallocator::Params Reallocator::check_params(double size, std::int64_t shares, double reservation,
                                              double limit) const {
    if (!std::isfinite(size) || size < 0.0) {
        throw std::invalid_argument(message("size = ", format_number(size), ": size must be finite and >= 0"));
    }
    if (shares < 1 || shares > kMaxShares) {
        throw std::invalid_argument(message("shares = ", shares, ": shares must be an integer in [1, 2**53]"));
    }
    if (!std::isfinite(reservation) || reservation < 0.0) {
        throw std::invalid_argument(message("reservation = ", format_number(reservation),
                                            ": reservation must be finite and >= 0"));
    }
    if (std::isnan(limit) || limit < 0.0) {
        throw std::invalid_argument(
            message("limit = ", format_number(limit), ": limit must be >= 0 (None or inf for no limit)"));
    }
    if (reservation > size) {
        throw AdmissionError(message("reservation ", format_number(reservation), " exceeds size ",
                                     format_number(size), " by ", format_number(reservation - size),
                                     ": a VM cannot be guaranteed more than it can use"));
    }
    if (limit < reservation) {
        throw AdmissionError(message("limit ", format_number(limit), " is below reservation ",
                                     format_number(reservation), " by ", format_number(reservation - limit)));
    }
    return Params{size, static_cast<double>(shares), reservation, limit};
}

void Reallocator::check_admission(std::size_t index, double reservation) const {
    // Only a reservation that grows can break sum(r) <= C: float addition of
    // non-negative terms is monotone, so removing a VM, lowering a reservation
    // or appending a zero one cannot raise the sum computed in VM order.
    const double current = index < size() ? reservation_[index] : 0.0;
    if (!(reservation > current)) return;
    // Summed in VM order, as the fair-share kernel does. A new VM comes last,
    // so its floors are the cached ordered sum plus its reservation.
    double floors = 0.0;
    if (index == size()) {
        floors = reservation_sum_.value([&] {
                     double total = 0.0;
                     for (const double r : reservation_) total += r;
                     return total;
                 }) +
                 reservation;
    } else {
        for (std::size_t i = 0; i < size(); ++i) floors += i == index ? reservation : reservation_[i];
    }
    // Floors may exceed the capacity by a relative 1e-9 (rounding in how the
    // caller chose reservations that "exactly" fill the host, e.g. 3 x 0.1 on
    // 0.3): the kernel's own test, so computing b never fails.
    if (floors_exceed(floors, capacity_)) {
        throw AdmissionError(message("reservations exceed capacity by ", format_number(floors - capacity_),
                                     ": they would sum to ", format_number(floors), " > capacity ",
                                     format_number(capacity_)));
    }
}

std::size_t Reallocator::index_of(std::int64_t vm) const {
    const std::uint32_t found = index_.find(ids_, vm);
    if (found == IdColumns::kNone) throw KeyError(message("vm ", vm, " is not on this host"));
    return found;
}

void Reallocator::store(std::size_t index, const Params& p) {
    size_[index] = p.size;
    shares_[index] = p.shares;
    reservation_[index] = p.reservation;
    limit_[index] = p.limit;
    ceiling_[index] = std::min(p.size, p.limit);
    dirty_ = true;
    base_dirty_ = true;
}

std::int64_t Reallocator::add_vm(double size, std::int64_t shares, double reservation, double limit) {
    const Params p = check_params(size, shares, reservation, limit);
    check_admission(this->size(), p.reservation);
    return admit(p, nullptr, false);
}

std::int64_t Reallocator::admit(const Params& p, const ColumnState* window, bool saturated) {
    const std::int64_t id = next_id_;
    const std::size_t index = this->size();
    // Every allocation before the first change, so that bad_alloc leaves the
    // object as it was: room for one more in every per-VM vector (growing
    // geometrically), the id's map entry, then a column (which may grow the
    // window matrices); the pushes below cannot throw.
    for (std::vector<double>* v : {&size_, &shares_, &reservation_, &limit_, &ceiling_}) room_for_one_more(*v);
    room_for_one_more(ids_);
    room_for_one_more(column_);
    room_for_one_more(saturated_);
    index_.reserve(ids_, index + 1);
    index_.insert(id, index);
    std::uint32_t column = 0;
    try {
        column = windows_.add(/*whole_window=*/window != nullptr);
    } catch (...) {
        ids_.push_back(id);  // room was made above; remove() reads the id there
        index_.remove(ids_, index);
        ids_.pop_back();
        throw;
    }
    if (window != nullptr) windows_.import_column(column, *window);  // checked before: cannot throw
    for (std::vector<double>* v : {&size_, &shares_, &reservation_, &limit_, &ceiling_}) v->push_back(0.0);
    column_.push_back(column);
    saturated_.push_back(saturated ? 1 : 0);
    ids_.push_back(id);
    store(index, p);
    reservation_sum_.append(p.reservation);
    ++next_id_;
    return id;
}

VmState Reallocator::export_vm(std::int64_t vm) const {
    const std::size_t index = index_of(vm);
    VmState state;
    state.size = size_[index];
    state.shares = static_cast<std::int64_t>(shares_[index]);
    state.reservation = reservation_[index];
    state.limit = limit_[index];
    state.saturated = saturated_[index] != 0;
    state.window = windows_.export_column(column_[index]);
    return state;
}

std::int64_t Reallocator::import_vm(const VmState& state) {
    const Params p = check_params(state.size, state.shares, state.reservation, state.limit);
    windows_.check_import(state.window);
    check_admission(size(), p.reservation);
    return admit(p, &state.window, state.saturated);
}

void Reallocator::set_vm(std::int64_t vm, double size, std::int64_t shares, double reservation, double limit) {
    const std::size_t index = index_of(vm);
    const Params p = check_params(size, shares, reservation, limit);
    check_admission(index, p.reservation);
    if (p.reservation != reservation_[index]) reservation_sum_.invalidate();
    store(index, p);
}

void Reallocator::remove_vm(std::int64_t vm) {
    const std::size_t index = index_of(vm);
    reservation_sum_.invalidate();
    index_.remove(ids_, index);
    ids_.erase(ids_.begin() + index);
    size_.erase(size_.begin() + index);
    shares_.erase(shares_.begin() + index);
    reservation_.erase(reservation_.begin() + index);
    limit_.erase(limit_.begin() + index);
    ceiling_.erase(ceiling_.begin() + index);
    windows_.remove(column_[index]);
    column_.erase(column_.begin() + index);
    saturated_.erase(saturated_.begin() + index);
    dirty_ = true;
    base_dirty_ = true;
}

void Reallocator::validate_usage(const double* usage, std::size_t count) const {
    const std::size_t n = size();
    for (std::size_t k = 0; k < count; ++k) {
        const double u = usage[k];
        if (!std::isfinite(u) || u < 0.0) {
            if (n > 0 && count > n) {
                throw std::invalid_argument(message("usage[", k / n, ", ", k % n, "] = ", format_number(u),
                                                    ": usage must be finite and >= 0"));
            }
            throw std::invalid_argument(
                message("usage[", k, "] = ", format_number(u), ": usage must be finite and >= 0"));
        }
    }
}

void Reallocator::refresh() {
    if (!dirty_) return;
    const std::size_t n = size();
    FairShareInput in;
    in.n = n;
    in.shares = shares_.data();

    if (base_dirty_) {
        base_.resize(n);
        in.capacity = capacity_;
        in.demand = size_.data();
        in.reservation = reservation_.data();
        in.limit = limit_.data();
        solver_.solve(in, base_.data());
        base_dirty_ = false;
    }

    // One pass over the windows for both the load (window means summed in VM
    // order, then divided once by C) and the estimates.
    const double factor = 1.0 + headroom_;
    double mean_sum = 0.0;
    bool any_sample = false;
    estimates_.resize(n);
    windows_.estimate(column_.data(), n, estimates_.data());  // the statistic of each window
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t column = column_[i];
        if (windows_.count(column) == 0) {
            estimates_[i] = base_[i];  // nothing known yet: assume it needs its base
            continue;
        }
        any_sample = true;
        mean_sum += windows_.mean(column);
        double e = estimates_[i] * factor;
        e = std::min(ceiling_[i], std::max(0.0, e));
        if (saturated_[i]) e = std::max(e, base_[i]);
        estimates_[i] = e;
    }
    load_ = mean_sum / capacity_;
    lending_ = any_sample && load_ < threshold_;

    entitlements_.resize(n);
    if (!lending_) {
        std::copy(base_.begin(), base_.end(), entitlements_.begin());
        dirty_ = false;
        return;
    }

    // Pass 1: every VM by its estimate, never below its reservation. When the
    // demands u_i = min(max(e_i, r_i), l_i) fit (sum in VM order <= C, the
    // kernel's own first test) pass 1 is p = u, computed here directly; when
    // they do not, pass 1 hands out all of C and, in exact arithmetic, nothing
    // is left for pass 2, so x = p (dividing the rounding residue of C - sum(p)
    // would cost a second full division per tick for nothing).
    demand_.resize(n);
    first_.resize(n);
    double wanted = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        demand_[i] = std::max(estimates_[i], reservation_[i]);
        first_[i] = std::min(demand_[i], limit_[i]);
        wanted += first_[i];
    }
    if (!(wanted <= capacity_)) {
        in.capacity = capacity_;
        in.demand = demand_.data();
        in.reservation = reservation_.data();
        in.limit = limit_.data();
        first_pass_.solve(in, entitlements_.data());
        dirty_ = false;
        return;
    }
    const double left = capacity_ - wanted;
    if (!(left > 0.0)) {
        std::copy(first_.begin(), first_.end(), entitlements_.begin());
        dirty_ = false;
        return;
    }

    // Pass 2: the rest by shares, up to each ceiling (work conserving).
    // c_i - p_i >= 0 exactly since p_i <= c_i.
    second_.resize(n);
    for (std::size_t i = 0; i < n; ++i) demand_[i] = ceiling_[i] - first_[i];
    in.capacity = left;
    in.demand = demand_.data();
    in.reservation = nullptr;
    in.limit = nullptr;
    second_pass_.solve(in, second_.data());
    // min() absorbs the rounding of p + (c - p), which may exceed c by an ulp.
    for (std::size_t i = 0; i < n; ++i) entitlements_[i] = std::min(ceiling_[i], first_[i] + second_[i]);
    dirty_ = false;
}

void Reallocator::push_tick(const double* usage, bool cap_at_entitlement) {
    refresh();  // the entitlements in force during this tick
    const std::size_t n = size();
    samples_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double x = entitlements_[i];
        const double u = cap_at_entitlement ? std::min(usage[i], x) : usage[i];
        saturated_[i] = u >= x * kSaturation;
        samples_[i] = u;
    }
    windows_.push(column_.data(), samples_.data(), n);
    dirty_ = true;
}

void Reallocator::observe(const double* usage) {
    validate_usage(usage, size());
    push_tick(usage, false);
}

void Reallocator::observe_many(const double* usage, std::size_t ticks, bool cap_at_entitlement, double* out,
                               Interrupt* interrupt) {
    const std::size_t n = size();
    validate_usage(usage, ticks * n);
    // Tick boundaries are decision boundaries: every invariant holds there.
    // The poll reads the clock once every 1024 calls, so a boundary counts as
    // one call per 256 VMs: a large host is polled every few ticks, a small
    // one every thousand or so (each then lasts microseconds).
    InterruptPoll poll(interrupt);
    const std::size_t polls_per_tick = 1 + n / 256;
    for (std::size_t t = 0; t < ticks; ++t) {
        for (std::size_t k = 0; k < polls_per_tick; ++k) poll();
        push_tick(usage + t * n, cap_at_entitlement);
        refresh();
        std::copy(entitlements_.begin(), entitlements_.end(), out + t * n);
    }
}

// ---- checkpoints -------------------------------------------------------------
//
// "Reallocator" format 1: one string holding the state (a "ReallocatorState"
// record, below) and its FNV-1a hash, so that corrupt bytes are refused
// rather than misread. Cached results are not stored: they are a pure
// function of what is, and are recomputed on the first call.

namespace {

constexpr std::uint32_t kCheckpointFormat = 1;
constexpr std::uint32_t kStateFormat = 2;  // 2: percentile rank bands

[[noreturn]] void corrupt(const char* what) {
    throw std::invalid_argument(message("corrupt vsched checkpoint of a Reallocator: ", what));
}

}  // namespace

std::string Reallocator::save() const {
    StateWriter state("ReallocatorState", kStateFormat);
    state.put(capacity_);
    state.put(threshold_);
    state.put(percentile_);
    state.put(headroom_);
    state.put(next_id_);
    state.put_vector(ids_);
    state.put_vector(size_);
    state.put_vector(shares_);
    state.put_vector(reservation_);
    state.put_vector(limit_);
    state.put_vector(column_);
    state.put_vector(saturated_);
    windows_.save(state);
    state.put(first_pass_.level());
    state.put(second_pass_.level());
    StateWriter out("Reallocator", kCheckpointFormat);
    out.put_string(state.bytes());
    out.put(state_hash(state.bytes()));
    return out.take();
}

Reallocator Reallocator::restore(const std::string& bytes) {
    StateReader outer(bytes, "Reallocator", kCheckpointFormat);
    const std::string body = outer.get_string();
    const auto hash = outer.get<std::uint64_t>();
    outer.expect_end();
    if (hash != state_hash(body)) corrupt("its hash does not match");
    StateReader in(body, "ReallocatorState", kStateFormat);
    const auto capacity = in.get<double>();
    const auto threshold = in.get<double>();
    const auto percentile = in.get<double>();
    const auto headroom = in.get<double>();
    const auto next_id = in.get<std::int64_t>();
    auto ids = in.get_vector<std::int64_t>();
    auto size = in.get_vector<double>();
    auto shares = in.get_vector<double>();
    auto reservation = in.get_vector<double>();
    auto limit = in.get_vector<double>();
    auto column = in.get_vector<std::uint32_t>();
    auto saturated = in.get_vector<std::uint8_t>();
    UsageWindows windows = UsageWindows::load(in);
    const auto first_level = in.get<double>();
    const auto second_level = in.get<double>();
    in.expect_end();

    // The constructor checks the configuration; every VM is checked as add_vm
    // would check it, in VM order, so the restored object keeps every rule.
    const WindowConfig& config = windows.config();
    Reallocator r(capacity, static_cast<std::int64_t>(config.window), threshold, windows.estimator_name(),
                  percentile, headroom);
    if (config.quantile != r.windows_.config().quantile || config.alpha != r.windows_.config().alpha) {
        corrupt("window configuration");
    }
    const std::size_t n = ids.size();
    if (size.size() != n || shares.size() != n || reservation.size() != n || limit.size() != n ||
        column.size() != n || saturated.size() != n) {
        corrupt("per-VM arrays of different lengths");
    }
    std::vector<std::uint8_t> taken(windows.columns_used(), 0);
    for (const std::uint32_t c : windows.free_columns()) taken[c] = 1;
    for (std::size_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || ids[i] >= next_id || (i > 0 && ids[i] <= ids[i - 1])) corrupt("VM ids");
        if (column[i] >= taken.size() || taken[column[i]]) corrupt("window columns");
        taken[column[i]] = 1;
        if (shares[i] != std::floor(shares[i])) corrupt("shares");
        const Params p = r.check_params(size[i], static_cast<std::int64_t>(shares[i]), reservation[i], limit[i]);
        r.check_admission(r.size(), p.reservation);
        r.ids_.push_back(ids[i]);
        r.index_.reserve(r.ids_, r.ids_.size());
        r.index_.insert(ids[i], i);
        for (std::vector<double>* v : {&r.size_, &r.shares_, &r.reservation_, &r.limit_, &r.ceiling_}) {
            v->push_back(0.0);
        }
        r.store(i, p);
        r.reservation_sum_.append(p.reservation);
    }
    if (std::find(taken.begin(), taken.end(), std::uint8_t{0}) != taken.end()) corrupt("window columns");
    if (!(std::isfinite(first_level) && std::isfinite(second_level))) corrupt("warm levels");
    r.next_id_ = next_id;
    r.column_ = std::move(column);
    r.saturated_ = std::move(saturated);
    r.windows_ = std::move(windows);
    r.first_pass_.set_level(first_level);
    r.second_pass_.set_level(second_level);
    r.dirty_ = true;
    r.base_dirty_ = true;
    return r;
}

const std::vector<double>& Reallocator::entitlements() {
    refresh();
    return entitlements_;
}

const std::vector<double>& Reallocator::base() {
    refresh();
    return base_;
}

const std::vector<double>& Reallocator::estimates() {
    refresh();
    return estimates_;
}

double Reallocator::load() {
    refresh();
    return load_;
}

bool Reallocator::lending() {
    refresh();
    return lending_;
}

}  // namespace vsched
