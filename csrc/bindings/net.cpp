// vsched._core.NetScheduler: numpy in and out; validation with the GIL held,
// the packet loop without it. Every method holds the object's ExclusiveUse
// scope (a concurrent call raises InUseError). The typed wrapper is
// src/vsched/net.py.
#include "vsched/errors.hpp"
#include "vsched/net.hpp"
#include "vsched/scratch.hpp"

#include <limits>
#include <vector>

#include "bindings.hpp"

namespace vsched::bindings {

namespace {

constexpr const char* kName = "NetScheduler";
using Scope = vsched::ExclusiveUse::Scope;

// Fluid ticks of at least this many VMs release the GIL.
constexpr std::size_t kReleaseAbove = 4096;

double limit_or_inf(const std::optional<double>& limit) {
    return limit ? *limit : std::numeric_limits<double>::infinity();
}

py::array_t<double> allocate_py(NetScheduler& self, const DoubleArray& demand) {
    Scope scope(self, kName);
    require_vector(demand, "demand_bps", static_cast<py::ssize_t>(self.size()));
    // What is validated is what is used: copied while the GIL is held.
    const std::vector<double> copy(demand.data(), demand.data() + demand.size());
    self.validate_demand(copy.data());
    py::array_t<double> out(static_cast<py::ssize_t>(copy.size()));
    double* out_data = out.mutable_data();
    if (copy.size() < kReleaseAbove) {
        self.allocate(copy.data(), out_data);
    } else {
        // Safe without the GIL: reads only `copy`, writes only the engine
        // (kept to this thread by the scope) and `out`, unseen by others.
        py::gil_scoped_release release;
        self.allocate(copy.data(), out_data);
    }
    return out;
}

template <class T>
py::array_t<T> as_array(const std::vector<T>& values) {
    py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::tuple simulate_packets_py(const NetScheduler& self, const Int64Array& vm, const Int64Array& arrival_ns,
                              const Int64Array& size_bytes, std::int64_t queue_bytes, std::int64_t quantum_bytes,
                              std::int64_t burst_bytes) {
    Scope scope(self, kName);
    require_vector(vm, "vm");
    require_vector(arrival_ns, "arrival_ns", vm.shape(0));
    require_vector(size_bytes, "size_bytes", vm.shape(0));
    const auto n = static_cast<std::size_t>(vm.shape(0));
    // The validation reads the caller's arrays once, with the GIL held, and writes the
    // engine's own records (in this thread's scratch vector: a fresh one would cost its
    // page faults); the loop below reads only those.
    Scratch<PacketArrival, 0> packet_buffer;
    Scratch<std::int64_t, 2> offered_buffer;
    PacketBatch batch;
    batch.n = n;
    batch.queue_bytes = queue_bytes;
    batch.quantum_bytes = quantum_bytes;
    batch.burst_bytes = burst_bytes;
    self.validate_packets(vm.data(), arrival_ns.data(), size_bytes.data(), batch, packet_buffer.get(),
                         offered_buffer.get());
    py::array_t<std::int64_t> start(static_cast<py::ssize_t>(n));
    py::array_t<std::int64_t> finish(static_cast<py::ssize_t>(n));
    std::int64_t* start_data = start.mutable_data();
    std::int64_t* finish_data = finish.mutable_data();
    PythonSignals signals;  // Ctrl-C stops the run (nothing changes: it is a pure function)
    PacketStats stats;
    {
        // Safe without the GIL: reads the records and the engine (kept to this
        // thread by the scope), writes only the two new arrays and `stats`.
        py::gil_scoped_release release;
        stats = self.simulate_packets(batch, start_data, finish_data, &signals);
    }
    return py::make_tuple(start, finish, stats.duration_ns, as_array(stats.sent_packets),
                          as_array(stats.sent_bytes), as_array(stats.dropped_packets),
                          as_array(stats.throughput_bps), as_array(stats.delay_p50_ns),
                          as_array(stats.delay_p99_ns), as_array(stats.delay_max_ns));
}

NetGuard guard_of(const std::vector<double>& caps, const std::vector<double>& minimums) {
    return NetGuard{caps, minimums};
}

}  // namespace

void bind_net(py::module_& m) {
    py::class_<NetScheduler>(m, "NetScheduler")
        .def(py::init([](double link_bps, std::int64_t bands, const std::vector<double>& caps,
                         const std::vector<double>& minimums) {
                 return NetScheduler(link_bps, bands, guard_of(caps, minimums));
             }),
             py::arg("link_bps"), py::arg("bands"), py::arg("caps"), py::arg("minimums"))
        .def(
            "add_vm",
            [](NetScheduler& self, std::int64_t band, std::int64_t shares, double reservation,
               std::optional<double> limit) {
                Scope scope(self, kName);
                return self.add_vm(band, shares, reservation, limit_or_inf(limit));
            },
            py::arg("band"), py::arg("shares"), py::arg("reservation"), py::arg("limit"))
        .def(
            "set_vm",
            [](NetScheduler& self, std::int64_t vm, std::int64_t band, std::int64_t shares, double reservation,
               std::optional<double> limit) {
                Scope scope(self, kName);
                self.set_vm(vm, band, shares, reservation, limit_or_inf(limit));
            },
            py::arg("vm"), py::arg("band"), py::arg("shares"), py::arg("reservation"), py::arg("limit"))
        .def("remove_vm", guarded(&NetScheduler::remove_vm, kName), py::arg("vm"))
        .def("band_of", guarded(&NetScheduler::band_of, kName), py::arg("vm"))
        .def("__len__", guarded(&NetScheduler::size, kName))
        .def("vms",
             [](const NetScheduler& self) {
                 Scope scope(self, kName);
                 return std::vector<std::int64_t>(self.vms());
             })
        .def("allocate", &allocate_py, py::arg("demand_bps"))
        .def("starved",
             [](const NetScheduler& self) {
                 Scope scope(self, kName);
                 py::array_t<bool> out(static_cast<py::ssize_t>(self.size()));
                 std::copy(self.starved().begin(), self.starved().end(), out.mutable_data());
                 return out;
             })
        .def("starved_ticks",
             [](const NetScheduler& self) {
                 Scope scope(self, kName);
                 const auto& ticks = self.starved_ticks();
                 py::array_t<std::int64_t> out(static_cast<py::ssize_t>(ticks.size()));
                 std::copy(ticks.begin(), ticks.end(), out.mutable_data());
                 return out;
             })
        .def("simulate_packets", &simulate_packets_py, py::arg("vm"), py::arg("arrival_ns"), py::arg("size_bytes"),
             py::arg("queue_bytes"), py::arg("quantum_bytes"), py::arg("burst_bytes"))
        .def("_save",
             [](const NetScheduler& self) {
                 Scope scope(self, kName);
                 return to_bytes(self.save());
             })
        .def_static("_load", [](const py::bytes& state) { return NetScheduler::restore(from_bytes(state)); },
                    py::arg("state"))
        .def_property_readonly("link_bps", guarded(&NetScheduler::link_bps, kName))
        .def_property_readonly("bands", guarded(&NetScheduler::bands, kName))
        .def_property_readonly("caps",
                               [](const NetScheduler& self) {
                                   Scope scope(self, kName);
                                   return std::vector<double>(self.caps());
                               })
        .def_property_readonly("minimums", [](const NetScheduler& self) {
            Scope scope(self, kName);
            return std::vector<double>(self.minimums());
        });
}

}  // namespace vsched::bindings
