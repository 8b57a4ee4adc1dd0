// Per-thread scratch vectors reused from one call to the next. A fresh
// multi-megabyte vector costs more in page faults (the kernel zeroes every
// new page) than the packet engine spends on the packets in it, so the packet
// run borrows its per-packet buffers here (docs/engines/network.md, "Threads").
// A buffer is lent to one borrower at a time; a second borrow of the same slot
// on the same thread gets a vector of its own.
#pragma once

#include <vector>

namespace vsched {

template <class T, int Slot>
class Scratch {
public:
    Scratch() : owned_(!busy()) {
        if (owned_) busy() = true;
    }
    ~Scratch() {
        if (owned_) busy() = false;
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

    std::vector<T>& get() { return owned_ ? pool() : local_; }

private:
    static std::vector<T>& pool() {
        thread_local std::vector<T> kept;
        return kept;
    }
    static bool& busy() {
        thread_local bool lent = false;
        return lent;
    }
    bool owned_;
    std::vector<T> local_;
};

}  // namespace vsched
