// Exceptions thrown by the Python-free core. The bindings translate them:
//   std::invalid_argument -> ValueError   (bad value, names the argument)
//   vsched::TypeError     -> TypeError
//   std::out_of_range     -> IndexError   (index outside a valid range)
//   vsched::KeyError      -> KeyError     (unknown id)
//   vsched::AdmissionError-> vsched.AdmissionError (a ValueError subclass)
//   vsched::InUseError    -> vsched.InUseError (a RuntimeError subclass; see exclusive_use.hpp)
//   vsched::Interrupted   -> the KeyboardInterrupt a signal check raised (see interrupt.hpp)
// Every throw happens before any state is modified, so a failed call leaves
// its object unchanged.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace vsched {

struct AdmissionError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct KeyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct TypeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct InUseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Formats a double the way Python's repr() does for the common cases
// (shortest round-trip form), so native and reference messages read alike.
std::string format_number(double value);

// Concatenates streamable pieces into one message.
template <class... Parts>
std::string message(const Parts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
}

}  // namespace vsched
