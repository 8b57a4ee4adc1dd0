// The extension module vsched._core: one bind_* call per engine, nothing else.
#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "vsched native core (C++). Use the typed wrappers in the vsched package.";
    vsched::bindings::bind_errors(m);
    vsched::bindings::bind_cache(m);
    vsched::bindings::bind_fair_share(m);
    vsched::bindings::bind_lruk(m);
    vsched::bindings::bind_memory(m);
    vsched::bindings::bind_net(m);
    vsched::bindings::bind_reallocator(m);
    vsched::bindings::bind_scheduler(m);
}
