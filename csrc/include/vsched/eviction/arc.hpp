// ARC, Megiddo & Modha (FAST 2003), as libCacheSim runs it (rules A1-A5,
// docs/engines/eviction.md): T1/T2 resident, B1/B2 ghosts, target p a double.
#pragma once

#include "vsched/eviction/key_list.hpp"
#include "vsched/eviction/policy.hpp"

namespace vsched {

class ArcPolicy final : public EvictionPolicy {
public:
    explicit ArcPolicy(std::uint64_t capacity) : capacity_(capacity) {}
    bool access(std::uint64_t key) override;
    void admit(std::uint64_t key) override;
    std::optional<std::uint64_t> evict() override;
    bool remove(std::uint64_t key) override;
    bool contains(std::uint64_t key) const override { return t1_.contains(key) || t2_.contains(key); }
    std::size_t size() const override { return t1_.size() + t2_.size(); }
    std::uint64_t evictions() const override { return evictions_; }
    std::size_t memory_bytes() const override;
    void save(StateWriter& out) const override;
    void load(StateReader& in) override;

private:
    std::uint64_t replace();         // A3
    std::uint64_t evict_for_new();   // A4

    std::uint64_t capacity_, evictions_ = 0;
    double p_ = 0.0;
    std::uint8_t ghost_ = 0;  // 1 / 2: the key being admitted was found in B1 / B2
    KeyList t1_, t2_, b1_, b2_;  // front = LRU end
};

}  // namespace vsched
