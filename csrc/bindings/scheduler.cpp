// Binds vsched::CpuScheduler as vsched._core.CpuScheduler. Types and shapes
// are checked by the Python wrapper (src/vsched/scheduler.py); values here.
// Every method holds the object's ExclusiveUse scope (a concurrent call
// raises InUseError); run() releases the GIL and stops on Ctrl-C.
#include "vsched/errors.hpp"
#include "vsched/scheduler.hpp"

#include <stdexcept>
#include <vector>

#include "bindings.hpp"

namespace vsched::bindings {

namespace {

constexpr const char* kName = "CpuScheduler";
using Scope = vsched::ExclusiveUse::Scope;

const char* const kColumns[] = {"run_ns", "ready_ns", "limited_ns", "wait_ns", "pending_ns", "switches"};

std::vector<VcpuRow> rows_of(const CpuScheduler& s) {
    std::vector<VcpuRow> rows(s.live_vcpus());
    s.vcpu_stats(rows.data());
    return rows;
}

std::int64_t column(const VcpuRow& r, int c) {
    switch (c) {
        case 0: return r.run_ns;
        case 1: return r.ready_ns;
        case 2: return r.limited_ns;
        case 3: return r.wait_ns;
        case 4: return r.pending_ns;
        default: return r.switches;
    }
}

py::dict vcpu_stats_py(const CpuScheduler& s) {
    Scope scope(s, kName);
    const std::vector<VcpuRow> rows = rows_of(s);
    const auto n = static_cast<py::ssize_t>(rows.size());
    py::dict out;
    py::array_t<std::int64_t> vm(n), vcpu(n);
    for (py::ssize_t i = 0; i < n; ++i) {
        vm.mutable_data()[i] = rows[i].vm;
        vcpu.mutable_data()[i] = rows[i].vcpu;
    }
    out["vm"] = vm;
    out["vcpu"] = vcpu;
    for (int c = 0; c < 6; ++c) {
        py::array_t<std::int64_t> col(n);
        for (py::ssize_t i = 0; i < n; ++i) col.mutable_data()[i] = column(rows[i], c);
        out[kColumns[c]] = col;
    }
    return out;
}

// One row per live VM: sums over its vCPUs, each saturating at 2**63 - 1
// (all values are >= 0): pending_ns is FOREVER for a CPU-bound vCPU or more
// queued work than int64 counts; a time column saturates only past about
// 2**63 / vcpus ns (104 days with 1024 vCPUs). docs/engines/scheduler.md, "stats".
py::dict stats_py(const CpuScheduler& s) {
    Scope scope(s, kName);
    const std::vector<VcpuRow> rows = rows_of(s);
    // One row per live VM, written in place: sized once (no vector growth per call).
    const auto n = static_cast<py::ssize_t>(s.live_vms());
    py::array_t<std::int64_t> vm_ids(n);
    py::array_t<std::int64_t> sums[6] = {py::array_t<std::int64_t>(n), py::array_t<std::int64_t>(n),
                                         py::array_t<std::int64_t>(n), py::array_t<std::int64_t>(n),
                                         py::array_t<std::int64_t>(n), py::array_t<std::int64_t>(n)};
    std::int64_t* ids = vm_ids.mutable_data();
    std::int64_t* cols[6];
    for (int c = 0; c < 6; ++c) cols[c] = sums[c].mutable_data();
    py::ssize_t row = -1;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (i == 0 || rows[i].vm != rows[i - 1].vm) {
            if (++row >= n) throw std::logic_error("CpuScheduler.stats: more VMs in the rows than live");
            ids[row] = rows[i].vm;
            for (int c = 0; c < 6; ++c) cols[c][row] = 0;
        }
        for (int c = 0; c < 6; ++c) {
            std::int64_t& total = cols[c][row];
            const std::int64_t x = column(rows[i], c);
            if (x == kForever || total > kForever - x) {
                total = kForever;
            } else {
                total += x;
            }
        }
    }
    if (row + 1 != n) throw std::logic_error("CpuScheduler.stats: fewer VMs in the rows than live");
    py::dict out;
    out["vm"] = vm_ids;
    for (int c = 0; c < 6; ++c) out[kColumns[c]] = sums[c];
    return out;
}

// The GIL is held throughout add_work and set_limits: nothing changes the
// arrays between validation and use.
void add_work_py(CpuScheduler& s, const Int64Array& vm, const Int64Array& vcpu, const Int64Array& work_ns) {
    Scope scope(s, kName);
    require_vector(vm, "vm");
    const py::ssize_t n = vm.shape(0);
    require_vector(vcpu, "vcpu", n);
    require_vector(work_ns, "work_ns", n);
    s.add_work(static_cast<std::size_t>(n), vm.data(), vcpu.data(), work_ns.data());
}

void set_limits_py(CpuScheduler& s, const Int64Array& vms, const DoubleArray& limits) {
    Scope scope(s, kName);
    require_vector(vms, "vms");
    require_vector(limits, "limits", vms.shape(0));
    s.set_limits(static_cast<std::size_t>(vms.shape(0)), vms.data(), limits.data());
}

void run_py(CpuScheduler& s, std::int64_t duration_ns) {
    Scope scope(s, kName);
    PythonSignals signals;  // Ctrl-C stops the run at a decision instant
    // Safe without the GIL: run reads no Python object and writes only the
    // engine, which the scope keeps to this thread.
    py::gil_scoped_release release;
    s.run(duration_ns, &signals);
}

// counters: (vcpus x 6) int64 in VcpuCarry order (vsched._sched_vm_state.COUNTERS).
std::int64_t import_vm_py(CpuScheduler& s, std::int64_t vcpus, std::int64_t shares, double reservation,
                          double limit, const Int64Array& counters) {
    Scope scope(s, kName);
    if (counters.ndim() != 2 || counters.shape(1) != 6 || counters.shape(0) != vcpus) {
        throw std::invalid_argument(message("counters must have shape (", vcpus, ", 6)"));
    }
    static_assert(sizeof(VcpuCarry) == 6 * sizeof(std::int64_t), "VcpuCarry is six int64 columns");
    std::vector<VcpuCarry> carry(static_cast<std::size_t>(vcpus));
    for (std::int64_t k = 0; k < vcpus; ++k) {
        const std::int64_t* row = counters.data() + 6 * k;
        carry[static_cast<std::size_t>(k)] = {row[0], row[1], row[2], row[3], row[4], row[5]};
    }
    return s.import_vm({vcpus, shares, reservation, limit}, carry.data());
}

py::tuple vm_params_py(const CpuScheduler& s, std::int64_t vm) {
    Scope scope(s, kName);
    const SchedVmParams p = s.vm_params(vm);
    return py::make_tuple(p.vcpus, p.shares, p.reservation, p.limit);
}

}  // namespace

void bind_scheduler(py::module_& m) {
    py::class_<CpuScheduler>(m, "CpuScheduler")
        .def(py::init<std::int64_t, std::int64_t, bool>(), py::arg("pcpus"), py::arg("slice_ns"),
             py::arg("strict_reservations") = true)
        .def_property_readonly("strict_reservations", guarded(&CpuScheduler::strict_reservations, kName))
        .def_property_readonly("now", guarded(&CpuScheduler::now, kName))
        .def_property_readonly("pcpus", guarded(&CpuScheduler::pcpus, kName))
        .def_property_readonly("slice_ns", guarded(&CpuScheduler::slice_ns, kName))
        .def_property_readonly("decisions", guarded(&CpuScheduler::decisions, kName))
        .def("add_vm", guarded(&CpuScheduler::add_vm, kName), py::arg("vcpus"), py::arg("shares"),
             py::arg("reservation"), py::arg("limit"))
        .def("set_vm", guarded(&CpuScheduler::set_vm, kName), py::arg("vm"), py::arg("shares"),
             py::arg("reservation"), py::arg("limit"))
        .def("remove_vm", guarded(&CpuScheduler::remove_vm, kName), py::arg("vm"))
        .def("add_work", &add_work_py, py::arg("vm"), py::arg("vcpu"), py::arg("work_ns"))
        .def("clear_work", guarded(&CpuScheduler::clear_work, kName), py::arg("vm"), py::arg("vcpu"))
        .def("clear_all_work", guarded(&CpuScheduler::clear_all_work, kName))
        .def("set_limits", &set_limits_py, py::arg("vms"), py::arg("limits"))
        .def("run", &run_py, py::arg("duration_ns"))
        .def("stats", &stats_py)
        .def("vcpu_stats", &vcpu_stats_py)
        .def("memory_bytes", guarded(&CpuScheduler::memory_bytes, kName))
        .def("_recompute_counts",
             [](const CpuScheduler& s) {
                 Scope scope(s, kName);
                 return py::make_tuple(s.full_recomputes(), s.incremental_recomputes());
             })
        .def("_force_full_recompute",
             [](CpuScheduler& s, bool on) {
                 Scope scope(s, kName);
                 s.set_force_full_recompute(on);
             },
             py::arg("on"))
        .def("vm_params", &vm_params_py, py::arg("vm"))
        .def("import_vm", &import_vm_py, py::arg("vcpus"), py::arg("shares"), py::arg("reservation"),
             py::arg("limit"), py::arg("counters"))
        .def("_save",
             [](const CpuScheduler& s) {
                 Scope scope(s, kName);
                 return to_bytes(s.save());
             })
        .def_static("_load", [](const py::bytes& state) { return CpuScheduler::load(from_bytes(state)); },
                    py::arg("state"));
    m.attr("FOREVER") = kForever;
}

}  // namespace vsched::bindings
