// Shared declarations for the binding translation units. Each engine has one
// bind_<engine>(module) function in its own file; module.cpp only calls them.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

namespace py = pybind11;

namespace vsched::bindings {

// Contiguous arrays converted on the way in; the Python wrappers check dtype
// and shape first so that users get a TypeError naming the argument.
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using UInt64Array = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;

// Throws ValueError unless `array` is 1-D (and of length `expected` if given).
void require_vector(const py::array& array, const char* name, std::optional<py::ssize_t> expected = {});

void bind_errors(py::module_& m);
void bind_fair_share(py::module_& m);
void bind_lruk(py::module_& m);
void bind_memory(py::module_& m);
void bind_reallocator(py::module_& m);
void bind_scheduler(py::module_& m);

}  // namespace vsched::bindings
