// ARC: rules A1-A5 of docs/engines/eviction.md.
#include "vsched/eviction/arc.hpp"

#include <algorithm>

#include "vsched/state_io.hpp"

namespace vsched {

bool ArcPolicy::access(std::uint64_t key) {
    if (t1_.erase(key)) {  // A1
        t2_.push_back(key);
        return true;
    }
    if (t2_.move_to_back(key)) return true;
    ghost_ = 0;
    // A2: p += max(|B2|/|B1|, 1) (at most c) on a B1 hit, p -= max(|B1|/|B2|, 1) (at least 0) on a B2 hit
    if (b1_.contains(key)) {
        p_ = std::min(p_ + std::max(double(b2_.size()) / double(b1_.size()), 1.0), double(capacity_));
        b1_.erase(key);
        ghost_ = 1;
    } else if (b2_.contains(key)) {
        p_ = std::max(p_ - std::max(double(b1_.size()) / double(b2_.size()), 1.0), 0.0);
        b2_.erase(key);
        ghost_ = 2;
    }
    return false;
}

std::uint64_t ArcPolicy::replace() {  // A3
    const double t1 = double(t1_.size());
    std::uint64_t key;
    if ((t1_.size() > 0 && (t1 > p_ || (t1 == p_ && ghost_ == 2))) || t2_.empty()) {
        key = t1_.pop_front().first;
        b1_.push_back(key);
    } else {
        key = t2_.pop_front().first;
        b2_.push_back(key);
    }
    ++evictions_;
    return key;
}

std::uint64_t ArcPolicy::evict_for_new() {  // A4
    const std::uint64_t c = capacity_;
    if (t1_.size() + b1_.size() + 1 > c) {
        if (!b1_.empty()) {
            b1_.pop_front();
            return replace();
        }
        ++evictions_;
        return t1_.pop_front().first;  // T1 alone fills the cache: no ghost kept
    }
    if (t1_.size() + b1_.size() + t2_.size() + b2_.size() >= 2 * c && !b2_.empty()) b2_.pop_front();
    return replace();
}

void ArcPolicy::admit(std::uint64_t key) {
    while (t1_.size() + t2_.size() + 1 > capacity_) {
        if (ghost_) {
            replace();
        } else {
            evict_for_new();
        }
    }
    if (ghost_) {  // A5
        t2_.push_back(key);
        ghost_ = 0;
    } else {
        t1_.push_back(key);
    }
}

std::optional<std::uint64_t> ArcPolicy::evict() {
    if (t1_.empty() && t2_.empty()) return std::nullopt;
    ghost_ = 0;
    return evict_for_new();
}

bool ArcPolicy::remove(std::uint64_t key) {
    return t1_.erase(key) || t2_.erase(key) || b1_.erase(key) || b2_.erase(key);
}

std::size_t ArcPolicy::memory_bytes() const {
    return sizeof(*this) + t1_.memory_bytes() + t2_.memory_bytes() + b1_.memory_bytes() + b2_.memory_bytes();
}

void ArcPolicy::save(StateWriter& out) const {
    out.put(evictions_);
    out.put(p_);
    out.put(ghost_);
    t1_.save(out);
    t2_.save(out);
    b1_.save(out);
    b2_.save(out);
}

void ArcPolicy::load(StateReader& in) {
    evictions_ = in.get<std::uint64_t>();
    p_ = in.get<double>();
    ghost_ = in.get<std::uint8_t>();
    t1_.load(in);
    t2_.load(in);
    b1_.load(in);
    b2_.load(in);
    if (t1_.size() + t2_.size() > capacity_ || ghost_ > 2 || !(p_ >= 0.0 && p_ <= double(capacity_))) {
        throw std::invalid_argument("damaged checkpoint: ARC state out of range");
    }
}

}  // namespace vsched
