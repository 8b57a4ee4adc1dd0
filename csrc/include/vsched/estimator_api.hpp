// What an estimator of the reallocator sees of the windows, and the shape
// every estimator has (the registry is in vsched/usage_window.hpp; the recipe
// for adding one in docs/engines/reallocator.md). Python-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vsched {

// What every window of one reallocator shares.
struct WindowConfig {
    std::size_t window = 12;    // W: samples kept per VM
    double quantile = 0.95;     // p = percentile / 100
    double alpha = 2.0 / 13.0;  // EWMA weight of the newest sample, 2 / (W + 1)
};

// The windows' shared storage as an estimator sees it (read only). Every
// per-sample array is a matrix of W rows by `stride` columns, one column per
// VM; tick t (counted since the windows were made) writes row t % W.
struct WindowView {
    std::size_t window = 0;        // W
    std::size_t stride = 0;        // columns allocated: the row length of every matrix
    std::uint32_t next_row = 0;    // the row the next tick writes
    const double* ring = nullptr;  // W x stride samples
    const std::uint32_t* count = nullptr;  // per column: samples in the window (<= W)
    const double* sum = nullptr;           // per column: running sum of the window
    const std::uint64_t* seen = nullptr;   // per column: samples pushed since the VM was added
    double sample(std::size_t row, std::uint32_t column) const { return ring[row * stride + column]; }
    // The row holding the sample `age` ticks old (0: the newest).
    std::size_t row_of_age(std::size_t age) const { return (next_row + window - 1 - age % window) % window; }
};

// One push: the sample of `column` for the current tick.
struct Push {
    std::uint32_t column;
    std::uint32_t row;       // the ring row written (and overwritten)
    double sample;
    double evicted;          // the sample it overwrites (meaningful only when full)
    std::uint32_t count;     // samples in the window before the push
    bool full;               // count == W: `evicted` leaves the window
};

// Estimator state that is not a function of the window (e.g. the EWMA), as
// named lists of doubles: what export_vm carries besides the samples.
struct EstimatorField {
    std::string name;
    std::vector<double> values;
    bool scalar = true;  // one value (exported as a float), else a list
};
using EstimatorFields = std::vector<EstimatorField>;

// One struct per estimator, owning its per-column storage, with this shape
// (UsageWindows calls nothing else; see docs/engines/reallocator.md):
//   static constexpr const char* kName;            its name in the registry
//   static constexpr bool kKeepsState;             export() returns state that
//                                                  the window alone cannot rebuild
//   explicit X(const WindowConfig&);
//   void resize(std::size_t old_stride, std::size_t stride);  columns kept
//   void reset(std::uint32_t column);              a new, empty window
//   void begin_tick(const WindowView&);            before the pushes of a tick
//   void push(const Push&, const WindowView&);     one sample (after the ring
//                                                  row, count, sum were updated)
//   void wrap(const std::uint32_t* columns, std::size_t n, const WindowView&);
//                                                  end of a block of W ticks
//   double estimate(std::uint32_t column, const WindowView&) const;   k >= 1
//   void save(StateWriter&) const;  void load(StateReader&, std::size_t stride);
//   EstimatorFields export_column(std::uint32_t column) const;
//   static void check_import(const EstimatorFields&);  throws invalid_argument
//   void import_column(std::uint32_t column, const EstimatorFields&, const WindowView&);
//                                                  the window's samples are
//                                                  already in the ring
// Every formula is mirrored by src/vsched/reference/reallocation.py.

}  // namespace vsched
