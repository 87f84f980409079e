// `skyport status`: the cluster's daemons in one table — hubs (which leads),
// registries, drones and routers — with health, version and last seen, and
// the verdict (pure: the probes' answers in, rows and problems out;
// status_cmd.cc asks the daemons).
//
// Where each part comes from:
//   hubs        HubInfo.Info on every address of --hub and every hub the
//               answering hubs name as members of their election (etcd)
//   registries  Registry.Info on every address of --registry
//   drones      Hub.Drones (the leader's sessions: connected, last message)
//   routers     the registry's presence entries (app skyport-router, role
//               admin, under a lease the router keeps alive), each asked for
//               GET /healthz on its admin address. A router that died is
//               listed (and down) until its lease expires (~10 s), then it
//               is gone from the registry and from this table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skyport/v1/hub.pb.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

struct HubProbe {
  std::string address;
  std::optional<v1::HubInfoResponse> info;  // nullopt: no answer
  std::string error;                        // why not
};
struct RegistryProbe {
  std::string address;
  std::optional<v1::RegistryInfoResponse> info;
  std::string error;
};
struct RouterProbe {
  v1::Endpoint entry;  // the presence entry (meta: name, listen, version)
  bool healthy = false;
  std::string error;   // when not healthy
};

struct StatusInputs {
  std::vector<HubProbe> hubs;
  std::vector<RegistryProbe> registries;
  std::optional<std::vector<v1::DroneInfo>> drones;  // nullopt: no hub said
  std::string drones_error;
  std::optional<std::vector<RouterProbe>> routers;   // nullopt: no registry said
  std::string routers_error;
  int64_t now_ms = 0;
};

struct StatusRow {
  std::string kind;     // hub | registry | drone | router
  std::string name;     // address, drone or router name
  std::string address;
  std::string state;    // up | down | leader | standby
  bool ok = true;
  std::string version;  // "" unknown
  int64_t last_seen_unix_ms = 0;  // 0 unknown
  std::string note;     // why down, or what else is worth a word
};

struct StatusReport {
  std::vector<StatusRow> rows;
  std::vector<std::string> problems;  // one line each; empty = all up
  bool ok() const { return problems.empty(); }
};

StatusReport BuildStatus(const StatusInputs& in);
// The rows aligned, then each problem on its own line.
std::string RenderStatusTable(const StatusReport& r, int64_t now_ms);
nlohmann::json StatusJson(const StatusReport& r, int64_t now_ms);

// "1.2.3 (commit abc, built …)" from "skyport-hub 1.2.3 (commit …)": the
// program name dropped, "" stays "".
std::string ShortVersion(const std::string& version_line);

}  // namespace skyport::cli
