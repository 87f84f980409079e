// Shapes registry entries for output: the seed's port table (JSON keyed by
// commit, then role), a flat JSON list, and a human table. Pure: the current
// wall time comes in as `now_ms` for ages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

struct TableOptions {
  bool wide = false;   // add app, instance, drone, pid, health, id, age to each entry
  int64_t now_ms = 0;  // wall clock, for age
};

// {"<commit>":{"<role>":[{"host":..,"port":..},...]}}; entries in a role are
// ordered by instance, host, port, id.
nlohmann::json PortTable(const std::vector<v1::Endpoint>& endpoints, const TableOptions& opts);

// Every field of every entry, as a JSON array in the same order as PortTable.
nlohmann::json EndpointList(const std::vector<v1::Endpoint>& endpoints, int64_t now_ms);

// Columns APP COMMIT ROLE INST HOST PORT DRONE PID HEALTH AGE ID; the commit
// is cut to 12 characters; ends with a newline.
std::string RenderTable(const std::vector<v1::Endpoint>& endpoints, int64_t now_ms);

std::string HealthName(v1::Health health);
// Whole seconds since registration (0 if unknown or in the future).
int64_t AgeSeconds(const v1::Endpoint& ep, int64_t now_ms);
// 59 -> "59s", 61 -> "1m", 7200 -> "2h", 172800 -> "2d".
std::string FormatAge(int64_t seconds);

}  // namespace skyport::cli
