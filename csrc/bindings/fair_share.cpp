#include "vsched/fair_share.hpp"

#include "bindings.hpp"

namespace vsched::bindings {

namespace {

py::array_t<double> fair_share_py(double capacity, const DoubleArray& demand, const DoubleArray& shares,
                                  const std::optional<DoubleArray>& reservation,
                                  const std::optional<DoubleArray>& limit) {
    require_vector(demand, "demand");
    const py::ssize_t n = demand.shape(0);
    require_vector(shares, "shares", n);
    if (reservation) require_vector(*reservation, "reservation", n);
    if (limit) require_vector(*limit, "limit", n);

    FairShareInput in;
    in.capacity = capacity;
    in.n = static_cast<std::size_t>(n);
    in.demand = demand.data();
    in.shares = shares.data();
    in.reservation = reservation ? reservation->data() : nullptr;
    in.limit = limit ? limit->data() : nullptr;
    validate_fair_share(in);

    py::array_t<double> out(n);
    double* out_data = out.mutable_data();
    {
        py::gil_scoped_release release;
        FairShareSolver solver;
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
