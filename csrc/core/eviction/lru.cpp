// LRU: rules L1-L2 of docs/engines/eviction.md.
#include "vsched/eviction/lru.hpp"

#include "vsched/state_io.hpp"

namespace vsched {

bool LruPolicy::access(std::uint64_t key) { return order_.move_to_back(key); }  // L1

void LruPolicy::admit(std::uint64_t key) {
    if (order_.size() >= capacity_) evict();  // L2
    order_.push_back(key);
}

std::optional<std::uint64_t> LruPolicy::evict() {
    if (order_.empty()) return std::nullopt;
    ++evictions_;
    return order_.pop_front().first;
}

void LruPolicy::save(StateWriter& out) const {
    out.put(evictions_);
    order_.save(out);
}

void LruPolicy::load(StateReader& in) {
    evictions_ = in.get<std::uint64_t>();
    order_.load(in);
    if (order_.size() > capacity_) throw std::invalid_argument("damaged checkpoint: more keys than capacity");
}

}  // namespace vsched
