// What the drone tells the hub, built from its own types: the statuses
// `skyport ps` shows, an instance gone, a log line, a deploy's progress and
// its end. Pure.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "drone/deploy_pipeline.h"
#include "drone/supervisor.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::drone {

// `state` as the hub and `skyport ps` name it: "running" for ready,
// "crash-loop" for a backoff in a crash loop, else ProcStateName.
v1::ProcessStatus StatusMessage(const ProcStatus& p, const std::string& drone);
// The instance (role "release": the release step; then instance 0) is gone.
v1::DroneMessage GoneMessage(const std::string& app, const std::string& commit, const std::string& role,
                             uint32_t instance = 0);
v1::DroneMessage LogMessage(uint64_t command_id, const std::string& drone, const LogLine& l);
v1::DroneMessage ProgressMessage(uint64_t command_id, const std::string& drone, const std::string& commit,
                                 DeployStage stage, const std::string& message, int64_t unix_ms);
v1::DroneMessage DoneMessage(uint64_t command_id, const Status& s);

}  // namespace skyport::drone
