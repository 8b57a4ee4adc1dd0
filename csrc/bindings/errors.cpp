// Translates the core's C++ exceptions into Python ones. AdmissionError is the
// Python class defined in vsched.errors, so native and reference raise the
// very same type.
#include "vsched/errors.hpp"

#include "vsched/interrupt.hpp"

#include "bindings.hpp"

namespace vsched::bindings {

void require_vector(const py::array& array, const char* name, std::optional<py::ssize_t> expected) {
    if (array.ndim() != 1) {
        throw std::invalid_argument(message(name, " must be 1-D, got ", array.ndim(), " dimensions"));
    }
    if (expected && array.shape(0) != *expected) {
        throw std::invalid_argument(
            message(name, " has length ", array.shape(0), ", expected ", *expected));
    }
}

void bind_errors(py::module_& m) {
    (void)m;
    // Local: tried first for exceptions leaving this module, so that another pybind11 extension's
    // global translator (e.g. one mapping every std::exception to RuntimeError) cannot preempt it.
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const vsched::AdmissionError& e) {
            // Looked up on each raise (rare); keeps no Python object alive in
            // a static across interpreter shutdown.
            py::object cls = py::module_::import("vsched.errors").attr("AdmissionError");
            PyErr_SetString(cls.ptr(), e.what());
        } catch (const vsched::KeyError& e) {
            PyErr_SetString(PyExc_KeyError, e.what());
        } catch (const vsched::TypeError& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        } catch (const vsched::InUseError& e) {
            py::object cls = py::module_::import("vsched.errors").attr("InUseError");
            PyErr_SetString(cls.ptr(), e.what());
        } catch (const vsched::Interrupted&) {
            // PythonSignals::requested() ran the signal handlers, which set
            // the error (KeyboardInterrupt for Ctrl-C); keep it.
            if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        }
    });
}

}  // namespace vsched::bindings
