// An ordered set of 64-bit keys, each with a small value: O(1) find, append at
// the back, move to the back, pop at the front, erase (an open-addressing
// index, containers/slot_index.hpp, into an intrusive doubly linked list over
// a node pool; the key lives in its node). Every policy's queues and stacks
// are KeyLists: "front" is the LRU end / bottom / next victim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "vsched/containers/slot_index.hpp"
#include "vsched/hash_mix.hpp"

namespace vsched {

class StateWriter;
class StateReader;

class KeyList {
public:
    static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

    std::size_t size() const { return index_.size(); }
    bool empty() const { return index_.size() == 0; }
    bool contains(std::uint64_t key) const { return node_of(key) != kNone; }
    // The key's value, or nullptr if absent.
    std::uint8_t* find(std::uint64_t key) {
        const std::uint32_t i = node_of(key);
        return i == kNone ? nullptr : &nodes_[i].value;
    }
    const std::uint8_t* find(std::uint64_t key) const {
        const std::uint32_t i = node_of(key);
        return i == kNone ? nullptr : &nodes_[i].value;
    }
    // Appends a key not in the list; if present, moves it to the back and sets the value.
    void push_back(std::uint64_t key, std::uint8_t value = 0);
    bool move_to_back(std::uint64_t key);  // false if absent
    std::uint64_t front() const { return nodes_[head_].key; }  // requires !empty()
    std::uint8_t front_value() const { return nodes_[head_].value; }
    std::pair<std::uint64_t, std::uint8_t> pop_front();  // requires !empty()
    bool erase(std::uint64_t key);
    std::size_t memory_bytes() const;

    // Keys front to back with their values; load() refuses duplicates.
    void save(StateWriter& out) const;
    void load(StateReader& in);

private:
    struct Node {
        std::uint64_t key;
        std::uint32_t prev, next;
        std::uint8_t value;
    };
    void unlink(std::uint32_t i);
    void link_back(std::uint32_t i);
    std::uint32_t node_of(std::uint64_t key) const {
        return index_.find(hash_mix(key), [&](std::uint32_t i) { return nodes_[i].key == key; });
    }
    void unindex(std::uint32_t i) {
        index_.erase(hash_mix(nodes_[i].key), i, [&](std::uint32_t j) { return hash_mix(nodes_[j].key); });
    }

    std::vector<Node> nodes_;
    std::vector<std::uint32_t> free_;
    SlotIndex<> index_;  // key -> node
    std::uint32_t head_ = kNone, tail_ = kNone;
};

}  // namespace vsched
