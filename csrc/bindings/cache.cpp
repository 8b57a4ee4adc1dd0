// Binds vsched::KeyCache as vsched._core.Cache. Every method holds the
// object's ExclusiveUse scope (a concurrent call gets InUseError).
#include "vsched/cache.hpp"

#include "bindings.hpp"
#include "vsched/errors.hpp"

namespace vsched::bindings {

namespace {

constexpr const char* kName = "Cache";
using Scope = vsched::ExclusiveUse::Scope;

// Keys arrive converted and range-checked by the Python wrapper (as_keys /
// as_key), so the binder takes uint64 only.
std::unique_ptr<KeyCache> make_cache(std::uint64_t capacity, const std::string& policy, int bits, int k,
                                     std::uint64_t crp, std::optional<std::uint64_t> rip,
                                     std::optional<std::uint64_t> history) {
    PolicyArgs args;
    args.bits = bits;
    args.k = k;
    args.crp = crp;
    args.rip = rip;
    args.history = history;
    return std::make_unique<KeyCache>(capacity, policy, args);
}

py::array_t<bool> access_many(KeyCache& cache, const UInt64Array& keys) { return access_keys(cache, keys, kName); }

template <class F>
auto locked(F f) {
    return [f](const KeyCache& c) {
        Scope scope(c, kName);
        return f(c);
    };
}

}  // namespace

void bind_cache(py::module_& m) {
    py::class_<KeyCache>(m, "Cache")
        .def(py::init(&make_cache), py::arg("capacity"), py::arg("policy"), py::arg("bits"), py::arg("k"),
             py::arg("crp"), py::arg("rip"), py::arg("history"))
        .def("access",
             [](KeyCache& c, std::uint64_t key) {
                 Scope scope(c, kName);
                 return c.access(key);
             })
        .def("access_many", &access_many, py::arg("keys"))
        .def("contains",
             [](const KeyCache& c, std::uint64_t key) {
                 Scope scope(c, kName);
                 return c.contains(key);
             })
        .def("_save",
             [](const KeyCache& c) {
                 Scope scope(c, kName);
                 return to_bytes(c.save());
             })
        .def_static("_load", [](const py::bytes& state) { return KeyCache::load(from_bytes(state)); })
        .def_property_readonly("capacity", locked([](const KeyCache& c) { return c.capacity(); }))
        .def_property_readonly("policy", locked([](const KeyCache& c) { return c.policy_name(); }))
        .def_property_readonly("time", locked([](const KeyCache& c) { return c.time(); }))
        .def_property_readonly("hits", locked([](const KeyCache& c) { return c.hits(); }))
        .def_property_readonly("misses", locked([](const KeyCache& c) { return c.misses(); }))
        .def_property_readonly("evictions", locked([](const KeyCache& c) { return c.evictions(); }))
        .def("__len__", guarded(&KeyCache::size, kName))
        .def("memory_bytes", guarded(&KeyCache::memory_bytes, kName));
}

}  // namespace vsched::bindings
