// LIRS as libCacheSim runs it: rules I1-I8 of docs/engines/eviction.md.
#include "vsched/eviction/lirs.hpp"

#include <algorithm>
#include <stdexcept>

#include "vsched/state_io.hpp"

namespace vsched {

std::pair<std::uint64_t, std::uint64_t> lirs_limits(std::uint64_t capacity) {
    const auto hir = std::max<std::uint64_t>(1, std::uint64_t(0.01 * double(capacity)));  // I1
    return {capacity - hir, hir};
}

LirsPolicy::LirsPolicy(std::uint64_t capacity) : capacity_(capacity) {
    if (capacity < 2) throw std::invalid_argument("lirs needs capacity >= 2");
    std::tie(lir_limit_, hir_limit_) = lirs_limits(capacity);
}

void LirsPolicy::prune() {  // I2: non-LIR entries off the bottom of S, never its last one
    while (s_.size() > 1 && !(s_.front_value() & kLir)) {
        const auto [key, flags] = s_.pop_front();
        if (!(flags & kResident)) nh_.erase(key);
    }
}

void LirsPolicy::evict_hir() {  // I3
    const std::uint64_t key = q_.pop_front().first;
    --hirs_;
    --occupied_;
    ++evictions_;
    if (std::uint8_t* flags = s_.find(key)) {
        *flags &= std::uint8_t(~kResident);
        nh_.push_back(key);
    }
}

void LirsPolicy::demote_lir() {  // I4
    const std::uint64_t key = s_.pop_front().first;
    --lirs_;
    --occupied_;
    while (hirs_ + 1 > std::int64_t(hir_limit_)) evict_hir();
    q_.push_back(key);
    ++hirs_;
    ++occupied_;
    prune();
}

void LirsPolicy::limit_stack() {  // I8
    while (s_.size() > 2 * capacity_ && !nh_.empty()) s_.erase(nh_.pop_front().first);
}

bool LirsPolicy::access(std::uint64_t key) {
    std::uint8_t* entry = s_.find(key);
    const bool in_q = q_.contains(key);
    if (entry) s_.move_to_back(key);  // I5: to the top of S and the back of Q
    if (in_q) q_.move_to_back(key);
    if (entry) {
        if (*entry & kLir) {  // I5a
            prune();
        } else if (*entry & kResident) {  // I5b
            if (in_q) {
                q_.erase(key);
                --hirs_;
                --occupied_;
            }
            make_lir_room();
            // demote_lir() pops S's bottom: only a one-entry S loses this key (then, as in
            // the reference, the status lands on no entry)
            if (std::uint8_t* flags = s_.find(key)) *flags |= kLir;
            ++lirs_;
            ++occupied_;
        } else {
            return false;  // non-resident HIR: a miss
        }
    } else if (in_q) {  // I5c
        make_lir_room();
        s_.push_back(key, kResident);
    } else {
        return false;
    }
    limit_stack();
    return true;
}

void LirsPolicy::admit(std::uint64_t key) {
    if (s_.contains(key)) {  // I6
        make_lir_room();
        nh_.erase(key);
        while (occupied_ + 1 > std::int64_t(capacity_)) {
            while (hirs_ >= std::int64_t(hir_limit_)) evict_hir();
            demote_lir();
        }
        if (std::uint8_t* flags = s_.find(key)) *flags = kLir | kResident;
        ++lirs_;
    } else {  // I7
        if (both_full()) {
            while (hirs_ + 1 > std::int64_t(hir_limit_)) evict_hir();
        }
        while (occupied_ + 1 > std::int64_t(capacity_) && both_full()) evict_hir();
        if (lirs_ + 1 <= std::int64_t(lir_limit_)) {
            s_.push_back(key, kLir | kResident);
            ++lirs_;
        } else {
            s_.push_back(key, kResident);
            q_.push_back(key);
            ++hirs_;
        }
    }
    ++occupied_;
    limit_stack();
}

std::optional<std::uint64_t> LirsPolicy::evict() {
    if (q_.empty()) {
        if (lirs_ == 0) return std::nullopt;
        demote_lir();
    }
    const std::uint64_t key = q_.front();
    evict_hir();
    return key;
}

bool LirsPolicy::remove(std::uint64_t key) {
    const std::uint8_t* found = s_.find(key);
    const std::uint8_t flags = found ? *found : 0;
    const bool in_s = found != nullptr;
    if (in_s) s_.erase(key);
    const bool in_q = q_.erase(key);
    if (!in_s && !in_q) return false;
    if (in_s && (flags & kLir)) {
        --lirs_;
        --occupied_;
        prune();
    } else if ((in_s && (flags & kResident)) || in_q) {
        --hirs_;
        --occupied_;
    }
    if (in_s && !(flags & kResident)) nh_.erase(key);
    return true;
}

bool LirsPolicy::contains(std::uint64_t key) const {
    if (q_.contains(key)) return true;
    const std::uint8_t* flags = s_.find(key);
    return flags && (*flags & kResident);
}

std::size_t LirsPolicy::memory_bytes() const {
    return sizeof(*this) + s_.memory_bytes() + q_.memory_bytes() + nh_.memory_bytes();
}

void LirsPolicy::save(StateWriter& out) const {
    out.put(evictions_);
    out.put(lirs_);
    out.put(hirs_);
    out.put(occupied_);
    s_.save(out);
    q_.save(out);
    nh_.save(out);
}

void LirsPolicy::load(StateReader& in) {
    evictions_ = in.get<std::uint64_t>();
    lirs_ = in.get<std::int64_t>();
    hirs_ = in.get<std::int64_t>();
    occupied_ = in.get<std::int64_t>();
    s_.load(in);
    q_.load(in);
    nh_.load(in);
    const auto c = std::int64_t(capacity_);
    if (lirs_ < -c || lirs_ > c || hirs_ < -c || hirs_ > c || occupied_ < -c || occupied_ > c ||
        s_.size() > 2 * capacity_ + capacity_ || q_.size() > capacity_ || nh_.size() > s_.size()) {
        throw std::invalid_argument("damaged checkpoint: LIRS state out of range");
    }
}

}  // namespace vsched
