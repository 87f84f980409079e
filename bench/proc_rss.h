// A process's resident set size, for the benchmarks' memory figures.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <fmt/format.h>

namespace skyport::bench {

// VmRSS of /proc/PID/status in kB; -1 if it cannot be read.
inline int64_t RssKb(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

}  // namespace skyport::bench
