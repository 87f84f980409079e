// Shapes the hub's process and drone lists for `skyport ps` and `skyport
// drones`: a human table and a JSON array each. Pure: the wall clock comes
// in as `now_ms` (uptimes, last seen).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

// Processes ordered by app, commit, role, instance, drone.
std::vector<v1::ProcessStatus> SortedProcesses(std::vector<v1::ProcessStatus> processes);

// Columns APP COMMIT ROLE INST DRONE HOST:PORT PID STATE RESTARTS UPTIME
// LAST-ERROR. HOST is the drone's advertise address from `drones` (just the
// port when the drone is not listed); the commit is cut to 12 characters.
std::string RenderPsTable(const std::vector<v1::ProcessStatus>& processes,
                          const std::vector<v1::DroneInfo>& drones, int64_t now_ms);
// Every field, plus "host" ("" when unknown) and "uptime_s"; same order.
nlohmann::json PsJson(const std::vector<v1::ProcessStatus>& processes,
                      const std::vector<v1::DroneInfo>& drones, int64_t now_ms);

// Columns NAME ADVERTISE CONNECTED LABELS PROCESSES LAST-SEEN, by name.
std::string RenderDronesTable(const std::vector<v1::DroneInfo>& drones, int64_t now_ms);
// Name, advertise, labels, connected, last_seen_unix_ms, last_seen_s, version and the
// process count (not the processes: `skyport ps` has them).
nlohmann::json DronesJson(const std::vector<v1::DroneInfo>& drones, int64_t now_ms);

// Whole seconds from `since_unix_ms` to `now_ms`; -1 when unknown (0) and 0
// when in the future.
int64_t SecondsSince(int64_t since_unix_ms, int64_t now_ms);
// 42 -> "42s", 185 -> "3m05s", 7440 -> "2h04m", 266400 -> "3d02h"; -1 -> "-".
std::string FormatDuration(int64_t seconds);
// The first line of `text`, cut to `max` characters with "..." ("-" if empty).
std::string Abbreviate(const std::string& text, size_t max);

}  // namespace skyport::cli
