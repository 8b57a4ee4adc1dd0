// LRU-K behind the policy interface (rules: docs/engines/memory.md, LRUK).
#include "vsched/eviction/lruk.hpp"

#include <stdexcept>

#include "vsched/state_io.hpp"

namespace vsched {

std::optional<std::uint64_t> LruKEviction::evict() {
    throw std::logic_error("lruk evicts only to admit a key");
}

bool LruKEviction::remove(std::uint64_t) { throw std::logic_error("lruk keys leave only by eviction"); }

void LruKEviction::save(StateWriter& out) const { out.put_string(cache_->save()); }

void LruKEviction::load(StateReader& in) { cache_ = LruKCache::load(in.get_string()); }

}  // namespace vsched
