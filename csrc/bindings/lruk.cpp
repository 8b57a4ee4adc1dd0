// Binds vsched::LruKCache as vsched._core.LRUK.
#include "vsched/lruk.hpp"

#include <limits>

#include "bindings.hpp"
#include "vsched/errors.hpp"

namespace vsched::bindings {

namespace {

// Converts one Python key without going through pybind's overload machinery
// (the per-call access() path must stay cheap): exact ints fast, other
// integer types (numpy) via __index__; bool, float, str refused with TypeError;
// values outside [0, 2**64) with ValueError.
std::uint64_t key_from_python(py::handle obj) {
    if (!PyLong_Check(obj.ptr()) || PyBool_Check(obj.ptr())) {
        if (PyBool_Check(obj.ptr()) || PyFloat_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) {
            throw vsched::TypeError(message("key must be an integer, got ", Py_TYPE(obj.ptr())->tp_name));
        }
        py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
        if (!index) throw py::error_already_set();
        return key_from_python(index);
    }
    const unsigned long long value = PyLong_AsUnsignedLongLong(obj.ptr());
    if (value == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        throw std::invalid_argument(
            message("key = ", std::string(py::str(obj)), ": key must be in 0..2**64-1"));
    }
    return value;
}

std::optional<std::uint64_t> optional_count(const std::optional<std::int64_t>& value, const char* name) {
    if (!value) return std::nullopt;
    if (*value < 0) throw std::invalid_argument(message(name, " = ", *value, ": ", name, " must be >= 0 or None"));
    return static_cast<std::uint64_t>(*value);
}

std::unique_ptr<LruKCache> make_lruk(std::int64_t capacity, std::int64_t k, std::int64_t crp,
                                     std::optional<std::int64_t> rip, std::optional<std::int64_t> history) {
    if (capacity < 1) throw std::invalid_argument(message("capacity = ", capacity, ": capacity must be >= 1"));
    if (k < 1 || k > LruKPolicy::kMaxK) {
        throw std::invalid_argument(message("k = ", k, ": k must be in 1..", LruKPolicy::kMaxK));
    }
    if (crp < 0) throw std::invalid_argument(message("crp = ", crp, ": crp must be >= 0"));
    return std::make_unique<LruKCache>(static_cast<std::uint64_t>(capacity), static_cast<int>(k),
                                       static_cast<std::uint64_t>(crp), optional_count(rip, "rip"),
                                       optional_count(history, "history"));
}

py::array_t<bool> access_many(LruKCache& cache, const UInt64Array& keys) {
    require_vector(keys, "keys");
    const auto n = static_cast<std::size_t>(keys.shape(0));
    py::array_t<bool> hits(static_cast<py::ssize_t>(n));
    bool* out = hits.mutable_data();
    const std::uint64_t* in = keys.data();
    {
        py::gil_scoped_release release;
        cache.access_many(in, n, out);
    }
    return hits;
}

}  // namespace

void bind_lruk(py::module_& m) {
    py::class_<LruKCache>(m, "LRUK")
        .def(py::init(&make_lruk), py::arg("capacity"), py::arg("k"), py::arg("crp"), py::arg("rip"),
             py::arg("history"))
        .def("access", [](LruKCache& c, py::handle key) { return c.access(key_from_python(key)); })
        .def("access_many", &access_many, py::arg("keys"))
        .def("contains", [](const LruKCache& c, py::handle key) { return c.contains(key_from_python(key)); })
        .def("history_of", [](const LruKCache& c, py::handle key) { return c.history_of(key_from_python(key)); })
        .def_property_readonly("capacity", &LruKCache::capacity)
        .def_property_readonly("k", &LruKCache::k)
        .def_property_readonly("crp", &LruKCache::crp)
        .def_property_readonly("rip", &LruKCache::rip)
        .def_property_readonly("history", &LruKCache::history)
        .def_property_readonly("time", &LruKCache::time)
        .def_property_readonly("hits", &LruKCache::hits)
        .def_property_readonly("misses", &LruKCache::misses)
        .def_property_readonly("evictions", &LruKCache::evictions)
        .def_property_readonly("retained", &LruKCache::retained)
        .def_property_readonly("tracked", &LruKCache::tracked)
        .def("__len__", &LruKCache::size)
        .def("memory_bytes", &LruKCache::memory_bytes);
}

}  // namespace vsched::bindings
