// vsched._core.Reallocator: numpy in and out; validation with the GIL held,
// batch loops without it. The typed wrapper is src/vsched/reallocation.py.
#include "vsched/errors.hpp"
#include "vsched/reallocator.hpp"

#include <limits>
#include <vector>

#include "bindings.hpp"

namespace vsched::bindings {

namespace {

py::array_t<double> copy_out(const std::vector<double>& values) {
    py::array_t<double> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

double limit_or_inf(const std::optional<double>& limit) {
    return limit ? *limit : std::numeric_limits<double>::infinity();
}

void observe_py(Reallocator& self, const DoubleArray& usage) {
    require_vector(usage, "usage", static_cast<py::ssize_t>(self.size()));
    self.observe(usage.data());
}

py::array_t<double> observe_many_py(Reallocator& self, const DoubleArray& usage, bool cap_at_entitlement) {
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
    {
        // Safe without the GIL: the loop reads only `batch` and writes only
        // the engine and `out`, which no other thread has seen yet.
        py::gil_scoped_release release;
        self.observe_many(batch.data(), static_cast<std::size_t>(ticks), cap_at_entitlement, out_data);
    }
    return out;
}

}  // namespace

void bind_reallocator(py::module_& m) {
    py::class_<Reallocator>(m, "Reallocator")
        .def(py::init<double, std::int64_t, double, const std::string&, double, double>(), py::arg("capacity"),
             py::arg("window"), py::arg("threshold"), py::arg("estimator"), py::arg("percentile"),
             py::arg("headroom"))
        .def(
            "add_vm",
            [](Reallocator& self, double size, std::int64_t shares, double reservation,
               std::optional<double> limit) { return self.add_vm(size, shares, reservation, limit_or_inf(limit)); },
            py::arg("size"), py::arg("shares"), py::arg("reservation"), py::arg("limit"))
        .def(
            "set_vm",
            [](Reallocator& self, std::int64_t vm, double size, std::int64_t shares, double reservation,
               std::optional<double> limit) { self.set_vm(vm, size, shares, reservation, limit_or_inf(limit)); },
            py::arg("vm"), py::arg("size"), py::arg("shares"), py::arg("reservation"), py::arg("limit"))
        .def("remove_vm", &Reallocator::remove_vm, py::arg("vm"))
        .def("__len__", &Reallocator::size)
        .def("vms", [](const Reallocator& self) { return std::vector<std::int64_t>(self.vms()); })
        .def("observe", &observe_py, py::arg("usage"))
        .def("observe_many", &observe_many_py, py::arg("usage"), py::arg("cap_at_entitlement"))
        .def("entitlements", [](Reallocator& self) { return copy_out(self.entitlements()); })
        .def("base", [](Reallocator& self) { return copy_out(self.base()); })
        .def("estimates", [](Reallocator& self) { return copy_out(self.estimates()); })
        .def("load", &Reallocator::load)
        .def("lending", &Reallocator::lending)
        .def_property_readonly("capacity", &Reallocator::capacity)
        .def_property_readonly("window", &Reallocator::window)
        .def_property_readonly("threshold", &Reallocator::threshold)
        .def_property_readonly("percentile", &Reallocator::percentile)
        .def_property_readonly("headroom", &Reallocator::headroom)
        .def_property_readonly("estimator",
                               [](const Reallocator& self) { return std::string(estimator_name(self.estimator())); });
}

}  // namespace vsched::bindings
