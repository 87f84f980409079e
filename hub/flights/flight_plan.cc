// The flight stepper (StepFlight). The state's helpers, the route and the
// JSON form are in flight_state.cc.
#include "hub/flights/flight_plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/timefmt.h"

namespace skyport::hub {
namespace {

using nlohmann::json;
using A = PlanStep::Action;
using Phase = StepRun::Phase;

std::string Pos(const FlightSpec& spec, size_t g, size_t i) {
  return spec.plan[g].size() == 1 ? std::to_string(g + 1) : fmt::format("{}.{}", g + 1, i + 1);
}

Effect NewEffect(Effect::Kind kind, std::string step, std::string arm = "", std::string commit = "") {
  Effect e;
  e.kind = kind;
  e.step = std::move(step);
  e.arm = std::move(arm);
  e.commit = std::move(commit);
  return e;
}

// "treatment=5,other=10"
std::string WeightsVar(const std::map<std::string, double>& weights) {
  std::string out;
  for (const auto& [arm, w] : weights) out += fmt::format("{}{}={}", out.empty() ? "" : ",", arm, w);
  return out;
}

class Stepper {
 public:
  Stepper(const FlightSpec& spec, FlightState& st, const StepInput& in, const PlanTimings& timings,
          std::vector<Effect>& out)
      : spec_(spec), st_(st), now_(in.now_unix_ms), in_(in), timings_(timings), out_(out) {}

  void Run() {
    if (FlightFinished(st_)) return;
    FitRuns();
    if (Fresh()) Log("start", fmt::format("flight {} of {} started: {}", spec_.name, spec_.app, WeightsText()));
    for (const Observation& o : in_.observations) Apply(o);
    if (in_.kill_reason && PlanActive()) {
      Log("kill", "killed: " + *in_.kill_reason);
      EndPlan(FlightStatus::kKilled, "killed: " + *in_.kill_reason);
    }
    if (st_.status == FlightStatus::kRunning && spec_.end_by_unix_ms > 0 && now_ >= spec_.end_by_unix_ms)
      EndPlan(FlightStatus::kExpired, "endBy " + FormatRfc3339(spec_.end_by_unix_ms) + " passed");
    Advance();
    if (st_.status == FlightStatus::kCleanup) StopArms(spec_.control, st_.end_status);
    if (st_.status == FlightStatus::kPromoted && !st_.retired && st_.group >= spec_.plan.size() &&
        now_ >= st_.retire_at_unix_ms)
      StopArms(st_.promoted_arm, std::nullopt);
    if (st_.route_written < st_.route_version && !st_.route_outstanding) {
      Effect e = NewEffect(Effect::Kind::kWriteRoute, "");
      e.route_version = st_.route_version;
      out_.push_back(std::move(e));
      st_.route_outstanding = true;
    }
  }

  int64_t Wake() const {
    int64_t wake = 0;
    auto at = [&](int64_t t) {
      if (t > now_ && (wake == 0 || t < wake)) wake = t;
    };
    if (PlanActive()) {
      for (size_t i = 0; i < spec_.plan[st_.group].size(); ++i) {
        const StepRun& r = st_.runs[st_.group][i];
        if (r.phase != Phase::kRunning) continue;
        const A a = spec_.plan[st_.group][i].action;
        if (a == A::kWait || a == A::kGate) at(r.deadline_unix_ms);
        if ((a == A::kGate || a == A::kPing) && !r.outstanding) at(r.next_unix_ms);
      }
    }
    if (st_.status == FlightStatus::kRunning) at(spec_.end_by_unix_ms);
    if (st_.status == FlightStatus::kPromoted && !st_.retired) at(st_.retire_at_unix_ms);
    return wake;
  }

 private:
  bool PlanActive() const {
    return (st_.status == FlightStatus::kRunning || st_.status == FlightStatus::kPromoted) &&
           st_.group < spec_.plan.size();
  }

  // The first call: nothing has happened yet.
  bool Fresh() const {
    return st_.status == FlightStatus::kRunning && st_.group == 0 && st_.route_version == 1 && st_.route_written == 0 &&
           !st_.route_outstanding &&
           (st_.runs.empty() || std::all_of(st_.runs[0].begin(), st_.runs[0].end(),
                                            [](const StepRun& r) { return r.phase == Phase::kPending; }));
  }

  // Keeps runs in the shape of the plan whatever the stored state holds.
  void FitRuns() {
    st_.runs.resize(spec_.plan.size());
    for (size_t g = 0; g < spec_.plan.size(); ++g) st_.runs[g].resize(spec_.plan[g].size());
  }

  void Log(std::string kind, std::string message, json data = nullptr, std::string step = "") {
    Effect e = NewEffect(Effect::Kind::kLog, std::move(step));
    e.log_kind = std::move(kind);
    e.message = std::move(message);
    e.data = std::move(data);
    out_.push_back(std::move(e));
  }

  std::string Commit(const std::string& arm) const {
    auto it = st_.commits.find(arm);
    return it == st_.commits.end() ? "" : it->second;
  }

  std::string WeightsText() const {
    double sum = 0;
    for (const auto& [_, w] : st_.weights) sum += w;
    if (st_.weights.empty()) return "everyone enrolled on " + spec_.control;
    return fmt::format("{} ({}={})", WeightsVar(st_.weights), spec_.control, std::max(0.0, 100 - sum));
  }

  std::string GateLabel(size_t i) const {
    const PlanStep& s = spec_.plan[st_.group][i];
    const std::string event = s.gate.event.empty() ? "" : s.gate.event + " ";
    return fmt::format("gate {} ({} {}{})", Pos(spec_, st_.group, i), s.gate.metric, event, s.arm);
  }

  // ---- observations ----

  void Apply(const Observation& o) {
    using K = Observation::Kind;
    if (o.kind == K::kRouteWritten) {
      if (o.route_version <= st_.route_written || o.route_version > st_.route_version) return;  // stale
      st_.route_outstanding = false;
      if (!o.ok) return Log("error", fmt::format("route v{} not written: {}", o.route_version, o.message));
      st_.route_written = o.route_version;
      return;
    }
    if (o.kind == K::kStopDone) {
      if (!st_.stopping.erase(o.arm)) return;
      st_.deployed.erase(o.arm);  // a failed stop is not retried: said loudly instead
      if (o.ok)
        Log("stop", fmt::format("stopped {} ({})", o.arm, Commit(o.arm)));
      else
        Log("error", fmt::format("stop of {} ({}) failed, left running: {}", o.arm, Commit(o.arm), o.message));
      return;
    }
    if (!PlanActive()) return;
    for (size_t i = 0; i < spec_.plan[st_.group].size(); ++i) {
      if (Pos(spec_, st_.group, i) != o.step) continue;
      StepRun& r = st_.runs[st_.group][i];
      const PlanStep& s = spec_.plan[st_.group][i];
      if (r.phase != Phase::kRunning || !r.outstanding) return;
      if (o.kind == K::kDeployDone && s.action == A::kDeploy && o.arm == s.arm) return DeployDone(i, o);
      if (o.kind == K::kPingDone && s.action == A::kPing) return PingDone(i, o);
      if (o.kind == K::kGateVerdict && s.action == A::kGate) return GateVerdictDone(i, o);
      return;
    }
  }

  void DeployDone(size_t i, const Observation& o) {
    const PlanStep& s = spec_.plan[st_.group][i];
    const std::string pos = Pos(spec_, st_.group, i);
    st_.runs[st_.group][i].outstanding = false;
    if (!o.ok) {
      // It may have worked on some drones: the cleanup stops it (stop is idempotent).
      st_.deployed.insert(s.arm);
      Log("deploy", fmt::format("{}: deploy of {} failed: {}", pos, s.arm, o.message), nullptr, pos);
      return Fail(i, fmt::format("deploy {} failed: {}", s.arm, o.message));
    }
    st_.deployed.insert(s.arm);
    Log("deploy", fmt::format("{}: deployed {} ({}) x{}", pos, s.arm, Commit(s.arm), s.instances), nullptr, pos);
    Done(i, o.message.empty() ? "deployed" : o.message);
  }

  void PingDone(size_t i, const Observation& o) {
    StepRun& r = st_.runs[st_.group][i];
    const std::string pos = Pos(spec_, st_.group, i);
    r.outstanding = false;
    const bool ok = o.ok && (o.status_code == 0 || (o.status_code >= 200 && o.status_code < 300));
    const std::string result = o.status_code ? fmt::format("HTTP {}", o.status_code) : "no answer";
    r.note = o.message.empty() ? result : o.message;  // the tower says "HTTP 503" or the error
    Log("ping", fmt::format("{}: try {}: {}", pos, r.attempts, r.note),
        json{{"status_code", o.status_code}, {"attempt", r.attempts}}, pos);
    if (ok) return Done(i, r.note);
    if (r.attempts >= timings_.ping_attempts)
      return Fail(i, fmt::format("ping {} failed after {} tries: {}", pos, r.attempts, r.note));
    r.next_unix_ms = now_ + (timings_.ping_retry_ms << std::min<uint32_t>(r.attempts - 1, 20));
  }

  void GateVerdictDone(size_t i, const Observation& o) {
    StepRun& r = st_.runs[st_.group][i];
    const std::string pos = Pos(spec_, st_.group, i);
    r.outstanding = false;
    if (!o.ok) {
      r.note = "could not evaluate: " + o.message;
      Log("error", fmt::format("{}: look {}: {}", GateLabel(i), r.attempts, r.note), nullptr, pos);
      r.next_unix_ms = now_ + timings_.gate_interval_ms;
      return;
    }
    const GateVerdict& v = o.verdict;
    r.note = v.reason;
    if (v.numbers.is_object() && v.numbers.contains("p_value") && v.numbers["p_value"].is_number())
      r.previous_p = v.numbers["p_value"].get<double>();
    Log("gate", fmt::format("{}: look {}: {}: {}", GateLabel(i), r.attempts, GateKindName(v.kind), v.reason), v.numbers,
        pos);
    if (v.kind == GateVerdict::kPass) return Done(i, v.reason);
    if (v.kind == GateVerdict::kFail) return Fail(i, GateLabel(i) + ": " + v.reason);
    r.next_unix_ms = now_ + timings_.gate_interval_ms;
  }

  // ---- the plan ----

  void Advance() {
    while (PlanActive()) {
      const size_t g = st_.group;
      for (size_t i = 0; i < spec_.plan[g].size() && PlanActive(); ++i)
        if (st_.runs[g][i].phase == Phase::kPending) Start(i);
      for (size_t i = 0; i < spec_.plan[g].size() && PlanActive(); ++i)
        if (st_.runs[g][i].phase == Phase::kRunning) Tick(i);
      if (!PlanActive() || st_.group != g) break;
      const auto& runs = st_.runs[g];
      if (!std::all_of(runs.begin(), runs.end(), [](const StepRun& r) { return r.phase == Phase::kDone; })) break;
      ++st_.group;
    }
    if (st_.status == FlightStatus::kRunning && st_.group >= spec_.plan.size())
      EndPlan(FlightStatus::kDone, "the plan finished");
  }

  void Start(size_t i) {
    const PlanStep& s = spec_.plan[st_.group][i];
    StepRun& r = st_.runs[st_.group][i];
    const std::string pos = Pos(spec_, st_.group, i);
    r.phase = Phase::kRunning;
    r.started_unix_ms = now_;
    Log("step", fmt::format("{}: {}", pos, s.Describe()), nullptr, pos);
    switch (s.action) {
      case A::kDeploy:
        break;
      case A::kWeight:
        if (st_.status == FlightStatus::kPromoted) return Done(i, "skipped: the flight is promoted");
        for (const auto& [arm, w] : s.weights) {
          if (w > 0)
            st_.weights[arm] = w;
          else
            st_.weights.erase(arm);
        }
        r.route_version = ++st_.route_version;
        Log("weight", "weights: " + WeightsText(), json(st_.weights), pos);
        break;
      case A::kWait:
        r.deadline_unix_ms = s.wait_ms > 0 ? now_ + s.wait_ms : s.until_unix_ms;
        Log("wait", fmt::format("{}: waiting until {}", pos, FormatRfc3339(r.deadline_unix_ms)),
            json{{"until_unix_ms", r.deadline_unix_ms}}, pos);
        break;
      case A::kPing:
        r.next_unix_ms = now_;
        break;
      case A::kGate:
        r.next_unix_ms = now_;
        r.deadline_unix_ms = s.timeout_ms > 0 ? now_ + s.timeout_ms : 0;
        break;
      case A::kPromote:
        st_.status = FlightStatus::kPromoted;
        st_.promoted_arm = s.arm;
        st_.retire_at_unix_ms = now_ + s.grace_ms;
        st_.weights.clear();
        if (s.arm != spec_.control) {
          st_.weights[s.arm] = 100;
          st_.deployed.insert(spec_.control);  // so that retiring stops it too
        }
        r.route_version = ++st_.route_version;
        Log("promote",
            fmt::format("{}: {} ({}) gets all traffic; the other arms stop at {}", pos, s.arm, Commit(s.arm),
                        FormatRfc3339(st_.retire_at_unix_ms)),
            nullptr, pos);
        break;
      case A::kLog:
        Log("log", s.message, nullptr, pos);
        return Done(i, "");
    }
  }

  void Tick(size_t i) {
    const PlanStep& s = spec_.plan[st_.group][i];
    StepRun& r = st_.runs[st_.group][i];
    const std::string pos = Pos(spec_, st_.group, i);
    switch (s.action) {
      case A::kDeploy:
        if (r.outstanding) return;
        r.outstanding = true;
        out_.push_back(NewEffect(Effect::Kind::kDeploy, pos, s.arm, Commit(s.arm)));
        out_.back().instances = s.instances;
        return;
      case A::kWeight:
      case A::kPromote:
        if (st_.route_written >= r.route_version) Done(i, fmt::format("route v{} written", r.route_version));
        return;
      case A::kWait:
        if (now_ >= r.deadline_unix_ms) Done(i, "");
        return;
      case A::kPing:
        if (r.outstanding || now_ < r.next_unix_ms) return;
        ++r.attempts;
        r.outstanding = true;
        out_.push_back(PingEffect(s, pos));
        return;
      case A::kGate: {
        if (r.deadline_unix_ms > 0 && now_ >= r.deadline_unix_ms)
          return Fail(i, fmt::format("{}: no verdict within {}", GateLabel(i), FormatDurationMs(s.timeout_ms)));
        if (r.outstanding || now_ < r.next_unix_ms) return;
        ++r.attempts;
        r.outstanding = true;
        Effect e = NewEffect(Effect::Kind::kGate, pos, s.gate.arm);
        e.gate = s.gate;
        e.gate.arm = Commit(s.gate.arm);
        e.gate.control = Commit(s.gate.control);
        e.previous_p = r.previous_p;
        e.since_unix_ms = st_.started_unix_ms;
        out_.push_back(std::move(e));
        return;
      }
      case A::kLog:
        return;
    }
  }

  Effect PingEffect(const PlanStep& s, const std::string& pos) const {
    std::vector<std::string> arms;
    if (!st_.promoted_arm.empty())
      arms.push_back(st_.promoted_arm);
    else
      arms = spec_.Treatments();
    std::vector<std::string> commits;
    for (const auto& a : arms) commits.push_back(Commit(a));
    const std::map<std::string, std::string> vars = {{"name", spec_.name},
                                                     {"app", spec_.app},
                                                     {"id", st_.id},
                                                     {"step", pos},
                                                     {"status", FlightStatusName(st_.status)},
                                                     {"arm", fmt::format("{}", fmt::join(arms, ","))},
                                                     {"commit", fmt::format("{}", fmt::join(commits, ","))},
                                                     {"control", spec_.control},
                                                     {"weights", WeightsVar(st_.weights)},
                                                     {"time", FormatRfc3339(now_)}};
    Effect e = NewEffect(Effect::Kind::kPing, pos);
    e.method = s.method;
    e.url = RenderTemplate(s.url, vars, true);
    if (!s.body.empty())
      e.body = RenderTemplate(s.body, vars, false);
    else if (s.method == "POST")
      e.body = json(vars).dump();
    return e;
  }

  void Done(size_t i, std::string note) {
    StepRun& r = st_.runs[st_.group][i];
    r.phase = Phase::kDone;
    r.ended_unix_ms = now_;
    r.outstanding = false;
    if (!note.empty()) r.note = std::move(note);
    const std::string pos = Pos(spec_, st_.group, i);
    Log("step",
        fmt::format("{}: done: {}{}", pos, spec_.plan[st_.group][i].Describe(),
                    r.note.empty() ? "" : " (" + r.note + ")"),
        nullptr, pos);
  }

  void Fail(size_t i, const std::string& reason) {
    StepRun& r = st_.runs[st_.group][i];
    r.phase = Phase::kFailed;
    r.ended_unix_ms = now_;
    r.outstanding = false;
    r.note = reason;
    const std::string pos = Pos(spec_, st_.group, i);
    Log("step", fmt::format("{}: failed: {}", pos, reason), nullptr, pos);
    EndPlan(FlightStatus::kFailed, reason);
  }

  // Stops the plan. Running: the cleanup starts (ending as `end`). Promoted:
  // the rest of the plan is skipped; retiring goes on as planned.
  void EndPlan(FlightStatus end, const std::string& reason) {
    if (PlanActive()) {
      const size_t g = st_.group;
      for (size_t i = 0; i < st_.runs[g].size(); ++i) {
        StepRun& r = st_.runs[g][i];
        if (r.phase != Phase::kRunning) continue;
        // A deploy still out may land any moment: stop it too (stop is idempotent).
        if (r.outstanding && spec_.plan[g][i].action == A::kDeploy && st_.status == FlightStatus::kRunning)
          st_.deployed.insert(spec_.plan[g][i].arm);
        r.phase = Phase::kFailed;
        r.ended_unix_ms = now_;
        r.outstanding = false;
        r.note = "interrupted: " + reason;
        Log("step", fmt::format("{}: interrupted", Pos(spec_, g, i)), nullptr, Pos(spec_, g, i));
      }
    }
    st_.reason = reason;
    if (st_.status == FlightStatus::kPromoted) {
      st_.group = spec_.plan.size();
      return;
    }
    st_.status = FlightStatus::kCleanup;
    st_.end_status = end;
    st_.weights.clear();
    ++st_.route_version;
    Log("cleanup",
        fmt::format("{}: {}; the route goes back to {}, then the flight's arms stop", FlightStatusName(end), reason,
                    spec_.control));
  }

  // Cleanup and retiring: once the route is written, stops every deployed arm
  // but `keep`; when none is left, the flight ends (as `end`, or retired).
  void StopArms(const std::string& keep, std::optional<FlightStatus> end) {
    if (st_.route_written < st_.route_version) return;
    bool left = false;
    for (const std::string& arm : st_.deployed) {
      if (arm == keep) continue;
      left = true;
      if (!st_.stopping.insert(arm).second) continue;
      out_.push_back(NewEffect(Effect::Kind::kStop, "", arm, Commit(arm)));
      Log("stop", fmt::format("stopping {} ({})", arm, Commit(arm)));
    }
    if (left) return;
    st_.ended_unix_ms = now_;
    if (!end) {
      st_.retired = true;
      return Log("end", fmt::format("promoted {}; the other arms are retired", st_.promoted_arm));
    }
    st_.status = *end;
    Log("end", fmt::format("{}: {}", FlightStatusName(*end), st_.reason));
  }

  const FlightSpec& spec_;
  FlightState& st_;
  const int64_t now_;
  const StepInput& in_;
  const PlanTimings& timings_;
  std::vector<Effect>& out_;
};

}  // namespace

StepOutput StepFlight(const FlightSpec& spec, FlightState state, const StepInput& in, const PlanTimings& timings) {
  StepOutput out;
  Stepper stepper(spec, state, in, timings, out.effects);
  stepper.Run();
  out.wake_unix_ms = stepper.Wake();
  out.state = std::move(state);
  return out;
}

}  // namespace skyport::hub
