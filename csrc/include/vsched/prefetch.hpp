// Software prefetch that the compiler keeps.
//
// A prefetch changes no result, so GCC 12 may delete a __builtin_prefetch
// (with the loads that compute its address) when nothing else in the branch
// has an effect: measured on LRU-K's record prefetch, which vanished from the
// object code. A volatile asm statement is never deleted. Purely a hint.
#pragma once

namespace vsched {

inline void prefetch_line(const void* p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p);
#endif
}

}  // namespace vsched
