// Randomness as an input, and the ids made from it.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace skyport {

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t Next() = 0;
  double Uniform01() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

// Seeded from std::random_device; not for secrets.
class SystemRandom final : public Random {
 public:
  SystemRandom();
  uint64_t Next() override { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

// Deterministic sequence for tests.
class FakeRandom final : public Random {
 public:
  explicit FakeRandom(uint64_t seed = 42) : rng_(seed) {}
  uint64_t Next() override { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

// 32 lowercase hex characters (128 bits).
std::string NewHexId(Random& random);

// Unguessable 128-bit hex string from the OS (getrandom), for tokens.
std::string SecureHexId();

}  // namespace skyport
