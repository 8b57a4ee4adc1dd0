#include "vsched/cache.hpp"

#include <stdexcept>

#include "vsched/errors.hpp"
#include "vsched/eviction/arc.hpp"
#include "vsched/eviction/clock.hpp"
#include "vsched/eviction/lirs.hpp"
#include "vsched/eviction/lru.hpp"
#include "vsched/eviction/lruk.hpp"
#include "vsched/state_io.hpp"

namespace vsched {

namespace {

constexpr const char* kKind = "Cache";
constexpr std::uint32_t kLayout = 1;

std::unique_ptr<EvictionPolicy> make_policy(std::uint64_t capacity, const std::string& name, const PolicyArgs& a) {
    if (capacity < 1) throw std::invalid_argument(message("capacity = ", capacity, ": capacity must be >= 1"));
    if (name == "lru") return std::make_unique<LruPolicy>(capacity);
    if (name == "clock") {
        if (a.bits < 1 || a.bits > 8) throw std::invalid_argument(message("bits = ", a.bits, ": bits must be in 1..8"));
        return std::make_unique<ClockPolicy>(capacity, a.bits);
    }
    if (name == "arc") return std::make_unique<ArcPolicy>(capacity);
    if (name == "lirs") {
        if (capacity < 2) {
            throw std::invalid_argument(message("capacity = ", capacity, ": capacity must be >= 2 for policy 'lirs'"));
        }
        return std::make_unique<LirsPolicy>(capacity);
    }
    if (name == "lruk") {
        if (a.k < 1 || a.k > LruKPolicy::kMaxK) {
            throw std::invalid_argument(message("k = ", a.k, ": k must be in 1..", LruKPolicy::kMaxK));
        }
        return std::make_unique<LruKEviction>(capacity, a.k, a.crp, a.rip, a.history);
    }
    throw std::invalid_argument(message("policy = '", name, "': policy must be one of arc, clock, lirs, lru, lruk"));
}

}  // namespace

KeyCache::KeyCache(std::uint64_t capacity, const std::string& policy, const PolicyArgs& args)
    : capacity_(capacity), name_(policy), args_(args), policy_(make_policy(capacity, policy, args)) {}

void KeyCache::access_many(const std::uint64_t* keys, std::size_t n, bool* hit_out, Interrupt* interrupt) {
    InterruptPoll poll(interrupt);
    for (std::size_t i = 0; i < n; ++i) {
        poll();  // between references: on Interrupted exactly keys[0..i) are referenced
        hit_out[i] = access(keys[i]);
    }
}

std::string KeyCache::save() const {
    StateWriter out(kKind, kLayout);
    out.put_string(name_);
    out.put(capacity_);
    out.put(std::int64_t(args_.bits));
    out.put(std::int64_t(args_.k));
    out.put(args_.crp);
    out.put(std::uint8_t(args_.rip.has_value()));
    out.put(args_.rip.value_or(0));
    out.put(std::uint8_t(args_.history.has_value()));
    out.put(args_.history.value_or(0));
    out.put(t_);
    out.put(hits_);
    out.put(misses_);
    policy_->save(out);
    return out.take();
}

std::unique_ptr<KeyCache> KeyCache::load(const std::string& bytes) {
    StateReader in(bytes, kKind, kLayout);
    const std::string name = in.get_string();
    const auto capacity = in.get<std::uint64_t>();
    PolicyArgs a;
    a.bits = int(in.get<std::int64_t>());
    a.k = int(in.get<std::int64_t>());
    a.crp = in.get<std::uint64_t>();
    const bool has_rip = in.get<std::uint8_t>() != 0;
    const auto rip = in.get<std::uint64_t>();
    if (has_rip) a.rip = rip;
    const bool has_history = in.get<std::uint8_t>() != 0;
    const auto history = in.get<std::uint64_t>();
    if (has_history) a.history = history;
    auto c = std::make_unique<KeyCache>(capacity, name, a);
    c->t_ = in.get<std::uint64_t>();
    c->hits_ = in.get<std::uint64_t>();
    c->misses_ = in.get<std::uint64_t>();
    if (c->hits_ + c->misses_ != c->t_) throw std::invalid_argument("damaged checkpoint: counters disagree");
    c->policy_->load(in);
    in.expect_end();
    return c;
}

}  // namespace vsched
