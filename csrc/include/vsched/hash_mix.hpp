// 64-bit key mixing shared by the open-addressing tables (LRU-K's key table,
// the memory manager's content index).
#pragma once

#include <cstdint>

namespace vsched {

// Murmur3 finalizer: a bijective mix so that keys with regular low bits
// (page numbers, frame numbers, fingerprints of similar content) spread over
// the table.
inline std::uint64_t hash_mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

}  // namespace vsched
