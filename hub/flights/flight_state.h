// A flight's state around the stepper (hub/flights/flight_plan.h): its
// status, its steps' runs, the route it wants, its text for people and its
// stored JSON form. Pure data and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/flight_spec.h"
#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::hub {

// Where a flight is (the life cycle is drawn in hub/flights/flight_plan.h).
// Done, killed, expired and failed are final; promoted is final once retired.
enum class FlightStatus { kRunning, kCleanup, kPromoted, kDone, kKilled, kExpired, kFailed };
inline constexpr FlightStatus kFlightStatuses[] = {FlightStatus::kRunning, FlightStatus::kCleanup,
                                                   FlightStatus::kPromoted, FlightStatus::kDone,
                                                   FlightStatus::kKilled, FlightStatus::kExpired,
                                                   FlightStatus::kFailed};
// The status as stored, logged, shown and sent: "running", "cleanup",
// "promoted", "done", "killed", "expired", "failed".
std::string FlightStatusName(FlightStatus status);
// The inverse of FlightStatusName; nullopt for anything else.
std::optional<FlightStatus> ParseFlightStatus(std::string_view name);

struct StepRun {
  enum class Phase { kPending, kRunning, kDone, kFailed };
  Phase phase = Phase::kPending;
  int64_t started_unix_ms = 0;
  int64_t ended_unix_ms = 0;
  int64_t deadline_unix_ms = 0;   // wait: its absolute end, fixed when it starts; gate: timeout (0 = none)
  int64_t next_unix_ms = 0;       // gate: next look; ping: next try
  uint32_t attempts = 0;          // gate looks / ping tries so far
  double previous_p = 1;          // gate: the running sequential p
  uint64_t route_version = 0;     // weight / promote: the route version that must be written
  bool outstanding = false;       // an effect was issued; its observation has not come
  std::string note;               // last outcome, for status and log
  bool operator==(const StepRun&) const = default;
};

struct FlightState {
  std::string id;                              // unique per start (becomes the split id)
  FlightStatus status = FlightStatus::kRunning;
  std::optional<FlightStatus> end_status;      // cleanup: what it ends as (done, killed, expired or failed)
  std::string reason;                          // why it ended / is ending
  std::map<std::string, std::string> commits;  // arm -> full commit (resolved at start)
  std::map<std::string, double> weights;       // treatment arm -> percent; control = 100 - sum
  size_t group = 0;                            // index of the running group in spec.plan
  std::vector<std::vector<StepRun>> runs;      // the shape of spec.plan
  std::set<std::string> deployed;              // arms the flight deployed (ok'd)
  std::set<std::string> stopping;              // arms whose stop is outstanding
  int64_t started_unix_ms = 0;
  int64_t ended_unix_ms = 0;
  uint64_t route_version = 1;                  // bumped whenever the desired route changes
  uint64_t route_written = 0;                  // the last version the tower wrote to the registry
  bool route_outstanding = false;              // a kWriteRoute is out
  std::string promoted_arm;                    // "" until a promote step
  int64_t retire_at_unix_ms = 0;               // promoted: when the other arms stop
  bool retired = false;
  bool operator==(const FlightState&) const = default;
};

// The state of a just-started flight: running, group 0 not started yet, no
// weights (every enrolled user on control), route version 1 unwritten.
FlightState NewFlightState(const FlightSpec& spec, std::string id, std::map<std::string, std::string> commits,
                           int64_t now_unix_ms);

// After a hub restart: effects that were out are forgotten (their outcome
// never came), so the next StepFlight issues them again (deploy and stop are
// idempotent; a ping may be sent twice). Waits keep their absolute deadlines.
FlightState ResumeAfterRestart(FlightState state);

bool FlightFinished(const FlightState& state);  // done | killed | expired | failed | promoted and retired

// What the registry's route config for the app should be now.
struct RouteIntent {
  std::map<std::string, uint32_t> weights;   // full commit -> share in millionths (sums to 1000000)
  std::optional<v1::FlightRoute> flight;     // set while running (not in cleanup/after)
  std::string split_id;                      // the flight's id
};
// running: control = 100 - sum(treatment weights) (in millionths, rounding
// so the sum is exact), flight section from the spec (range in millionths,
// end_by, filter, arms -> commits, control commit); cleanup and the end
// statuses: control 100%, no flight; promoted: the promoted arm 100%, no flight.
RouteIntent DesiredRoute(const FlightSpec& spec, const FlightState& state);

// "wait 10m (4m12s left)", "gate error_rate treatment (look 3)", "2: deploy
// treatment x2 + ping …" for a group; "" when not running a step.
std::string StepText(const FlightSpec& spec, const FlightState& state, int64_t now_unix_ms);
// "3" / "4.2" style position of the running group ("" if none).
std::string StepPosition(const FlightState& state);

// Round trip for the store. FromJson: INVALID_ARGUMENT on a malformed document.
nlohmann::json FlightStateToJson(const FlightState& state);
Result<FlightState> FlightStateFromJson(const nlohmann::json& doc);

}  // namespace skyport::hub
