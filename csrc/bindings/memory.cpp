// Binds vsched::MemoryManager as vsched._core.MemoryManager.
#include "vsched/memory.hpp"

#include <string>

#include "bindings.hpp"
#include "vsched/errors.hpp"

namespace vsched::bindings {

namespace {

using BoolArray = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

MergeMode merge_mode(const std::string& name) {
    if (name == "immediate") return MergeMode::immediate;
    if (name == "scan") return MergeMode::scan;
    if (name == "off") return MergeMode::off;
    throw std::invalid_argument(message("merge = '", name, "': expected 'immediate', 'scan' or 'off'"));
}

std::optional<std::uint64_t> optional_count(const std::optional<std::int64_t>& value, const char* name) {
    if (!value) return std::nullopt;
    if (*value < 0) throw std::invalid_argument(message(name, " = ", *value, ": ", name, " must be >= 0 or None"));
    return static_cast<std::uint64_t>(*value);
}

std::unique_ptr<MemoryManager> make(std::int64_t frames, std::int64_t k, std::int64_t crp,
                                    std::optional<std::int64_t> rip, std::optional<std::int64_t> history,
                                    const std::string& merge) {
    if (frames < 1 || frames >= std::int64_t(MemoryManager::kNoFrame)) {
        throw std::invalid_argument(
            message("frames = ", frames, ": frames must be in 1..", MemoryManager::kNoFrame - 1));
    }
    if (k < 1 || k > LruKPolicy::kMaxK) {
        throw std::invalid_argument(message("k = ", k, ": k must be in 1..", LruKPolicy::kMaxK));
    }
    if (crp < 0) throw std::invalid_argument(message("crp = ", crp, ": crp must be >= 0"));
    const auto rip_count = optional_count(rip, "rip");
    const auto history_count = optional_count(history, "history");
    const MergeMode mode = merge_mode(merge);
    return std::make_unique<MemoryManager>(std::uint64_t(frames), int(k), std::uint64_t(crp), rip_count,
                                           history_count, mode);
}

py::array_t<std::int8_t> access_batch(MemoryManager& mm, const Int64Array& vm, const Int64Array& gpn,
                                      const std::optional<UInt64Array>& content,
                                      const std::optional<BoolArray>& write) {
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
    mm.validate_batch(vm.data(), std::size_t(vm.shape(0)), gpn.data(), std::size_t(n));
    py::array_t<std::int8_t> out(n);
    std::int8_t* out_data = out.mutable_data();
    const std::int64_t* vm_data = vm.data();
    const std::int64_t* gpn_data = gpn.data();
    const std::uint64_t* content_data = content ? content->data() : nullptr;
    const std::uint8_t* write_data = write ? write->data() : nullptr;
    {
        py::gil_scoped_release release;
        mm.access_batch(vm_data, std::size_t(vm.shape(0)), gpn_data, std::size_t(n), content_data, write_data,
                        out_data);
    }
    return out;
}

template <class T>
py::array_t<T> to_array(const std::vector<T>& values) {
    py::array_t<T> out(py::ssize_t(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::dict stats(const MemoryManager& mm) {
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
    d["time"] = s.time;
    d["retained"] = s.retained;
    // share of resident guest pages that cost no frame
    d["saving"] = s.pages_resident == 0 ? 0.0 : double(s.pages_sharing) / double(s.pages_resident);
    const VmCounts c = mm.vm_counts();
    d["vm_live"] = to_array(c.live).attr("astype")("bool");
    d["vm_resident"] = to_array(c.resident);
    d["vm_shared"] = to_array(c.shared);
    d["vm_swapped"] = to_array(c.swapped);
    d["vm_major_faults"] = to_array(c.major_faults);
    d["vm_cow_breaks"] = to_array(c.cow_breaks);
    d["vm_first_touches"] = to_array(c.first_touches);
    return d;
}

py::tuple mapping(const MemoryManager& mm, std::int64_t vm) {
    const auto n = py::ssize_t(mm.vm_pages(vm));
    py::array_t<std::uint8_t> state(n);
    py::array_t<std::uint64_t> content(n);
    py::array_t<std::int64_t> frame(n);
    mm.mapping(vm, state.mutable_data(), content.mutable_data(), frame.mutable_data());
    return py::make_tuple(state, content, frame);
}

}  // namespace

void bind_memory(py::module_& m) {
    py::class_<MemoryManager>(m, "MemoryManager")
        .def(py::init(&make), py::arg("frames"), py::arg("k"), py::arg("crp"), py::arg("rip"), py::arg("history"),
             py::arg("merge"))
        .def("add_vm", &MemoryManager::add_vm, py::arg("pages"), py::arg("domain"))
        .def("remove_vm", &MemoryManager::remove_vm, py::arg("vm"))
        .def("access_one",
             [](MemoryManager& mm, std::int64_t vm, std::int64_t gpn, bool write, std::uint64_t content) {
                 return int(mm.access(vm, gpn, write, content));
             })
        .def("access", &access_batch, py::arg("vm"), py::arg("gpn"), py::arg("content"), py::arg("write"))
        .def("scan", &MemoryManager::scan, py::arg("pages"))
        .def("stats", &stats)
        .def("mapping", &mapping, py::arg("vm"))
        .def("vm_pages", &MemoryManager::vm_pages)
        .def("vm_domain", &MemoryManager::vm_domain)
        .def_property_readonly("vm_count", &MemoryManager::vm_count)
        .def_property_readonly("frames", &MemoryManager::frames)
        .def_property_readonly("k", &MemoryManager::k)
        .def_property_readonly("crp", &MemoryManager::crp)
        .def_property_readonly("rip", &MemoryManager::rip)
        .def_property_readonly("history", &MemoryManager::history)
        .def_property_readonly("merge", [](const MemoryManager& mm) {
            switch (mm.merge()) {
                case MergeMode::immediate: return "immediate";
                case MergeMode::scan: return "scan";
                default: return "off";
            }
        });
}

}  // namespace vsched::bindings
