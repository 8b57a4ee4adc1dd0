// VM id -> column of a dense per-VM table whose ids are held by the owner in
// column order (ids[column] = id; removing a column moves the later ones down
// by one), as the reallocator and the network scheduler keep their VMs. One
// SlotIndex (containers/slot_index.hpp) over the owner's ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vsched/containers/slot_index.hpp"
#include "vsched/hash_mix.hpp"

namespace vsched {

class IdColumns {
public:
    static constexpr std::uint32_t kNone = SlotIndex<>::kNone;

    std::uint32_t find(const std::vector<std::int64_t>& ids, std::int64_t id) const {
        return index_.find(hash(id), [&](std::uint32_t c) { return ids[c] == id; });
    }
    // Room for columns 0..n-1 (the only allocation: call before changing anything).
    void reserve(const std::vector<std::int64_t>& ids, std::size_t n) {
        index_.grow_to_hold(n, [&](std::uint32_t c) { return hash(ids[c]); });
    }
    // id (not indexed) at `column` (room reserved); ids[column] may be set after.
    void insert(std::int64_t id, std::size_t column) { index_.insert(hash(id), std::uint32_t(column)); }
    // Takes out `column` and renumbers the later ones; `ids` as before the
    // owner erases ids[column]. O(ids.size() - column).
    void remove(const std::vector<std::int64_t>& ids, std::size_t column) {
        index_.erase(hash(ids[column]), std::uint32_t(column), [&](std::uint32_t c) { return hash(ids[c]); });
        for (std::size_t c = column + 1; c < ids.size(); ++c) {
            index_.relabel(hash(ids[c]), std::uint32_t(c), std::uint32_t(c - 1));
        }
    }
    std::size_t bytes() const { return index_.bytes(); }

private:
    static std::uint64_t hash(std::int64_t id) { return hash_mix(static_cast<std::uint64_t>(id)); }
    SlotIndex<> index_;
};

}  // namespace vsched
