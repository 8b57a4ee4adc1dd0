// vsched._core.Reallocator: numpy in and out; validation with the GIL held,
// batch loops without it. Every method holds the object's ExclusiveUse scope
// (a concurrent call raises InUseError). The typed wrapper is
// src/vsched/reallocation.py.
#include "vsched/errors.hpp"
#include "vsched/reallocator.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "bindings.hpp"

namespace vsched::bindings {

namespace {

constexpr const char* kName = "Reallocator";
using Scope = vsched::ExclusiveUse::Scope;

py::array_t<double> copy_out(const std::vector<double>& values) {
    py::array_t<double> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

double limit_or_inf(const std::optional<double>& limit) {
    return limit ? *limit : std::numeric_limits<double>::infinity();
}

void observe_py(Reallocator& self, const DoubleArray& usage) {
    Scope scope(self, kName);
    require_vector(usage, "usage", static_cast<py::ssize_t>(self.size()));
    self.observe(usage.data());  // the GIL is held throughout: nothing changes `usage` meanwhile
}

py::array_t<double> observe_many_py(Reallocator& self, const DoubleArray& usage, bool cap_at_entitlement) {
    Scope scope(self, kName);
    const auto n = static_cast<py::ssize_t>(self.size());
    if (usage.ndim() != 2) {
        throw std::invalid_argument(message("usage must be 2-D (ticks x VMs), got ", usage.ndim(), " dimensions"));
    }
    if (usage.shape(1) != n) {
        throw std::invalid_argument(
            message("usage has ", usage.shape(1), " columns, expected ", n, " (one per VM)"));
    }
    const py::ssize_t ticks = usage.shape(0);
    // What is validated is what is used: the batch is copied into memory this
    // call owns (with the GIL held, so nothing changes it meanwhile) and the
    // copy is validated, so a thread that writes into the caller's array while
    // the GIL is released below cannot reach the engine.
    const std::vector<double> batch(usage.data(), usage.data() + ticks * n);
    self.validate_usage(batch.data(), batch.size());
    py::array_t<double> out({ticks, n});
    double* out_data = out.mutable_data();
    PythonSignals signals;  // Ctrl-C stops the replay at a tick boundary
    {
        // Safe without the GIL: the loop reads only `batch` and writes only
        // the engine (which the scope keeps to this thread) and `out`, which
        // no other thread has seen yet.
        py::gil_scoped_release release;
        self.observe_many(batch.data(), static_cast<std::size_t>(ticks), cap_at_entitlement, out_data, &signals);
    }
    return out;
}

py::dict export_vm_py(const Reallocator& self, std::int64_t vm) {
    Scope scope(self, kName);
    const VmState state = self.export_vm(vm);
    const ColumnState& w = state.window;
    py::dict fields;
    for (const EstimatorField& field : w.fields) {
        if (field.scalar) {
            fields[py::str(field.name)] = field.values.at(0);
        } else {
            fields[py::str(field.name)] = py::cast(field.values);
        }
    }
    py::dict out;
    out["vsched_vm"] = 1;
    out["size"] = state.size;
    out["shares"] = state.shares;
    out["reservation"] = state.reservation;
    out["limit"] = std::isinf(state.limit) ? py::object(py::none()) : py::object(py::float_(state.limit));
    out["samples"] = py::cast(w.samples);
    out["window_sum"] = w.sum;
    out["samples_seen"] = w.seen;
    out["window"] = w.window;
    out["saturated"] = state.saturated;
    out["estimator"] = w.estimator;
    out["estimator_state"] = fields;
    return out;
}

// Arguments already converted by the wrapper (vsched.reallocation.vm_state_args).
std::int64_t import_vm_py(Reallocator& self, double size, std::int64_t shares, double reservation,
                          std::optional<double> limit, const DoubleArray& samples, double window_sum,
                          std::uint64_t samples_seen, std::int64_t window, bool saturated,
                          const std::string& estimator, const std::map<std::string, std::vector<double>>& fields) {
    Scope scope(self, kName);
    require_vector(samples, "samples");
    VmState state;
    state.size = size;
    state.shares = shares;
    state.reservation = reservation;
    state.limit = limit_or_inf(limit);
    state.saturated = saturated;
    state.window.samples.assign(samples.data(), samples.data() + samples.size());
    state.window.sum = window_sum;
    state.window.seen = samples_seen;
    state.window.window = window < 1 ? 0 : static_cast<std::size_t>(window);  // 0 is refused by the core
    state.window.estimator = estimator;
    for (const auto& [name, values] : fields) state.window.fields.push_back({name, values, values.size() == 1});
    return self.import_vm(state);
}

}  // namespace

void bind_reallocator(py::module_& m) {
    py::tuple names(estimator_names().size());
    for (std::size_t i = 0; i < estimator_names().size(); ++i) names[i] = py::str(estimator_names()[i]);
    m.attr("ESTIMATORS") = names;

    py::class_<Reallocator>(m, "Reallocator")
        .def(py::init<double, std::int64_t, double, const std::string&, double, double>(), py::arg("capacity"),
             py::arg("window"), py::arg("threshold"), py::arg("estimator"), py::arg("percentile"),
             py::arg("headroom"))
        .def(
            "add_vm",
            [](Reallocator& self, double size, std::int64_t shares, double reservation, std::optional<double> limit) {
                Scope scope(self, kName);
                return self.add_vm(size, shares, reservation, limit_or_inf(limit));
            },
            py::arg("size"), py::arg("shares"), py::arg("reservation"), py::arg("limit"))
        .def(
            "set_vm",
            [](Reallocator& self, std::int64_t vm, double size, std::int64_t shares, double reservation,
               std::optional<double> limit) {
                Scope scope(self, kName);
                self.set_vm(vm, size, shares, reservation, limit_or_inf(limit));
            },
            py::arg("vm"), py::arg("size"), py::arg("shares"), py::arg("reservation"), py::arg("limit"))
        .def("remove_vm", guarded(&Reallocator::remove_vm, kName), py::arg("vm"))
        .def("__len__", guarded(&Reallocator::size, kName))
        .def("vms",
             [](const Reallocator& self) {
                 Scope scope(self, kName);
                 return std::vector<std::int64_t>(self.vms());
             })
        .def("observe", &observe_py, py::arg("usage"))
        .def("observe_many", &observe_many_py, py::arg("usage"), py::arg("cap_at_entitlement"))
        .def("entitlements",
             [](Reallocator& self) {
                 Scope scope(self, kName);
                 return copy_out(self.entitlements());
             })
        .def("base",
             [](Reallocator& self) {
                 Scope scope(self, kName);
                 return copy_out(self.base());
             })
        .def("estimates",
             [](Reallocator& self) {
                 Scope scope(self, kName);
                 return copy_out(self.estimates());
             })
        .def("load", guarded(&Reallocator::load, kName))
        .def("lending", guarded(&Reallocator::lending, kName))
        .def("export_vm", &export_vm_py, py::arg("vm"))
        .def("import_vm", &import_vm_py, py::arg("size"), py::arg("shares"), py::arg("reservation"),
             py::arg("limit"), py::arg("samples"), py::arg("window_sum"), py::arg("samples_seen"),
             py::arg("window"), py::arg("saturated"), py::arg("estimator"), py::arg("estimator_state"))
        .def("_save",
             [](const Reallocator& self) {
                 Scope scope(self, kName);
                 return to_bytes(self.save());
             })
        .def_static("_load", [](const py::bytes& state) { return Reallocator::restore(from_bytes(state)); },
                    py::arg("state"))
        .def_property_readonly("capacity", guarded(&Reallocator::capacity, kName))
        .def_property_readonly("window", guarded(&Reallocator::window, kName))
        .def_property_readonly("threshold", guarded(&Reallocator::threshold, kName))
        .def_property_readonly("percentile", guarded(&Reallocator::percentile, kName))
        .def_property_readonly("headroom", guarded(&Reallocator::headroom, kName))
        .def_property_readonly("estimator", [](const Reallocator& self) {
            Scope scope(self, kName);
            return self.estimator();
        });
}

}  // namespace vsched::bindings
