// Binds vsched::MemoryManager as vsched._core.MemoryManager. Every method
// holds the object's ExclusiveUse scope (a concurrent call gets InUseError);
// the batch is converted into engine-owned memory with the GIL held, then the
// GIL is released for the loop (see access_batch).
#include "vsched/memory.hpp"

#include <string>

#include "bindings.hpp"
#include "vsched/errors.hpp"

namespace vsched::bindings {

namespace {

constexpr const char* kName = "MemoryManager";
using BoolArray = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using UInt8Array = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using Scope = vsched::ExclusiveUse::Scope;

MergeMode merge_mode(const std::string& name) {
    if (name == "immediate") return MergeMode::immediate;
    if (name == "scan") return MergeMode::scan;
    if (name == "off") return MergeMode::off;
    throw std::invalid_argument(message("merge = '", name, "': expected 'immediate', 'scan' or 'off'"));
}

const char* merge_name(MergeMode mode) {
    switch (mode) {
        case MergeMode::immediate: return "immediate";
        case MergeMode::scan: return "scan";
        default: return "off";
    }
}

std::optional<std::uint64_t> optional_count(const std::optional<std::int64_t>& value, const char* name) {
    if (!value) return std::nullopt;
    if (*value < 0) throw std::invalid_argument(message(name, " = ", *value, ": ", name, " must be >= 0 or None"));
    return static_cast<std::uint64_t>(*value);
}

std::unique_ptr<MemoryManager> make(std::int64_t frames, std::int64_t k, std::int64_t crp,
                                    std::optional<std::int64_t> rip, std::optional<std::int64_t> history,
                                    const std::string& merge, const std::string& policy, int bits) {
    if (frames < 1 || frames > std::int64_t(MemoryManager::kMaxFrames)) {
        throw std::invalid_argument(message("frames = ", frames, ": frames must be in 1..", MemoryManager::kMaxFrames));
    }
    if (k < 1 || k > LruKPolicy::kMaxK) {
        throw std::invalid_argument(message("k = ", k, ": k must be in 1..", LruKPolicy::kMaxK));
    }
    if (crp < 0) throw std::invalid_argument(message("crp = ", crp, ": crp must be >= 0"));
    const auto rip_count = optional_count(rip, "rip");
    const auto history_count = optional_count(history, "history");
    const MergeMode mode = merge_mode(merge);
    return std::make_unique<MemoryManager>(std::uint64_t(frames), int(k), std::uint64_t(crp), rip_count,
                                           history_count, mode, policy, bits);
}

py::array_t<std::int8_t> access_batch(MemoryManager& mm, const Int64Array& vm, const Int64Array& gpn,
                                      const std::optional<UInt64Array>& content,
                                      const std::optional<BoolArray>& write) {
    Scope scope(mm, kName);
    require_vector(vm, "vm");
    require_vector(gpn, "gpn");
    const py::ssize_t n = gpn.shape(0);
    if (vm.shape(0) != 1 && vm.shape(0) != n) {
        throw std::invalid_argument(message("vm has length ", vm.shape(0), ", expected 1 or ", n, " (the length of gpn)"));
    }
    if (content) require_vector(*content, "content", n);
    if (write) {
        if (!content) throw std::invalid_argument("write given without content");
        require_vector(*write, "write", n);
    }
    // Validated and copied into the engine's own buffers while the GIL is
    // held: the loop below never reads the caller's arrays, so another thread
    // changing them meanwhile cannot change what was validated.
    MemoryManager::Batch batch;
    mm.prepare_batch(vm.data(), std::size_t(vm.shape(0)), gpn.data(), std::size_t(n),
                     content ? content->data() : nullptr, write ? write->data() : nullptr, batch);
    py::array_t<std::int8_t> out(n);
    std::int8_t* out_data = out.mutable_data();  // ours: not visible to Python until we return
    PythonSignals signals;
    {
        // Safe to release: the object is held by `scope` (no other thread can
        // enter it) and the loop only touches `batch`, `out` and the engine.
        py::gil_scoped_release release;
        mm.run_batch(batch, out_data, &signals);
    }
    return out;
}

void scan(MemoryManager& mm, std::int64_t pages) {
    Scope scope(mm, kName);
    PythonSignals signals;
    // Safe to release: `scope` keeps other threads out of the object and the
    // scanner touches nothing but the engine.
    py::gil_scoped_release release;
    mm.scan(pages, &signals);
}

template <class T>
py::array_t<T> to_array(const std::vector<T>& values) {
    py::array_t<T> out(py::ssize_t(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::dict stats(const MemoryManager& mm) {
    Scope scope(mm, kName);
    const MemoryTotals s = mm.totals();
    py::dict d;
    d["frames"] = s.frames;
    d["frames_used"] = s.frames_used;
    d["pages_resident"] = s.pages_resident;
    d["pages_shared"] = s.pages_shared;
    d["pages_sharing"] = s.pages_sharing;
    d["pages_swapped"] = s.pages_swapped;
    d["pages_volatile"] = s.pages_volatile;
    d["hits"] = s.hits;
    d["first_touches"] = s.first_touches;
    d["major_faults"] = s.major_faults;
    d["cow_breaks"] = s.cow_breaks;
    d["merges"] = s.merges;
    d["evictions"] = s.evictions;
    d["full_scans"] = s.full_scans;
    d["dirtied"] = s.dirtied;
    d["imported"] = s.imported;
    d["time"] = s.time;
    d["retained"] = s.retained;
    // share of resident guest pages that cost no frame
    d["saving"] = s.pages_resident == 0 ? 0.0 : double(s.pages_sharing) / double(s.pages_resident);
    const VmRows r = mm.vm_rows();
    d["vm"] = to_array(r.vm);
    d["vm_resident"] = to_array(r.resident);
    d["vm_shared"] = to_array(r.shared);
    d["vm_swapped"] = to_array(r.swapped);
    d["vm_major_faults"] = to_array(r.major_faults);
    d["vm_cow_breaks"] = to_array(r.cow_breaks);
    d["vm_first_touches"] = to_array(r.first_touches);
    d["vm_dirtied"] = to_array(r.dirtied);
    return d;
}

py::tuple mapping(const MemoryManager& mm, std::int64_t vm) {
    Scope scope(mm, kName);
    const auto n = py::ssize_t(mm.vm_pages(vm));
    py::array_t<std::uint8_t> state(n);
    py::array_t<std::uint64_t> content(n);
    py::array_t<std::int64_t> frame(n);
    mm.mapping(vm, state.mutable_data(), content.mutable_data(), frame.mutable_data());
    return py::make_tuple(state, content, frame);
}

// export_vm as plain data: (domain, state, content, counters dict).
py::tuple export_vm(const MemoryManager& mm, std::int64_t vm) {
    Scope scope(mm, kName);
    const VmImage image = mm.export_vm(vm);
    py::dict counters;
    counters["major_faults"] = image.major_faults;
    counters["cow_breaks"] = image.cow_breaks;
    counters["first_touches"] = image.first_touches;
    counters["dirtied"] = image.dirtied;
    return py::make_tuple(image.domain, to_array(image.state), to_array(image.content), counters);
}

std::int64_t import_vm(MemoryManager& mm, std::int64_t domain, const UInt8Array& state, const UInt64Array& content,
                       std::uint64_t major_faults, std::uint64_t cow_breaks, std::uint64_t first_touches,
                       std::uint64_t dirtied) {
    Scope scope(mm, kName);
    require_vector(state, "state");
    require_vector(content, "content", state.shape(0));
    VmImage image;
    image.domain = domain;
    image.state.assign(state.data(), state.data() + state.shape(0));
    image.content.assign(content.data(), content.data() + content.shape(0));
    image.major_faults = major_faults;
    image.cow_breaks = cow_breaks;
    image.first_touches = first_touches;
    image.dirtied = dirtied;
    return mm.import_vm(image);
}

// A read-only property that holds the object's scope.
template <class F>
auto locked(F f) {
    return [f](const MemoryManager& mm) {
        Scope scope(mm, kName);
        return f(mm);
    };
}

}  // namespace

void bind_memory(py::module_& m) {
    py::class_<MemoryManager>(m, "MemoryManager")
        .def(py::init(&make), py::arg("frames"), py::arg("k"), py::arg("crp"), py::arg("rip"), py::arg("history"),
             py::arg("merge"), py::arg("policy"), py::arg("bits"))
        .def("add_vm", guarded(&MemoryManager::add_vm, kName), py::arg("pages"), py::arg("domain"))
        .def("remove_vm", guarded(&MemoryManager::remove_vm, kName), py::arg("vm"))
        .def("access_one",
             [](MemoryManager& mm, std::int64_t vm, std::int64_t gpn, bool write, std::uint64_t content) {
                 Scope scope(mm, kName);
                 return int(mm.access(vm, gpn, write, content));
             })
        .def("access", &access_batch, py::arg("vm"), py::arg("gpn"), py::arg("content"), py::arg("write"))
        .def("scan", &scan, py::arg("pages"))
        .def("stats", &stats)
        .def("mapping", &mapping, py::arg("vm"))
        .def("vm_pages", guarded(&MemoryManager::vm_pages, kName))
        .def("vm_domain", guarded(&MemoryManager::vm_domain, kName))
        .def("has_vm", guarded(&MemoryManager::has_vm, kName))
        .def("memory_bytes", guarded(&MemoryManager::memory_bytes, kName))
        .def("_frame_serial", guarded(&MemoryManager::frame_serial, kName), py::arg("frame"))
        .def("_set_frame_serial", guarded(&MemoryManager::set_frame_serial, kName), py::arg("frame"),
             py::arg("serial"))
        .def("export_vm", &export_vm, py::arg("vm"))
        .def("import_vm", &import_vm, py::arg("domain"), py::arg("state"), py::arg("content"),
             py::arg("major_faults"), py::arg("cow_breaks"), py::arg("first_touches"), py::arg("dirtied"))
        .def("_save", [](const MemoryManager& mm) {
            Scope scope(mm, kName);
            return to_bytes(mm.save());
        })
        .def_static("_load", [](const py::bytes& state) { return MemoryManager::load(from_bytes(state)); })
        .def_property_readonly("vm_count", locked([](const MemoryManager& mm) { return mm.vm_count(); }))
        .def_property_readonly("frames", locked([](const MemoryManager& mm) { return mm.frames(); }))
        .def_property_readonly("k", locked([](const MemoryManager& mm) { return mm.k(); }))
        .def_property_readonly("crp", locked([](const MemoryManager& mm) { return mm.crp(); }))
        .def_property_readonly("rip", locked([](const MemoryManager& mm) { return mm.rip(); }))
        .def_property_readonly("history", locked([](const MemoryManager& mm) { return mm.history(); }))
        .def_property_readonly("merge", locked([](const MemoryManager& mm) { return merge_name(mm.merge()); }))
        .def_property_readonly("policy", locked([](const MemoryManager& mm) { return mm.policy(); }))
        .def_property_readonly("bits", locked([](const MemoryManager& mm) { return mm.bits(); }));
}

}  // namespace vsched::bindings
