// The eviction-policy interface of the key caches (vsched::KeyCache).
//
// A policy owns the resident set of a cache of `capacity` keys and whatever
// it remembers of non-resident keys (ghosts). Per reference to `key` the cache
// calls access(key); on false (a miss) admit(key), which evicts as the
// policy's rule says and makes `key` resident. One header and one source per
// policy; the rules are numbered in docs/engines/eviction.md, and the pure-
// Python twins are src/vsched/reference/eviction/ (bit-identical results).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace vsched {

class StateWriter;
class StateReader;

class EvictionPolicy {
public:
    virtual ~EvictionPolicy() = default;

    // A reference to `key`: true if resident (the hit update is done); false
    // otherwise, and then the caller calls admit(key) next (a policy may note
    // what it found about the key, e.g. a ghost hit).
    virtual bool access(std::uint64_t key) = 0;
    // After access(key) returned false: evicts as the rule says, then `key` is resident.
    virtual void admit(std::uint64_t key) = 0;
    // Evicts one resident key by the policy's victim rule now (nullopt if none).
    virtual std::optional<std::uint64_t> evict() = 0;
    // Forgets `key` (resident or remembered): true if the policy knew it.
    virtual bool remove(std::uint64_t key) = 0;

    virtual bool contains(std::uint64_t key) const = 0;  // resident?
    virtual std::size_t size() const = 0;                // resident keys
    virtual std::uint64_t evictions() const = 0;         // resident keys that left to make room
    virtual std::size_t memory_bytes() const = 0;

    // The policy's whole state (its arguments are the owner's to check).
    // load() throws std::invalid_argument on a damaged state.
    virtual void save(StateWriter& out) const = 0;
    virtual void load(StateReader& in) = 0;
};

}  // namespace vsched
