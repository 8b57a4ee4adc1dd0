// LRU (rules L1-L2, docs/engines/eviction.md): hit -> most recent; full -> least recent goes.
#pragma once

#include "vsched/eviction/key_list.hpp"
#include "vsched/eviction/policy.hpp"

namespace vsched {

class LruPolicy final : public EvictionPolicy {
public:
    explicit LruPolicy(std::uint64_t capacity) : capacity_(capacity) {}
    bool access(std::uint64_t key) override;
    void admit(std::uint64_t key) override;
    std::optional<std::uint64_t> evict() override;
    bool remove(std::uint64_t key) override { return order_.erase(key); }
    bool contains(std::uint64_t key) const override { return order_.contains(key); }
    std::size_t size() const override { return order_.size(); }
    std::uint64_t evictions() const override { return evictions_; }
    std::size_t memory_bytes() const override { return sizeof(*this) + order_.memory_bytes(); }
    void save(StateWriter& out) const override;
    void load(StateReader& in) override;

private:
    std::uint64_t capacity_, evictions_ = 0;
    KeyList order_;  // front = least recently used
};

}  // namespace vsched
