// A cache of 64-bit keys over any eviction policy (vsched.Cache). Time is the
// number of references; a reference is a hit (the key is resident) or a miss
// (the policy admits the key, evicting by its rule). Policies and their rules:
// vsched/eviction/*.hpp and docs/engines/eviction.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vsched/eviction/policy.hpp"
#include "vsched/exclusive_use.hpp"
#include "vsched/interrupt.hpp"

namespace vsched {

struct PolicyArgs {
    int bits = 1;  // clock
    int k = 2;     // lruk
    std::uint64_t crp = 0;
    std::optional<std::uint64_t> rip, history;
};

class KeyCache : public ExclusiveUse {
public:
    // Throws std::invalid_argument naming the bad argument (unknown policy,
    // capacity below the policy's least, bits / k out of range).
    KeyCache(std::uint64_t capacity, const std::string& policy, const PolicyArgs& args);

    bool access(std::uint64_t key) {
        ++t_;
        if (policy_->access(key)) {
            ++hits_;
            return true;
        }
        ++misses_;
        policy_->admit(key);
        return false;
    }
    // References keys[0..n) in order; polls `interrupt` between references:
    // on Interrupted the first i keys are referenced, as if only they were given.
    void access_many(const std::uint64_t* keys, std::size_t n, bool* hit_out, Interrupt* interrupt = nullptr);
    bool contains(std::uint64_t key) const { return policy_->contains(key); }

    std::uint64_t capacity() const { return capacity_; }
    const std::string& policy_name() const { return name_; }
    const PolicyArgs& args() const { return args_; }
    std::uint64_t time() const { return t_; }
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }
    std::uint64_t evictions() const { return policy_->evictions(); }
    std::size_t size() const { return policy_->size(); }
    std::size_t memory_bytes() const { return sizeof(*this) + policy_->memory_bytes(); }

    std::string save() const;
    static std::unique_ptr<KeyCache> load(const std::string& bytes);

private:
    std::uint64_t capacity_;
    std::string name_;
    PolicyArgs args_;
    std::unique_ptr<EvictionPolicy> policy_;
    std::uint64_t t_ = 0, hits_ = 0, misses_ = 0;
};

}  // namespace vsched
