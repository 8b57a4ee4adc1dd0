#include "vsched/eviction/key_list.hpp"

#include <stdexcept>

#include "vsched/state_io.hpp"

namespace vsched {

void KeyList::unlink(std::uint32_t i) {
    Node& n = nodes_[i];
    (n.prev == kNone ? head_ : nodes_[n.prev].next) = n.next;
    (n.next == kNone ? tail_ : nodes_[n.next].prev) = n.prev;
}

void KeyList::link_back(std::uint32_t i) {
    Node& n = nodes_[i];
    n.prev = tail_;
    n.next = kNone;
    (tail_ == kNone ? head_ : nodes_[tail_].next) = i;
    tail_ = i;
}

void KeyList::push_back(std::uint64_t key, std::uint8_t value) {
    const std::uint64_t h = hash_mix(key);
    const std::uint32_t found = index_.find(h, [&](std::uint32_t j) { return nodes_[j].key == key; });
    if (found != kNone) {
        nodes_[found].value = value;
        unlink(found);
        link_back(found);
        return;
    }
    const std::uint32_t i = index_.take_slot(free_, nodes_.size(), [&](std::uint32_t j) { return hash_mix(nodes_[j].key); });
    if (i == nodes_.size()) nodes_.push_back({});
    nodes_[i].key = key;
    nodes_[i].value = value;
    index_.insert(h, i);
    link_back(i);
}

bool KeyList::move_to_back(std::uint64_t key) {
    const std::uint32_t i = node_of(key);
    if (i == kNone) return false;
    if (i != tail_) {
        unlink(i);
        link_back(i);
    }
    return true;
}

std::pair<std::uint64_t, std::uint8_t> KeyList::pop_front() {
    const std::uint32_t i = head_;
    const std::pair<std::uint64_t, std::uint8_t> out{nodes_[i].key, nodes_[i].value};
    unlink(i);
    unindex(i);
    free_.push_back(i);
    return out;
}

bool KeyList::erase(std::uint64_t key) {
    const std::uint32_t i = node_of(key);
    if (i == kNone) return false;
    unlink(i);
    unindex(i);
    free_.push_back(i);
    return true;
}

std::size_t KeyList::memory_bytes() const {
    return nodes_.capacity() * sizeof(Node) + free_.capacity() * sizeof(std::uint32_t) + index_.bytes();
}

void KeyList::save(StateWriter& out) const {
    std::vector<std::uint64_t> keys;
    std::vector<std::uint8_t> values;
    keys.reserve(size());
    values.reserve(size());
    for (std::uint32_t i = head_; i != kNone; i = nodes_[i].next) {
        keys.push_back(nodes_[i].key);
        values.push_back(nodes_[i].value);
    }
    out.put_vector(keys);
    out.put_vector(values);
}

void KeyList::load(StateReader& in) {
    const auto keys = in.get_vector<std::uint64_t>();
    const auto values = in.get_vector<std::uint8_t>();
    if (keys.size() != values.size()) throw std::invalid_argument("damaged checkpoint: key list lengths differ");
    *this = KeyList();
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (contains(keys[i])) throw std::invalid_argument("damaged checkpoint: a key listed twice");
        push_back(keys[i], values[i]);
    }
}

}  // namespace vsched
