// An ordered set of 64-bit keys, each with a small value: O(1) find, append at
// the back, move to the back, pop at the front, erase (a hash map into an
// intrusive doubly linked list over a node pool). Every policy's queues and
// stacks are KeyLists: "front" is the LRU end / bottom / next victim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vsched {

class StateWriter;
class StateReader;

class KeyList {
public:
    static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

    std::size_t size() const { return index_.size(); }
    bool empty() const { return index_.empty(); }
    bool contains(std::uint64_t key) const { return index_.count(key) != 0; }
    // The key's value, or nullptr if absent.
    std::uint8_t* find(std::uint64_t key) {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &nodes_[it->second].value;
    }
    const std::uint8_t* find(std::uint64_t key) const {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &nodes_[it->second].value;
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

    std::vector<Node> nodes_;
    std::vector<std::uint32_t> free_;
    std::unordered_map<std::uint64_t, std::uint32_t> index_;
    std::uint32_t head_ = kNone, tail_ = kNone;
};

}  // namespace vsched
