// Small, stable integer hashing shared by pure modules.
#pragma once

#include <cstdint>
#include <string_view>

namespace skyport {

// murmur3's fmix64 finalizer: every input bit affects every output bit.
// Frozen: contract/split.h's user positions depend on it.
inline uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// 64-bit FNV-1a of `bytes`, continuing from `h` (the offset basis to start).
// Frozen like Fmix64. Its high bits mix poorly: finish with Fmix64.
inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
inline uint64_t Fnv1a(std::string_view bytes, uint64_t h = kFnvOffset) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace skyport
