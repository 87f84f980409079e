// What `skyport gate` feeds hub::EvaluateGate: which two arms to compare and
// their figures, all from the hub's durable rows (StatsSink.Query): traffic
// (requests, 5xx, latency) and experiment outcomes. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "contract/gates.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

struct GateArms {
  std::string control;
  std::string treatment;
};

// Every arm of `app` named in the merged /stats document, the hub's rows or the
// route's weights, sorted, once each.
std::vector<std::string> GateArmNames(const nlohmann::json& merged, const std::string& app,
                                      const v1::StatsReport& report, const std::map<std::string, uint32_t>& weights);

// The control: the arm equal to `control_prefix` or the only one starting with
// it; without a prefix ChooseControl's choice (highest weight, else most
// users). The treatment: likewise from `arm_prefix` among the other arms;
// without a prefix the only other arm. INVALID_ARGUMENT "control: ..." /
// "arm: ..." (listing the arms) when there is no such arm, several match, or
// the choice is not unique.
Result<GateArms> ChooseGateArms(const std::vector<std::string>& arms, const v1::StatsReport& report,
                                const std::map<std::string, uint32_t>& weights, const std::string& control_prefix,
                                const std::string& arm_prefix);

// The arms' figures come from the hub's report: hub::TrafficFromReport and
// hub::OutcomeFromReport (contract/gates.h).

}  // namespace skyport::cli
