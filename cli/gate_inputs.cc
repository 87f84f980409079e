#include "cli/gate_inputs.h"

#include <set>

#include <fmt/format.h>

#include "cli/experiment_table.h"

namespace skyport::cli {
namespace {

using nlohmann::json;

const json& Member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

Result<std::string> Match(const std::vector<std::string>& arms, const std::string& prefix, const char* flag) {
  std::vector<std::string> matches;
  for (const auto& a : arms) {
    if (a == prefix) return a;
    if (a.rfind(prefix, 0) == 0) matches.push_back(a);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty())
    return Status::InvalidArgument(fmt::format("{}: no arm starts with {} (arms: {})", flag, prefix, Join(arms)));
  return Status::InvalidArgument(fmt::format("{}: {} is ambiguous: {}", flag, prefix, Join(matches)));
}

}  // namespace

std::vector<std::string> GateArmNames(const json& merged, const std::string& app, const v1::StatsReport& report,
                                      const std::map<std::string, uint32_t>& weights) {
  std::set<std::string> names;
  const json& arms = Member(Member(Member(merged, "apps"), app.c_str()), "arms");
  if (arms.is_object())
    for (const auto& [commit, _] : arms.items()) names.insert(commit);
  for (const auto& row : report.rows()) names.insert(row.arm());
  for (const auto& [arm, _] : weights) names.insert(arm);
  return {names.begin(), names.end()};
}

Result<GateArms> ChooseGateArms(const std::vector<std::string>& arms, const v1::StatsReport& report,
                                const std::map<std::string, uint32_t>& weights, const std::string& control_prefix,
                                const std::string& arm_prefix) {
  GateArms out;
  if (!control_prefix.empty()) {
    auto c = Match(arms, control_prefix, "control");
    if (!c.ok()) return c.status();
    out.control = *c;
  } else {
    auto c = ChooseControl(report, weights, "");
    if (!c.ok()) return c.status();
    if (c->arm.empty())
      return Status::InvalidArgument(
          fmt::format("control: no weights or users to choose it by; pass --control (arms: {})", Join(arms)));
    out.control = c->arm;
  }
  std::vector<std::string> others;
  for (const auto& a : arms)
    if (a != out.control) others.push_back(a);
  if (!arm_prefix.empty()) {
    auto t = Match(others, arm_prefix, "arm");
    if (!t.ok()) return t.status();
    out.treatment = *t;
  } else if (others.size() == 1) {
    out.treatment = others[0];
  } else {
    return Status::InvalidArgument(fmt::format("arm: {} besides control {}; pass --arm (arms: {})",
                                               others.empty() ? "no other arm" : "several arms", out.control,
                                               Join(others)));
  }
  return out;
}

}  // namespace skyport::cli
