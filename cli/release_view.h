// `skyport releases`, `skyport rollback` and `skyport apps`: their arguments
// and what they print (a human table, a JSON document). Pure: the wall clock
// comes in as `now_ms`.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

// "v3" or "3" -> 3; INVALID_ARGUMENT otherwise (0 is not a release).
Result<uint32_t> ParseReleaseNumber(const std::string& text);

// Columns VERSION COMMIT CONFIG WHO WHEN DRONES OUTCOME DESCRIPTION, oldest
// first; the current release is marked "*"; a failed release's error on a
// line of its own under it. Says how many older releases are no longer kept.
std::string RenderReleases(const std::string& app, const v1::ReleasesResponse& r, int64_t now_ms);
// {"app","current":"v3"|null,"older_dropped","releases":[{"version":"v3","number":3,...}]}
nlohmann::json ReleasesJson(const std::string& app, const v1::ReleasesResponse& r);

nlohmann::json ReleaseJson(const v1::Release& r);

// What a rollback did, e.g.
//   webapp: v5 = rollback to v3 (commit 3f2a9c1b0d4e), no deploy needed; the route sends it 100%
//   77e0d4aa91c2 keeps running until 2026-12-07T18:10:00Z (grace), then stops
std::string RenderRollback(const std::string& app, const v1::RollbackResponse& r);
nlohmann::json RollbackJson(const std::string& app, const v1::RollbackResponse& r);

// Columns APP CURRENT COMMITS (commit=weight% up/total) INSTANCES FLIGHT.
std::string RenderApps(const v1::AppsResponse& r);
nlohmann::json AppsJson(const v1::AppsResponse& r);

// "destroyed webapp: stopped 2 commits, route removed, 5 releases forgotten, repository removed"
std::string RenderDestroy(const std::string& app, const v1::DestroyResponse& r);
nlohmann::json DestroyJson(const std::string& app, const v1::DestroyResponse& r);

}  // namespace skyport::cli
