// Binds vsched::LruKCache as vsched._core.LRUK. Every method holds the
// object's ExclusiveUse scope (a concurrent call gets InUseError).
#include "vsched/lruk.hpp"

#include <limits>

#include "bindings.hpp"
#include "vsched/errors.hpp"

namespace vsched::bindings {

namespace {

constexpr const char* kName = "LRUK";
using Scope = vsched::ExclusiveUse::Scope;

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

py::array_t<bool> access_many(LruKCache& cache, const UInt64Array& keys) { return access_keys(cache, keys, kName); }

// A read-only property that holds the object's scope.
template <class F>
auto locked(F f) {
    return [f](const LruKCache& c) {
        Scope scope(c, kName);
        return f(c);
    };
}

}  // namespace

void bind_lruk(py::module_& m) {
    py::class_<LruKCache>(m, "LRUK")
        .def(py::init(&make_lruk), py::arg("capacity"), py::arg("k"), py::arg("crp"), py::arg("rip"),
             py::arg("history"))
        .def("access",
             [](LruKCache& c, py::handle key) {
                 const std::uint64_t value = key_from_python(key);
                 Scope scope(c, kName);
                 return c.access(value);
             })
        .def("access_many", &access_many, py::arg("keys"))
        .def("contains",
             [](const LruKCache& c, py::handle key) {
                 const std::uint64_t value = key_from_python(key);
                 Scope scope(c, kName);
                 return c.contains(value);
             })
        .def("history_of",
             [](const LruKCache& c, py::handle key) {
                 const std::uint64_t value = key_from_python(key);
                 Scope scope(c, kName);
                 return c.history_of(value);
             })
        .def("_save",
             [](const LruKCache& c) {
                 Scope scope(c, kName);
                 return to_bytes(c.save());
             })
        .def_static("_load", [](const py::bytes& state) { return LruKCache::load(from_bytes(state)); })
        .def_property_readonly("capacity", locked([](const LruKCache& c) { return c.capacity(); }))
        .def_property_readonly("k", locked([](const LruKCache& c) { return c.k(); }))
        .def_property_readonly("crp", locked([](const LruKCache& c) { return c.crp(); }))
        .def_property_readonly("rip", locked([](const LruKCache& c) { return c.rip(); }))
        .def_property_readonly("history", locked([](const LruKCache& c) { return c.history(); }))
        .def_property_readonly("time", locked([](const LruKCache& c) { return c.time(); }))
        .def_property_readonly("hits", locked([](const LruKCache& c) { return c.hits(); }))
        .def_property_readonly("misses", locked([](const LruKCache& c) { return c.misses(); }))
        .def_property_readonly("evictions", locked([](const LruKCache& c) { return c.evictions(); }))
        .def_property_readonly("retained", locked([](const LruKCache& c) { return c.retained(); }))
        .def_property_readonly("tracked", locked([](const LruKCache& c) { return c.tracked(); }))
        .def("__len__", guarded(&LruKCache::size, kName))
        .def("memory_bytes", guarded(&LruKCache::memory_bytes, kName));
}

}  // namespace vsched::bindings
