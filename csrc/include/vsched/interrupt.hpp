// Interrupting long native calls (Ctrl-C) without the core knowing Python.
//
// A long loop in the core (CpuScheduler::run, LRU-K and memory batches, the
// reallocator's observe_many) takes an optional Interrupt* and calls an
// InterruptPoll at each decision boundary: a point where the object's state
// is consistent (every invariant holds, as between two public calls). The
// poll asks the hook at most every ~20 ms of wall time (and reads the clock
// only every 1024 calls, so it costs nothing measurable); when the hook says
// so it throws Interrupted, and the call ends there. The bindings' hook
// checks Python's pending signals with the GIL held and translates
// Interrupted into the KeyboardInterrupt that check raised. The interrupted
// call has done a prefix of its work, as if it had been asked for less.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace vsched {

// Thrown by InterruptPoll; never escapes to Python as itself.
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};

class Interrupt {
public:
    virtual ~Interrupt() = default;
    // True if the call should stop now.
    virtual bool requested() = 0;
};

class InterruptPoll {
public:
    explicit InterruptPoll(Interrupt* hook) : hook_(hook), last_(std::chrono::steady_clock::now()) {}

    // Call at decision boundaries only.
    void operator()() {
        if (hook_ == nullptr || (++calls_ & 1023u) != 0) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(20)) return;
        last_ = now;
        if (hook_->requested()) throw Interrupted();
    }

private:
    Interrupt* hook_;
    std::uint32_t calls_ = 0;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace vsched
