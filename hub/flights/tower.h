// The control tower: runs every flight's plan (hub/flights/flight_plan.h). One loop
// thread owns the flights; it steps each active flight when something
// happened (an outcome, a kill, a new flight) or a timer is due, saves the new
// state with its timeline entries (hub/flights/flight_store.h) BEFORE carrying out the
// effects, then runs each effect on a thread of its own and feeds the outcome
// back. A restarted hub loads every unfinished flight and resumes it at its
// step (waits keep their absolute deadlines; effects that were out are issued
// again).
//
// Bounded: at most TowerLimits::max_active flights not finished (a Start
// beyond is refused), and the newest max_finished finished flights are
// remembered (the store keeps the same ones: hub/flights/flight_bounds.h
// FinishedToForget); a flight that is not finished is never forgotten.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/log_limiter.h"
#include "core/status.h"
#include "hub/flights/flight_plan.h"
#include "contract/flight_spec.h"
#include "hub/flights/flight_store.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

struct PingResult {
  int status_code = 0;  // 0: no HTTP answer
  std::string error;    // "" when an answer came
};

// The cluster as the tower sees it. Calls block; they are made from effect
// threads (and Resolve / Enrolled from service threads).
class TowerIo {
 public:
  virtual ~TowerIo() = default;
  // The full commit of a commitish of the app's repository.
  virtual Result<std::string> Resolve(const std::string& app, const std::string& commitish) = 0;
  // FAILED_PRECONDITION when flights cannot run (e.g. no registry configured).
  virtual Status Ready() = 0;
  virtual Status Deploy(const std::string& app, const std::string& commit, uint32_t instances) = 0;
  // OK also when nothing ran it.
  virtual Status Stop(const std::string& app, const std::string& commit) = 0;
  // Brings the app's route config in line with `intent` (compare-and-swap,
  // moving the fewest users: contract/split.h Rebalance).
  virtual Status WriteRoute(const std::string& app, const RouteIntent& intent) = 0;
  // Whether the registry's validation would accept the route WriteRoute would write.
  virtual Status CheckRoute(const std::string& app, const RouteIntent& intent) = 0;
  virtual PingResult Ping(const std::string& method, const std::string& url, const std::string& body) = 0;
  // Evaluates `gate` (arm/control are full commits) on the flight's data since `since_unix_ms`.
  virtual Result<GateVerdict> Gate(const std::string& app, const std::string& flight, const GateSpec& gate,
                                   double previous_p, int64_t since_unix_ms) = 0;
  // Users exposed per commit in the flight.
  virtual std::map<std::string, uint64_t> Enrolled(const std::string& app, const std::string& flight) = 0;
};

struct TowerLimits {
  size_t max_active = 100;                    // --max-flights
  size_t max_finished = kMaxFinishedFlights;  // as the stores keep
};

class ControlTower {
 public:
  // Loads the stored flights (unfinished ones resume; of the finished ones,
  // the newest limits.max_finished) and starts the loop.
  static Result<std::unique_ptr<ControlTower>> Open(FlightStore* store, TowerIo* io, Clock* clock,
                                                    PlanTimings timings, TowerLimits limits = {});
  // Stops the loop; waits up to 3 s for effects still running, then exits the
  // process (_Exit) rather than let their threads outlive the tower.
  ~ControlTower();

  // Validates (every problem with its field path: INVALID_ARGUMENT), resolves
  // the arms' commits, and starts the flight. A spec with "kill": true kills
  // the running flight of that name instead. ALREADY_EXISTS when a flight of
  // that name is active; FAILED_PRECONDITION when the app has another active
  // flight or flights cannot run; RESOURCE_EXHAUSTED when max_active flights
  // are not finished. Nothing changes on an error.
  Result<v1::FlightStatus> Start(const std::string& spec_json);
  // Sends the flight back to control and stops what it started. Waits up to
  // `wait_ms` until the registry has the control-only route (else
  // DEADLINE_EXCEEDED; the tower keeps trying). NOT_FOUND; FAILED_PRECONDITION
  // when it already ended or has promoted (roll back with a split instead).
  Result<v1::FlightStatus> Kill(const std::string& name, const std::string& reason, int64_t wait_ms = 5000);
  // Active flights (all: also finished ones), oldest first.
  std::vector<v1::FlightStatus> List(bool all);
  // The latest flight of that name. NOT_FOUND.
  Result<v1::FlightStatus> Get(const std::string& name);
  // The newest entries of the latest flight of that name that fit in one
  // reply (kMaxLogReplyBytes), and how many older ones were left out.
  Result<FlightLogTail> Log(const std::string& name);
  // Prometheus text: flights by state, starts refused, flights forgotten.
  std::string Metrics();

 private:
  struct Flight {
    FlightSpec spec;
    FlightState state;
    std::vector<Observation> inbox;
    std::optional<std::string> kill;
    int64_t wake_unix_ms = 0;
    int64_t created_unix_ms = 0;
    int route_failures = 0;  // consecutive failed route writes (paces retries)
  };

  ControlTower(FlightStore* store, TowerIo* io, Clock* clock, PlanTimings timings, TowerLimits limits)
      : store_(store), io_(io), clock_(clock), timings_(timings), limits_(limits) {}
  void Loop();
  // Steps one flight; returns the effects to carry out. Saves first.
  std::vector<Effect> StepLocked(Flight& f, int64_t now);
  // Carries out `e` of flight `f` (whose state produced it) on a thread of its own.
  void Dispatch(const std::string& id, const Flight& f, Effect e);
  void Deliver(const std::string& id, Observation o, bool route_refused);
  bool CommitUsedElsewhereLocked(const std::string& id, const std::string& app, const std::string& commit) const;
  // The latest flight named `name` (an active one first); nullptr if none.
  Flight* FindLocked(const std::string& name);
  v1::FlightStatus StatusLocked(const Flight& f, int64_t now) const;
  void AddEnrolled(v1::FlightStatus& s);
  // Flight `f` has just finished: the finished flights beyond the bound are
  // queued to be forgotten (not at once: the loop may be iterating flights_).
  void FinishedLocked(const Flight& f);
  // RESOURCE_EXHAUSTED (counted, logged) when max_active flights are not finished.
  Status RoomForOneMoreLocked(const std::string& name);
  void ForgetQueuedLocked();

  FlightStore* store_;
  TowerIo* io_;
  Clock* clock_;
  const PlanTimings timings_;
  const TowerLimits limits_;

  std::mutex mu_;
  std::condition_variable wake_;      // the loop: something to do
  std::condition_variable changed_;   // Kill: a flight's state moved
  std::map<std::string, Flight> flights_;  // by id; guarded by mu_
  bool stop_ = false;                      // guarded by mu_
  int effects_running_ = 0;                // guarded by mu_
  std::map<std::string, int> deploying_;   // "app@commit" -> deploys running; guarded by mu_
  FinishedFlights finished_;               // the finished ones in flights_; guarded by mu_
  std::vector<std::string> forget_;        // finished ids to erase from flights_; guarded by mu_
  LogLimiter quiet_refusals_;              // guarded by mu_
  uint64_t starts_refused_ = 0, forgotten_ = 0;  // guarded by mu_
  std::thread loop_;
};

}  // namespace skyport::hub
