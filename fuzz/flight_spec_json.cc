// libFuzzer target: flight specs as the hub reads them (contract/flight_spec.h
// ParseFlightSpecText: JSON text -> validated FlightSpec). An accepted spec is
// described step by step, its templates rendered, and its own JSON (spec.raw)
// must be accepted again: the tower re-reads stored specs after a restart.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/check.h"
#include "contract/flight_spec.h"

using namespace skyport::hub;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Most mutations are not JSON, and nlohmann reports that by exception, which
  // is slow under ASan and not our code: one such input in 16 goes on.
  if (!nlohmann::json::accept(text) && size % 16 != 0) return 0;
  auto spec = ParseFlightSpecText(text);
  if (!spec.ok()) {
    CHECK(!spec.status().message().empty());
    return 0;
  }
  CHECK(spec->arms.size() >= 2 && spec->arms.count(spec->control) == 1);
  CHECK(spec->range_ge >= 0 && spec->range_ge < spec->range_lt && spec->range_lt <= 1);
  (void)spec->Treatments();
  const std::map<std::string, std::string> vars = {{"name", spec->name}, {"app", spec->app}, {"step", "1"}};
  for (const auto& group : spec->plan) {
    CHECK(!group.empty());
    for (const PlanStep& step : group) {
      (void)step.Describe();
      (void)ActionName(step.action);
      (void)RenderTemplate(step.url, vars, true);
      (void)RenderTemplate(step.body, vars, false);
    }
  }
  auto again = ParseFlightSpecText(spec->raw.dump());
  CHECK(again.ok() && again->name == spec->name && again->arms == spec->arms && again->plan.size() == spec->plan.size());
  return 0;
}
