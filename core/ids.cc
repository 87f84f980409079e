#include "core/ids.h"

#include <sys/random.h>

#include <fmt/format.h>

namespace skyport {

SystemRandom::SystemRandom() : rng_(std::random_device{}()) {}

std::string NewHexId(Random& random) {
  // Two statements: the order of evaluation of function arguments is unspecified.
  const uint64_t hi = random.Next();
  const uint64_t lo = random.Next();
  return fmt::format("{:016x}{:016x}", hi, lo);
}

std::string SecureHexId() {
  uint64_t words[2] = {0, 0};
  size_t got = 0;
  auto* p = reinterpret_cast<char*>(words);
  while (got < sizeof(words)) {
    ssize_t n = ::getrandom(p + got, sizeof(words) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return fmt::format("{:016x}{:016x}", words[0], words[1]);
}

}  // namespace skyport
