// LIRS, Jiang & Zhang (SIGMETRICS 2002), as libCacheSim runs it (rules I1-I8,
// docs/engines/eviction.md): stack S, queue Q of resident HIR keys, list NH of
// non-resident HIR keys still in S.
#pragma once

#include <utility>

#include "vsched/eviction/key_list.hpp"
#include "vsched/eviction/policy.hpp"

namespace vsched {

// I1: (LIR limit, HIR limit); HIR = max(1, floor(0.01 * capacity)) in double.
std::pair<std::uint64_t, std::uint64_t> lirs_limits(std::uint64_t capacity);

class LirsPolicy final : public EvictionPolicy {
public:
    explicit LirsPolicy(std::uint64_t capacity);  // capacity >= 2
    bool access(std::uint64_t key) override;
    void admit(std::uint64_t key) override;
    std::optional<std::uint64_t> evict() override;
    bool remove(std::uint64_t key) override;
    bool contains(std::uint64_t key) const override;
    std::size_t size() const override { return std::size_t(lirs_ + hirs_); }
    std::uint64_t evictions() const override { return evictions_; }
    std::size_t memory_bytes() const override;
    void save(StateWriter& out) const override;
    void load(StateReader& in) override;

private:
    // S values: bit kLir = LIR status, bit kResident = resident.
    static constexpr std::uint8_t kLir = 1, kResident = 2;
    void prune();       // I2
    void evict_hir();   // I3
    void demote_lir();  // I4
    void make_lir_room() {
        while (lirs_ + 1 > std::int64_t(lir_limit_)) demote_lir();
    }
    void limit_stack();  // I8
    bool both_full() const {
        return lirs_ + 1 > std::int64_t(lir_limit_) && hirs_ + 1 > std::int64_t(hir_limit_);
    }

    std::uint64_t capacity_, lir_limit_, hir_limit_, evictions_ = 0;
    // Signed like the reference's counters (a quirk of rule I5c can make the
    // resident HIR count differ from Q's length).
    std::int64_t lirs_ = 0, hirs_ = 0, occupied_ = 0;
    KeyList s_, q_, nh_;  // front = bottom of S / front of Q / oldest of NH
};

}  // namespace vsched
