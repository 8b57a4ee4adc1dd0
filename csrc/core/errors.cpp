#include "vsched/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>

namespace vsched {

// Python's float repr: the shortest digits that round-trip, written in fixed
// notation when the decimal exponent is in [-4, 16) (with at least one digit
// after the point) and in scientific notation otherwise.
std::string format_number(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    int digits = 1;
    for (; digits <= 17; ++digits) {
        std::snprintf(buffer, sizeof buffer, "%.*e", digits - 1, value);
        if (std::strtod(buffer, nullptr) == value) break;
    }
    const int exponent = value == 0.0 ? 0 : std::atoi(std::strchr(buffer, 'e') + 1);
    if (exponent < -4 || exponent >= 16) return buffer;
    const int decimals = std::max(1, digits - 1 - exponent);
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

}  // namespace vsched
