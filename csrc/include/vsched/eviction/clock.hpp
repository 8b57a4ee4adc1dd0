// CLOCK with an n-bit reference counter (rules C1-C3, docs/engines/eviction.md).
#pragma once

#include "vsched/eviction/key_list.hpp"
#include "vsched/eviction/policy.hpp"

namespace vsched {

class ClockPolicy final : public EvictionPolicy {
public:
    ClockPolicy(std::uint64_t capacity, int bits) : capacity_(capacity), max_(std::uint8_t((1u << bits) - 1)) {}
    bool access(std::uint64_t key) override;
    void admit(std::uint64_t key) override;
    std::optional<std::uint64_t> evict() override;
    bool remove(std::uint64_t key) override { return ring_.erase(key); }
    bool contains(std::uint64_t key) const override { return ring_.contains(key); }
    std::size_t size() const override { return ring_.size(); }
    std::uint64_t evictions() const override { return evictions_; }
    std::size_t memory_bytes() const override { return sizeof(*this) + ring_.memory_bytes(); }
    void save(StateWriter& out) const override;
    void load(StateReader& in) override;

private:
    std::uint64_t capacity_, evictions_ = 0;
    std::uint8_t max_;  // 2**bits - 1
    KeyList ring_;      // front = under the hand; value = the counter
};

}  // namespace vsched
