// Checkpoints of the CPU scheduler (docs/engines/scheduler.md, "State,
// threads, Ctrl-C"): the whole state as one flat, versioned byte string
// (vsched/state_io.hpp), and back.
//
// "CpuScheduler" format 1 holds a "CpuSchedulerState" body and its hash
// (state_hash), so that damaged bytes are refused rather than misread. The
// body keeps everything a later decision reads, the priority queues lane by
// lane exactly as they are (so the restored object pops the same entries in
// the same order), and drops only scratch buffers and caches that are a pure
// function of the rest (the cached reservation sum is summed again on first
// use, which gives the same value). Loading checks every stored index and
// count, so that a consistent-looking but wrong checkpoint is a ValueError
// rather than a crash later.
#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "vsched/errors.hpp"
#include "vsched/scheduler.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

namespace {

constexpr std::uint32_t kCheckpointFormat = 1;
constexpr std::uint32_t kStateFormat = 1;

[[noreturn]] void corrupt(const char* what) {
    throw std::invalid_argument(message("corrupt vsched checkpoint of a CpuScheduler: ", what));
}

// Every field of a VM (its core record m, limit bucket b and reservation
// account a) but its parked list, in checkpoint order (format 1's order, from
// when the three were one record).
template <class Vm, class Bucket, class Account, class F>
void vm_fields(Vm& m, Bucket& b, Account& a, F&& f) {
    f(m.id), f(m.first), f(m.vcpus), f(m.shares), f(m.reservation), f(m.limit), f(m.demand), f(m.alive), f(b.bound);
    f(m.request), f(b.limit_u), f(b.credit), f(b.credit_time), f(b.granted), f(b.held_until);
    f(b.granted_end_sum), f(m.running), f(a.res_u), f(a.lag), f(a.time), f(a.listed);
    f(a.in_urgent), f(a.version);
}

// Every field of a vCPU record, in checkpoint order.
template <class Vcpu, class F>
void vcpu_fields(Vcpu& v, F&& f) {
    f(v.pending), f(v.since), f(v.run_ns), f(v.ready_ns), f(v.limited_ns), f(v.wait_ns), f(v.switches);
    f(v.lag), f(v.lag_time), f(v.rate), f(v.eligible), f(v.deadline), f(v.run_start), f(v.run_end);
    f(v.stopped_at), f(v.vm), f(v.index), f(v.gen), f(v.state), f(v.granted), f(v.borrowed), f(v.reserved);
}

struct Put {
    StateWriter& out;
    template <class T>
    void operator()(const T& x) const {
        if constexpr (std::is_same_v<T, bool> || std::is_enum_v<T>) {
            out.put(static_cast<std::uint8_t>(x));
        } else {
            out.put(x);
        }
    }
};

// Reads a field; bools must be 0 or 1, enums at most `max_enum`.
struct Get {
    StateReader& in;
    std::uint8_t max_enum;
    template <class T>
    void operator()(T& x) const {
        if constexpr (std::is_same_v<T, bool>) {
            const auto b = in.get<std::uint8_t>();
            if (b > 1) corrupt("a flag");
            x = b != 0;
        } else if constexpr (std::is_enum_v<T>) {
            const auto e = in.get<std::uint8_t>();
            if (e > max_enum) corrupt("a vCPU state");
            x = static_cast<T>(e);
        } else {
            x = in.get<T>();
        }
    }
};

}  // namespace

std::string CpuScheduler::save() const {
    StateWriter s("CpuSchedulerState", kStateFormat);
    s.put(pcpus_);
    s.put(slice_);
    s.put(static_cast<std::uint8_t>(strict_reservations_));
    s.put(now_);
    s.put(running_);
    s.put(borrowed_count_);
    s.put(decisions_);
    s.put(static_cast<std::uint8_t>(dirty_));
    s.put(next_id_);
    s.put(static_cast<std::uint64_t>(vms_.size()));
    for (std::size_t i = 0; i < vms_.size(); ++i) {
        vm_fields(vms_[i], limits_[i], res_[i], Put{s});
        s.put_vector(limits_[i].parked);
    }
    s.put(static_cast<std::uint64_t>(vcpus_.size()));
    for (const Vcpu& v : vcpus_) vcpu_fields(v, Put{s});
    eligible_.save(s);
    waiting_.save(s);
    busy_.save(s);
    releases_.save(s);
    {
        // Rule 6's two event queues as one (format 1 has one; what an entry means is
        // not stored, so a restored object keeps them all in `events`).
        auto events = res_.events;
        res_.protect_events.for_each([&](const Key& e) { events.push(e); });
        events.save(s);
    }
    s.put_vector(borrowed_.entries());
    s.put_vector(res_.listed_vms);
    s.put(static_cast<std::uint64_t>(
        std::count_if(res_.groups.begin(), res_.groups.end(), [](const auto& g) { return g.live; })));
    for (const auto& g : res_.groups) {
        if (!g.live) continue;  // an emptied group waiting for reuse
        s.put(g.slope);
        s.put(static_cast<std::uint64_t>(g.heap.size()));
        for (const auto& e : g.heap.sorted_entries()) {
            s.put(e.intercept);
            s.put(e.vm);
            s.put(e.version);
        }
    }
    s.put(static_cast<std::uint64_t>(res_.urgent_entries));
    s.put(res_.active);
    s.put(solver_.level());
    StateWriter out("CpuScheduler", kCheckpointFormat);
    out.put_string(s.bytes());
    out.put(state_hash(s.bytes()));
    return out.take();
}

CpuScheduler CpuScheduler::load(const std::string& bytes) {
    StateReader outer(bytes, "CpuScheduler", kCheckpointFormat);
    const std::string body = outer.get_string();
    const auto hash = outer.get<std::uint64_t>();
    outer.expect_end();
    if (hash != state_hash(body)) corrupt("its hash does not match");
    StateReader in(body, "CpuSchedulerState", kStateFormat);
    const auto pcpus = in.get<std::int64_t>();
    const auto slice = in.get<std::int64_t>();
    const auto strict = in.get<std::uint8_t>();
    if (strict > 1) corrupt("a flag");
    CpuScheduler s(pcpus, slice, strict != 0);  // checks the configuration
    s.now_ = in.get<std::int64_t>();
    s.running_ = in.get<std::int64_t>();
    s.borrowed_count_ = in.get<std::int64_t>();
    s.decisions_ = in.get<std::int64_t>();
    const auto dirty = in.get<std::uint8_t>();
    if (dirty > 1) corrupt("a flag");
    s.dirty_ = dirty != 0;
    s.next_id_ = in.get<std::int64_t>();
    const auto vm_count = in.get<std::uint64_t>();
    if (vm_count > body.size()) corrupt("VM count");  // each record takes bytes
    s.vms_.resize(static_cast<std::size_t>(vm_count));
    s.limits_.accounts().resize(s.vms_.size());
    s.res_.accounts().resize(s.vms_.size());
    for (std::size_t i = 0; i < s.vms_.size(); ++i) {
        vm_fields(s.vms_[i], s.limits_[i], s.res_[i], Get{in, 0});
        s.limits_[i].parked = in.get_vector<std::uint64_t>();
    }
    const auto vcpu_count = in.get<std::uint64_t>();
    if (vcpu_count > body.size()) corrupt("vCPU count");
    s.vcpus_.resize(static_cast<std::size_t>(vcpu_count));
    for (Vcpu& v : s.vcpus_) vcpu_fields(v, Get{in, kRunning});
    s.eligible_.load(in);
    s.waiting_.load(in);
    s.busy_.load(in);
    s.releases_.load(in);
    s.res_.events.load(in);
    if (!s.borrowed_.load(in.get_vector<Entry>())) corrupt("borrowed runs");
    s.res_.listed_vms = in.get_vector<std::uint32_t>();
    const auto groups = in.get<std::uint64_t>();
    if (groups > body.size()) corrupt("urgent groups");
    s.res_.groups.resize(static_cast<std::size_t>(groups));
    for (auto& g : s.res_.groups) {
        g.slope = in.get<std::int64_t>();
        const auto n = in.get<std::uint64_t>();
        if (n > body.size()) corrupt("urgent entries");
        std::vector<sched::ReservationAccounts::UrgentEntry> entries(static_cast<std::size_t>(n));
        for (auto& e : entries) {
            e.intercept = in.get<__int128>();
            e.vm = in.get<std::uint32_t>();
            e.version = in.get<std::uint32_t>();
        }
        if (!g.heap.load(entries)) corrupt("urgent groups");
    }
    s.res_.urgent_entries = static_cast<std::size_t>(in.get<std::uint64_t>());
    s.res_.active = in.get<std::int64_t>();
    s.solver_.set_level(in.get<double>());
    in.expect_end();
    s.reserved_sum_.invalidate();
    s.scratch_pending_.assign(s.vcpus_.size(), -1);
    s.validate_loaded();
    s.res_.rebuild_urgent_index(s.now_);
    return s;
}

// Every index a later call follows must point inside its array, and the
// counters kept beside the records must agree with them.
void CpuScheduler::validate_loaded() {
    const std::size_t vms = vms_.size(), vcpus = vcpus_.size();
    if (now_ < 0 || decisions_ < 0) corrupt("clock");
    live_vms_ = 0;
    live_vcpus_ = 0;
    dead_vms_ = 0;
    dead_vcpus_ = 0;
    ids_.resize(vms);
    std::int64_t running = 0, borrowed = 0, reserved_active = 0;
    for (std::size_t i = 0; i < vms; ++i) {
        Vm& m = vms_[i];
        if (m.vcpus < 1 || m.first > vcpus || m.vcpus > vcpus - m.first) corrupt("VM vCPU range");
        for (const std::uint64_t p : limits_[i].parked) {
            if ((p >> 32) >= vcpus) corrupt("parked vCPU");
        }
        // Slot order is id order (scheduler_slots.cpp).
        if (m.id < 0 || m.id >= next_id_ || (i > 0 && m.id <= ids_[i - 1])) corrupt("VM ids");
        ids_[i] = m.id;
        if (!m.alive) {
            ++dead_vms_;
            dead_vcpus_ += m.vcpus;
            continue;
        }
        ++live_vms_;
        live_vcpus_ += m.vcpus;
        reserved_active += res_[i].res_u > 0;
        if (!(m.reservation >= 0.0 && m.reservation <= static_cast<double>(m.vcpus)) || !(m.limit >= m.reservation) ||
            m.shares < 1) {
            corrupt("VM parameters");
        }
        if (m.request < 0 || m.request > slice_) corrupt("VM request");
        std::int64_t demand = 0, vm_running = 0;
        for (std::uint32_t k = 0; k < m.vcpus; ++k) {
            const Vcpu& v = vcpus_[m.first + k];
            if (v.vm != i || v.index != k) corrupt("vCPU owner");
            demand += v.state != kWait;
            vm_running += v.state == kRunning;
            running += v.state == kRunning;
            borrowed += v.state == kRunning && v.borrowed;
        }
        if (demand != m.demand || vm_running != m.running) corrupt("VM counters");
    }
    for (const Vcpu& v : vcpus_) {
        if (v.vm >= vms) corrupt("vCPU owner");
    }
    if (running != running_ || running_ > pcpus_ || borrowed != borrowed_count_ || reserved_active != res_.active) {
        corrupt("counters");
    }
    auto vcpu_slot = [&](const auto& e) {
        if (e.slot >= vcpus) corrupt("queued vCPU");
    };
    auto vm_slot = [&](const auto& e) {
        if (e.slot >= vms) corrupt("queued VM");
    };
    eligible_.for_each(vcpu_slot);
    waiting_.for_each(vcpu_slot);
    busy_.for_each(vcpu_slot);
    releases_.for_each(vm_slot);
    res_.events.for_each(vm_slot);
    res_.protect_events.for_each(vm_slot);
    for (const Entry& e : borrowed_.entries()) vcpu_slot(e);
    for (const std::uint32_t id : res_.listed_vms) {
        if (id >= vms) corrupt("reserved VMs");
    }
    std::size_t entries = 0;
    for (const auto& g : res_.groups) {
        if (g.heap.empty()) corrupt("urgent groups");
        bool bad_vm = false;
        g.heap.for_each([&](const sched::ReservationAccounts::UrgentEntry& e) { bad_vm = bad_vm || e.vm >= vms; });
        if (bad_vm) corrupt("urgent VM");
        entries += g.heap.size();
    }
    if (entries != res_.urgent_entries) corrupt("urgent entries");
}

}  // namespace vsched
