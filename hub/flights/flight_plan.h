// The flight stepper: where a flight is and what to do next, as a pure
// function of (spec, state, observations, now). The control tower (hub/flights/tower.h)
// persists the state, carries out the effects and feeds their outcomes back as
// observations; tests drive it with a fake clock.
//
// Life of a flight:
//   running  -> the plan's groups in order; a group's steps start together and
//               the group is done when all are. Any failure (deploy, ping after
//               its retries, a gate's fail or timeout), a kill, or now >= endBy
//               starts the cleanup.
//   cleanup  -> the route goes back to control at once (flight section removed,
//               control 100%), then every arm the flight deployed except the
//               control is stopped; then the end status: killed | expired |
//               failed, or done (the plan finished without a promote).
//   promoted -> a promote step gave its arm all traffic (flight section
//               removed). When the plan has finished, the other arms keep
//               running until retire_at (promote time + grace), then they
//               are stopped (control included) and `retired` is set.
//   done | killed | expired | failed: final (promoted is final once retired).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "contract/flight_spec.h"
#include "contract/gates.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::hub {

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
  std::string status = "running";              // running | cleanup | promoted | done | killed | expired | failed
  std::string end_status;                      // cleanup: what it ends as
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

// Effects the tower carries out. `step` is the step's position for people and
// observations: "3" (1-based group) or "4.2" (group 4, its 2nd step), "" for
// flight-level work (the route, cleanup stops, the log).
struct Effect {
  enum class Kind { kWriteRoute, kDeploy, kStop, kPing, kGate, kLog };
  Kind kind = Kind::kLog;
  std::string step;
  uint64_t route_version = 0;   // kWriteRoute: write DesiredRoute(spec, state) as of this version
  std::string arm;              // kDeploy / kStop / kGate (treatment)
  std::string commit;           // kDeploy / kStop: the arm's full commit
  uint32_t instances = 0;       // kDeploy
  std::string method, url, body;// kPing, templates rendered (url percent-encoded)
  GateSpec gate;                // kGate: arm / control hold FULL COMMITS
  double previous_p = 1;        // kGate
  int64_t since_unix_ms = 0;    // kGate: the data window starts at the flight's start
  // kLog: a timeline entry (also emitted alongside the other effects).
  std::string log_kind;         // start | step | weight | wait | gate | ping | deploy | stop | promote | log | kill | cleanup | end | error
  std::string message;
  nlohmann::json data;          // e.g. the gate's numbers; null if none
};

struct Observation {
  enum class Kind { kRouteWritten, kDeployDone, kStopDone, kPingDone, kGateVerdict };
  Kind kind = Kind::kRouteWritten;
  std::string step;             // as in the effect
  std::string arm;              // kDeployDone / kStopDone
  uint64_t route_version = 0;   // kRouteWritten
  bool ok = true;               // false: failed (message says why); kGateVerdict: could not evaluate (retried)
  std::string message;
  GateVerdict verdict;          // kGateVerdict when ok
  int status_code = 0;          // kPingDone: HTTP status (0 = no answer)
};

struct StepInput {
  int64_t now_unix_ms = 0;
  std::vector<Observation> observations;
  std::optional<std::string> kill_reason;  // `skyport flight kill` or a spec with "kill": true
};

struct PlanTimings {
  int64_t gate_interval_ms = 10'000;   // between looks of a waiting gate (and after an evaluation error)
  int64_t ping_retry_ms = 2'000;       // first retry; doubles
  uint32_t ping_attempts = 3;          // then the step fails
};

struct StepOutput {
  FlightState state;
  std::vector<Effect> effects;
  int64_t wake_unix_ms = 0;  // call again by then at the latest (0 = nothing timed pending)
};

// The state of a just-started flight: running, group 0 not started yet, no
// weights (every enrolled user on control), route version 1 unwritten.
FlightState NewFlightState(const FlightSpec& spec, std::string id, std::map<std::string, std::string> commits,
                           int64_t now_unix_ms);

// One step of the machine. Applies the observations (stale ones — for steps
// no longer running, or older route versions — are ignored), then the kill,
// then endBy, then advances as far as it can at `now`: starts groups, issues
// at most one outstanding effect per step, completes waits, etc. Issues a
// kWriteRoute whenever route_written < route_version and none is out.
// Emits kLog effects for the timeline: flight start (the first call), every
// step start and end (with notes), weight changes, wait deadlines, gate
// verdicts with their numbers, ping results, deploy/stop results, kill,
// cleanup and the end. Deterministic.
StepOutput StepFlight(const FlightSpec& spec, FlightState state, const StepInput& in, const PlanTimings& timings);

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
