// Small, stable integer hashing shared by pure modules.
#pragma once

#include <cstdint>

namespace skyport {

// murmur3's fmix64 finalizer: every input bit affects every output bit.
// Frozen: router/split.h's user positions depend on it.
inline uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

}  // namespace skyport
