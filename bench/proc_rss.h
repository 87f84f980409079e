// A process's resident set size, threads and CPU time, for the benchmarks'
// memory and CPU figures (read from /proc).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace skyport::bench {

// A line "Name:  value [kB]" of /proc/PID/status as a number; -1 if absent.
inline int64_t StatusField(int pid, const std::string& name) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ":", 0) == 0) return std::stoll(line.substr(name.size() + 1));
  return -1;
}

// VmRSS of /proc/PID/status in kB; -1 if it cannot be read.
inline int64_t RssKb(int pid) { return StatusField(pid, "VmRSS"); }

// utime + stime of /proc/PID/stat in milliseconds; -1 if it cannot be read.
inline int64_t CpuMs(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields;  // from field 3 (state) on
  for (size_t at = close + 2; at < stat.size() && fields.size() < 13;) {
    size_t sp = stat.find(' ', at);
    fields.push_back(stat.substr(at, sp == std::string::npos ? std::string::npos : sp - at));
    if (sp == std::string::npos) break;
    at = sp + 1;
  }
  if (fields.size() < 13) return -1;  // fields[11], [12]: utime and stime (stat fields 14, 15)
  const long hz = sysconf(_SC_CLK_TCK);
  return (std::stoll(fields[11]) + std::stoll(fields[12])) * 1000 / (hz > 0 ? hz : 100);
}

}  // namespace skyport::bench
