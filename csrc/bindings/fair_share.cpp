#include "vsched/fair_share.hpp"

#include <vector>

#include "bindings.hpp"

namespace vsched::bindings {

namespace {

// Divisions of at least this many VMs release the GIL while they are solved.
constexpr py::ssize_t kReleaseAbove = 4096;

// The caller's array, copied (the GIL is held here, so no other thread can
// change it meanwhile); nothing is null.
std::vector<double> owned_copy(const DoubleArray& array) {
    return std::vector<double>(array.data(), array.data() + array.size());
}

py::array_t<double> fair_share_py(double capacity, const DoubleArray& demand, const DoubleArray& shares,
                                  const std::optional<DoubleArray>& reservation,
                                  const std::optional<DoubleArray>& limit) {
    require_vector(demand, "demand");
    const py::ssize_t n = demand.shape(0);
    require_vector(shares, "shares", n);
    if (reservation) require_vector(*reservation, "reservation", n);
    if (limit) require_vector(*limit, "limit", n);

    // What is validated is what is solved: the inputs are copied into memory
    // this call owns before validation, so a thread that writes into the
    // caller's arrays while the GIL is released below changes nothing.
    const std::vector<double> demand_copy = owned_copy(demand);
    const std::vector<double> shares_copy = owned_copy(shares);
    const std::vector<double> reservation_copy = reservation ? owned_copy(*reservation) : std::vector<double>{};
    const std::vector<double> limit_copy = limit ? owned_copy(*limit) : std::vector<double>{};
    FairShareInput in;
    in.capacity = capacity;
    in.n = static_cast<std::size_t>(n);
    in.demand = demand_copy.data();
    in.shares = shares_copy.data();
    in.reservation = reservation ? reservation_copy.data() : nullptr;
    in.limit = limit ? limit_copy.data() : nullptr;
    validate_fair_share(in);

    py::array_t<double> out(n);
    double* out_data = out.mutable_data();
    FairShareSolver solver;
    if (n < kReleaseAbove) {
        solver.solve(in, out_data);  // too short to gain from releasing the GIL
    } else {
        // Safe without the GIL: the solver reads only the copies above and
        // writes only `out`, which no other thread has seen yet.
        py::gil_scoped_release release;
        solver.solve(in, out_data);
    }
    return out;
}

}  // namespace

void bind_fair_share(py::module_& m) {
    m.def("fair_share", &fair_share_py, py::arg("capacity"), py::arg("demand"), py::arg("shares"),
          py::arg("reservation") = py::none(), py::arg("limit") = py::none(),
          "Weighted max-min fair division of `capacity` (see vsched.fair_share).");
}

}  // namespace vsched::bindings
