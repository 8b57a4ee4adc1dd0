// CLOCK: rules C1-C3 of docs/engines/eviction.md.
#include "vsched/eviction/clock.hpp"

#include "vsched/state_io.hpp"

namespace vsched {

bool ClockPolicy::access(std::uint64_t key) {
    std::uint8_t* count = ring_.find(key);
    if (!count) return false;
    if (*count < max_) ++*count;  // C1: saturating counter
    return true;
}

void ClockPolicy::admit(std::uint64_t key) {
    if (ring_.size() >= capacity_) evict();
    ring_.push_back(key, 0);  // C3: behind the hand, counter 0
}

std::optional<std::uint64_t> ClockPolicy::evict() {
    if (ring_.empty()) return std::nullopt;
    for (;;) {  // C2: counter > 0 under the hand -> one less, behind the hand
        const auto [key, count] = ring_.pop_front();
        if (count == 0) {
            ++evictions_;
            return key;
        }
        ring_.push_back(key, std::uint8_t(count - 1));
    }
}

void ClockPolicy::save(StateWriter& out) const {
    out.put(evictions_);
    ring_.save(out);
}

void ClockPolicy::load(StateReader& in) {
    evictions_ = in.get<std::uint64_t>();
    ring_.load(in);
    if (ring_.size() > capacity_) throw std::invalid_argument("damaged checkpoint: more keys than capacity");
}

}  // namespace vsched
