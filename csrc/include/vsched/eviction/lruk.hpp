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
    // LruKCache makes hit and admission one reference: a miss is replayed by admit().
    bool access(std::uint64_t key) override { return cache_->contains(key) && cache_->access(key); }
    void admit(std::uint64_t key) override { cache_->access(key); }
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
};

}  // namespace vsched
