// Latency summaries the load generators in bench/ share:
// one JSON shape ({"n", "p50_ms", "p99_ms", "max_ms"}) so the runner scripts
// read every tool's output the same way.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace skyport::bench {

inline double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The sample at rank p% (nearest rank; reorders `v`); 0 for no samples.
inline double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

inline nlohmann::json LatencyJson(std::vector<double> v) {
  if (v.empty()) return {{"n", 0}};
  double mx = *std::max_element(v.begin(), v.end());
  return {{"n", v.size()}, {"p50_ms", Percentile(v, 50)}, {"p99_ms", Percentile(v, 99)}, {"max_ms", mx}};
}

}  // namespace skyport::bench
