#include <catch2/catch.hpp>

#include <string>

#include "registry/metrics.h"

namespace skyport::registry {
namespace {

TEST_CASE("RenderMetrics: every metric with HELP, TYPE and its value", "[registry][metrics]") {
  OwnerStats s;
  s.batches = 12;
  s.calls = 345;
  s.commit_failures = 2;
  s.leases_expired = 7;
  s.stalls = 8;
  s.commit_us_total = 1'500'000;
  s.revision = 99;
  s.endpoints = 5;
  s.leases = 4;
  s.allocations = 6;
  s.watchers = 3;
  const std::string out = RenderMetrics(s);
  struct Row {
    const char* name;
    const char* type;
    const char* value;
  };
  const Row rows[] = {
      {"skyport_registry_calls_total", "counter", "345"},
      {"skyport_registry_batches_total", "counter", "12"},
      {"skyport_registry_commit_failures_total", "counter", "2"},
      {"skyport_registry_commit_seconds_total", "counter", "1.5"},
      {"skyport_registry_leases_expired_total", "counter", "7"},
      {"skyport_registry_stalls_total", "counter", "8"},
      {"skyport_registry_revision", "gauge", "99"},
      {"skyport_registry_endpoints", "gauge", "5"},
      {"skyport_registry_leases", "gauge", "4"},
      {"skyport_registry_allocations", "gauge", "6"},
      {"skyport_registry_watchers", "gauge", "3"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const std::string name = r.name;
    CHECK_THAT(out, Catch::Contains("# HELP " + name + " "));
    CHECK_THAT(out, Catch::Contains("# TYPE " + name + " " + r.type + "\n"));
    CHECK_THAT(out, Catch::Contains("\n" + name + " " + r.value + "\n"));
  }
  // 3 lines per metric, newline-terminated.
  size_t lines = 0;
  for (char c : out) lines += c == '\n';
  CHECK(lines == 33);
  CHECK(out.back() == '\n');
}

TEST_CASE("RenderMetrics: zero values and large counters render exactly", "[registry][metrics]") {
  OwnerStats zero;
  std::string out = RenderMetrics(zero);
  CHECK_THAT(out, Catch::Contains("\nskyport_registry_calls_total 0\n"));
  CHECK_THAT(out, Catch::Contains("\nskyport_registry_commit_seconds_total 0\n"));
  CHECK_THAT(out, Catch::StartsWith("# HELP skyport_registry_calls_total RPCs applied by the owner.\n"
                                    "# TYPE skyport_registry_calls_total counter\n"
                                    "skyport_registry_calls_total 0\n"));

  OwnerStats big;
  big.calls = 123'456'789'012;
  big.revision = 1'000'000'000'000'000;
  out = RenderMetrics(big);
  CHECK_THAT(out, Catch::Contains("\nskyport_registry_calls_total 123456789012\n"));
  CHECK_THAT(out, Catch::Contains("\nskyport_registry_revision 1000000000000000\n"));
}

}  // namespace
}  // namespace skyport::registry
