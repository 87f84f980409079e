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
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/flight_spec.h"
#include "contract/gates.h"
#include "hub/flights/flight_state.h"

namespace skyport::hub {

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

}  // namespace skyport::hub
