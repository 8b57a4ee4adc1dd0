// LRU-K behind the policy interface: vsched::LruKCache, unchanged (rules in
// docs/engines/memory.md, section LRUK).
#pragma once

#include <memory>
#include <optional>

#include "vsched/eviction/policy.hpp"
#include "vsched/lruk.hpp"

namespace vsched {

class LruKEviction final : public EvictionPolicy {
public:
    LruKEviction(std::uint64_t capacity, int k, std::uint64_t crp, std::optional<std::uint64_t> rip,
                 std::optional<std::uint64_t> history)
        : cache_(std::make_unique<LruKCache>(capacity, k, crp, rip, history)) {}
    // LruKCache makes hit and admission one reference: access() makes it
    // whole, and the admit() that follows a miss has nothing left to do
    // (admit() of a key access() did not just miss references it).
    bool access(std::uint64_t key) override {
        const bool hit = cache_->access(key);
        admitted_ = key;
        pending_ = !hit;
        return hit;
    }
    void admit(std::uint64_t key) override {
        if (!pending_ || admitted_ != key) cache_->access(key);
        pending_ = false;
    }
    std::optional<std::uint64_t> evict() override;          // std::logic_error: only to admit a key
    bool remove(std::uint64_t key) override;                // std::logic_error: only by eviction
    bool contains(std::uint64_t key) const override { return cache_->contains(key); }
    std::size_t size() const override { return cache_->size(); }
    std::uint64_t evictions() const override { return cache_->evictions(); }
    std::size_t memory_bytes() const override { return cache_->memory_bytes(); }
    void save(StateWriter& out) const override;
    void load(StateReader& in) override;
    const LruKCache& cache() const { return *cache_; }

private:
    std::unique_ptr<LruKCache> cache_;
    // A checkpoint never falls between the two calls (KeyCache::access makes both).
    std::uint64_t admitted_ = 0;  // the key of the last access() ...
    bool pending_ = false;        // ... if it missed and its admit() has not come yet
};

}  // namespace vsched
