// One native object, one thread at a time.
//
// The bindings release the GIL inside long calls (run, access_many, ...), so
// without a guard a second Python thread could call into the same object
// while the first is inside it: a data race, and for the engines a crash.
// Every engine class derives from ExclusiveUse and every bound method holds
// an ExclusiveUse::Scope for the whole call: a call that finds the object
// busy raises InUseError (Python RuntimeError) at once and changes nothing.
// Different objects stay independent, so two threads on two objects still
// run in parallel. Copies of an object start free.
#pragma once

#include <atomic>

#include "vsched/errors.hpp"

namespace vsched {

class ExclusiveUse {
public:
    ExclusiveUse() = default;
    ExclusiveUse(const ExclusiveUse&) noexcept {}
    ExclusiveUse& operator=(const ExclusiveUse&) noexcept { return *this; }

    class Scope {
    public:
        // `what` names the object in the error, e.g. "CpuScheduler".
        Scope(const ExclusiveUse& object, const char* what) : object_(object) {
            if (object_.busy_.exchange(true, std::memory_order_acquire)) {
                throw InUseError(message(what, " is in use by another thread: one object must not be used "
                                               "from two threads at once"));
            }
        }
        ~Scope() { object_.busy_.store(false, std::memory_order_release); }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        const ExclusiveUse& object_;
    };

private:
    mutable std::atomic<bool> busy_{false};
};

}  // namespace vsched
