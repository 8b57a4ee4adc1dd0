// Shared declarations for the binding translation units. Each engine has one
// bind_<engine>(module) function in its own file; module.cpp only calls them.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vsched/exclusive_use.hpp"
#include "vsched/huge_pages.hpp"
#include "vsched/interrupt.hpp"

namespace py = pybind11;

namespace vsched::bindings {

// Contiguous arrays converted on the way in; the Python wrappers check dtype
// and shape first so that users get a TypeError naming the argument.
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using UInt64Array = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;

// The Interrupt hook of every long call: runs Python's pending signal
// handlers (with the GIL, which the call released) and asks the core to stop
// if one raised, e.g. KeyboardInterrupt on Ctrl-C (see vsched/interrupt.hpp).
struct PythonSignals final : vsched::Interrupt {
    bool requested() override {
        py::gil_scoped_acquire acquire;
        return PyErr_CheckSignals() != 0;
    }
};

// Wraps a member function so that the call holds the object's
// ExclusiveUse::Scope (see vsched/exclusive_use.hpp): `what` names the class
// in the InUseError a concurrent call gets.
template <class C, class R, class... A>
auto guarded(R (C::*f)(A...), const char* what) {
    return [f, what](C& self, A... args) -> R {
        vsched::ExclusiveUse::Scope scope(self, what);
        return (self.*f)(std::forward<A>(args)...);
    };
}
template <class C, class R, class... A>
auto guarded(R (C::*f)(A...) const, const char* what) {
    return [f, what](const C& self, A... args) -> R {
        vsched::ExclusiveUse::Scope scope(self, what);
        return (self.*f)(std::forward<A>(args)...);
    };
}

// A checkpoint (vsched/state_io.hpp) as Python bytes, and back.
inline py::bytes to_bytes(const std::string& state) { return py::bytes(state); }
inline std::string from_bytes(const py::bytes& state) { return std::string(state); }

// Throws ValueError unless `array` is 1-D (and of length `expected` if given).
void require_vector(const py::array& array, const char* name, std::optional<py::ssize_t> expected = {});

// One batch of references on a key cache (LRUK, Cache): `what` names the class
// in the InUseError a concurrent call gets.
template <class KeyCacheT>
py::array_t<bool> access_keys(KeyCacheT& cache, const UInt64Array& keys, const char* what) {
    vsched::ExclusiveUse::Scope scope(cache, what);
    require_vector(keys, "keys");
    const auto n = static_cast<std::size_t>(keys.shape(0));
    // Copied with the GIL held: the loop never reads the caller's array, so
    // another thread changing it meanwhile cannot change what is referenced.
    // On transparent huge pages (huge_pages.hpp), as numpy puts its own large
    // arrays: a copy into fresh 4 KiB pages costs a page fault per 4 KiB.
    const vsched::HugeVector<std::uint64_t> own(keys.data(), keys.data() + n);
    py::array_t<bool> hits(static_cast<py::ssize_t>(n));
    bool* out = hits.mutable_data();
    PythonSignals signals;
    {
        // Safe to release: `scope` keeps every other thread out of `cache`,
        // and the loop touches only `own`, `out` and the cache.
        py::gil_scoped_release release;
        cache.access_many(own.data(), n, out, &signals);
    }
    return hits;
}

void bind_cache(py::module_& m);
void bind_errors(py::module_& m);
void bind_fair_share(py::module_& m);
void bind_lruk(py::module_& m);
void bind_memory(py::module_& m);
void bind_net(py::module_& m);
void bind_reallocator(py::module_& m);
void bind_scheduler(py::module_& m);

}  // namespace vsched::bindings
