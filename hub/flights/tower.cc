#include "hub/flights/tower.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include <fmt/format.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/problems.h"
#include "core/prom_text.h"
#include "core/timefmt.h"

namespace skyport::hub {
namespace {

constexpr int64_t kIdleTickMs = 1000;  // steps at least this often (endBy, retire, timers)

bool Active(const FlightState& s) { return !FlightFinished(s); }

// Running, cleaning up, or promoted with the promotion not yet written: the
// flight owns the app's route.
bool OwnsRoute(const FlightState& s) {
  return s.status == FlightStatus::kRunning || s.status == FlightStatus::kCleanup ||
         (s.status == FlightStatus::kPromoted && s.route_written < s.route_version);
}

// A flight whose name a new flight may not take: not finished, unless it has
// promoted and written its promotion (only its grace's retirement is left;
// by name, status/log/kill then address the newer flight, ids still both).
bool HoldsName(const FlightState& s) {
  return Active(s) && !(s.status == FlightStatus::kPromoted && s.route_written >= s.route_version);
}

// Registry refusals that retrying will not change.
bool Permanent(const Status& s) {
  return s.code() == Code::kInvalidArgument || s.code() == Code::kPermissionDenied ||
         s.code() == Code::kUnauthenticated;
}

StoredFlight ToStored(const std::string& id, const FlightSpec& spec, const FlightState& state, int64_t created) {
  StoredFlight s;
  s.id = id;
  s.name = spec.name;
  s.app = spec.app;
  s.spec_json = spec.raw.dump();
  s.state_json = FlightStateToJson(state).dump();
  s.finished = FlightFinished(state);
  s.created_unix_ms = created;
  return s;
}

// Unique per start and a valid split id ([A-Za-z0-9._-]{1,64}).
std::string NewFlightId(const std::string& name, int64_t now_ms) {
  return fmt::format("{}.{:x}", name.substr(0, 48), now_ms);
}

}  // namespace

Result<std::unique_ptr<ControlTower>> ControlTower::Open(FlightStore* store, TowerIo* io, Clock* clock,
                                                         PlanTimings timings, TowerLimits limits) {
  auto stored = store->LoadAll();
  if (!stored.ok()) return stored.status();
  std::unique_ptr<ControlTower> t(new ControlTower(store, io, clock, timings, limits));
  for (const auto& s : *stored) {
    // A stored flight this version cannot read (e.g. validation rules tightened
    // since) is left out, loudly, rather than keeping the hub from starting.
    auto skip = [&](const std::string& why) {
      log::Error("flight not loaded", {{"id", s.id}, {"finished", s.finished}, {"error", why}});
    };
    auto spec = ParseFlightSpecText(s.spec_json);
    if (!spec.ok()) {
      skip("stored spec: " + spec.status().message());
      continue;
    }
    auto doc = nlohmann::json::parse(s.state_json, nullptr, false);
    if (doc.is_discarded()) {
      skip("stored state is not JSON");
      continue;
    }
    auto state = FlightStateFromJson(doc);
    if (!state.ok()) {
      skip("stored state: " + state.status().message());
      continue;
    }
    Flight f;
    f.spec = std::move(*spec);
    f.state = FlightFinished(*state) ? std::move(*state) : ResumeAfterRestart(std::move(*state));
    f.created_unix_ms = s.created_unix_ms;
    if (!s.finished)
      log::Info("flight resumed", {{"flight", f.spec.name}, {"id", s.id}, {"status", FlightStatusName(f.state.status)},
                                   {"step", StepPosition(f.state)}});
    if (FlightFinished(f.state)) t->finished_[{f.created_unix_ms, s.id}] = true;
    t->flights_.emplace(s.id, std::move(f));
  }
  // A store written before it was bounded may hold more finished flights.
  {
    std::lock_guard lock(t->mu_);
    while (t->finished_.size() > limits.max_finished) {
      t->forget_.push_back(t->finished_.begin()->first.second);
      t->finished_.erase(t->finished_.begin());
    }
    t->ForgetQueuedLocked();
  }
  t->loop_ = std::thread([p = t.get()] { p->Loop(); });
  return t;
}

ControlTower::~ControlTower() {
  std::unique_lock lock(mu_);
  stop_ = true;
  wake_.notify_all();
  changed_.notify_all();
  lock.unlock();
  if (loop_.joinable()) loop_.join();
  lock.lock();
  if (changed_.wait_for(lock, std::chrono::seconds(3), [&] { return effects_running_ == 0; })) return;
  // A deploy or stop may take minutes; its thread would outlive the tower and
  // what it calls. Every flight's state is durable and effects still out are
  // re-issued on restart, so leaving now is as safe as a kill -9 (tested).
  log::Warn("stopping with flight effects still running; they resume on restart",
            {{"effects", static_cast<int64_t>(effects_running_)}});
  std::_Exit(0);
}

void ControlTower::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const int64_t now = clock_->WallMs();
    int64_t next = now + kIdleTickMs;
    bool dispatched = false;
    for (auto& [id, f] : flights_) {
      if (!Active(f.state)) continue;
      bool due = !f.inbox.empty() || f.kill || f.wake_unix_ms == 0 || now >= f.wake_unix_ms;
      if (due) {
        for (auto& e : StepLocked(f, now)) {
          Dispatch(id, f, std::move(e));
          dispatched = true;
        }
      }
      if (Active(f.state) && f.wake_unix_ms > 0) next = std::min(next, f.wake_unix_ms);
    }
    ForgetQueuedLocked();
    if (dispatched) continue;  // outcomes of instant effects may already be in
    const int64_t wait = std::max<int64_t>(1, next - clock_->WallMs());
    wake_.wait_for(lock, std::chrono::milliseconds(wait));
  }
}

std::vector<Effect> ControlTower::StepLocked(Flight& f, int64_t now) {
  StepInput in;
  in.now_unix_ms = now;
  in.observations = std::move(f.inbox);
  f.inbox.clear();
  in.kill_reason = std::move(f.kill);
  f.kill.reset();
  StepOutput out = StepFlight(f.spec, f.state, in, timings_);

  std::vector<v1::FlightLogEntry> entries;
  std::vector<Effect> work;
  for (auto& e : out.effects) {
    if (e.kind != Effect::Kind::kLog) {
      work.push_back(std::move(e));
      continue;
    }
    v1::FlightLogEntry l;
    l.set_unix_ms(now);
    l.set_step(e.step);
    l.set_kind(e.log_kind);
    l.set_message(e.message);
    if (!e.data.is_null()) l.set_data_json(e.data.dump());
    log::Info("flight", {{"flight", f.spec.name}, {"step", e.step}, {"kind", e.log_kind}, {"message", e.message}});
    entries.push_back(std::move(l));
  }
  const bool moved = !(out.state == f.state);
  f.wake_unix_ms = out.wake_unix_ms;
  if (!moved && entries.empty()) return work;
  // Saved before anything is carried out: a crash now re-issues the effects on restart.
  if (Status s = store_->Save(ToStored(out.state.id, f.spec, out.state, f.created_unix_ms), entries); !s.ok()) {
    // Not saved: keep the old state and retry the whole step shortly (the
    // observations go back to the inbox).
    log::Error("flight state not saved", {{"flight", f.spec.name}, {"error", s.message()}});
    f.inbox = std::move(in.observations);
    f.kill = std::move(in.kill_reason);
    f.wake_unix_ms = now + kIdleTickMs;
    return {};
  }
  const bool finishes = !FlightFinished(f.state) && FlightFinished(out.state);
  f.state = std::move(out.state);
  if (finishes) FinishedLocked(f);
  changed_.notify_all();
  return work;
}

Status ControlTower::RoomForOneMoreLocked(const std::string& name) {
  size_t active = 0;
  for (const auto& [id, f] : flights_) active += Active(f.state) ? 1 : 0;
  if (active < limits_.max_active) return Status::Ok();
  ++starts_refused_;
  uint64_t suppressed = 0;
  if (quiet_refusals_.Allow(clock_->MonoMs(), &suppressed))
    log::Warn("flight start refused: too many flights", {{"flight", name}, {"active", static_cast<int64_t>(active)},
                                                         {"max_flights", static_cast<int64_t>(limits_.max_active)},
                                                         {"suppressed", suppressed}});
  return Status::ResourceExhausted(fmt::format(
      "{} flights are not finished, the most this hub runs at once (--max-flights); wait for one to end or kill one",
      active));
}

void ControlTower::FinishedLocked(const Flight& f) {
  const std::string& id = f.state.id;
  // The same decision the stores make, so memory holds what they hold.
  for (auto& gone : FinishedToForget(finished_, id, /*newly_finished=*/true, limits_.max_finished,
                                     std::numeric_limits<size_t>::max())) {
    finished_.erase({flights_.at(gone).created_unix_ms, gone});
    forget_.push_back(std::move(gone));
  }
  finished_[{f.created_unix_ms, id}] = true;
}

void ControlTower::ForgetQueuedLocked() {
  if (forget_.empty()) return;
  for (const auto& id : forget_) flights_.erase(id);
  forgotten_ += forget_.size();
  log::Info("finished flights forgotten (bound)", {{"flights", static_cast<int64_t>(forget_.size())},
                                                   {"oldest", forget_.front()},
                                                   {"kept", static_cast<int64_t>(limits_.max_finished)}});
  forget_.clear();
}

bool ControlTower::CommitUsedElsewhereLocked(const std::string& id, const std::string& app,
                                             const std::string& commit) const {
  for (const auto& [other, f] : flights_) {
    if (other == id || f.spec.app != app || !Active(f.state)) continue;
    for (const auto& [arm, c] : f.state.commits)
      if (c == commit && (OwnsRoute(f.state) || arm == f.state.promoted_arm)) return true;
  }
  return false;
}

void ControlTower::Dispatch(const std::string& id, const Flight& f, Effect e) {
  ++effects_running_;
  const std::string& app = f.spec.app;
  const std::string deploy_key = app + "@" + e.commit;
  bool used_elsewhere = false;
  if (e.kind == Effect::Kind::kDeploy) ++deploying_[deploy_key];
  if (e.kind == Effect::Kind::kStop) used_elsewhere = CommitUsedElsewhereLocked(id, app, e.commit);
  RouteIntent intent;
  if (e.kind == Effect::Kind::kWriteRoute) intent = DesiredRoute(f.spec, f.state);
  // Copies: the thread must not touch the flight map without the lock.
  // Routers attribute a flight's traffic and events to its id (unique per start).
  std::thread([this, id, app, flight = f.state.id, intent = std::move(intent), deploy_key, used_elsewhere,
               route_failures = f.route_failures, e = std::move(e)]() mutable {
    bool refused = false;  // a route the registry will never take
    Observation o;
    o.step = e.step;
    o.arm = e.arm;
    switch (e.kind) {
      case Effect::Kind::kWriteRoute: {
        o.kind = Observation::Kind::kRouteWritten;
        o.route_version = e.route_version;
        Status s = io_->WriteRoute(app, intent);
        o.ok = s.ok();
        o.message = s.message();
        refused = !s.ok() && Permanent(s);
        // The stepper re-issues a failed write at once: back off while the registry is away
        // (briefly: the write itself waited for the registry, and must follow it within a second of its return).
        if (!s.ok())
          std::this_thread::sleep_for(std::chrono::milliseconds(
              BackoffDelayMs(kReconnectBackoff, std::min(route_failures, 16), 0.5)));
        break;
      }
      case Effect::Kind::kDeploy: {
        o.kind = Observation::Kind::kDeployDone;
        Status s = io_->Deploy(app, e.commit, e.instances);
        {
          std::lock_guard lock(mu_);
          if (--deploying_[deploy_key] == 0) deploying_.erase(deploy_key);
          changed_.notify_all();
        }
        o.ok = s.ok();
        o.message = s.ok() ? fmt::format("{} x{} deployed", e.commit.substr(0, 12), e.instances) : s.message();
        break;
      }
      case Effect::Kind::kStop: {
        o.kind = Observation::Kind::kStopDone;
        // A deploy of it still running (e.g. killed mid-deploy) would bring it
        // back after the stop: let it land first.
        {
          std::unique_lock lock(mu_);
          changed_.wait(lock, [&] { return stop_ || deploying_.count(deploy_key) == 0; });
        }
        Status s = used_elsewhere
                       ? Status::FailedPrecondition("another flight of the app uses this commit")
                       : io_->Stop(app, e.commit);
        o.ok = s.ok();
        o.message = s.ok() ? fmt::format("{} stopped", e.commit.substr(0, 12)) : s.message();
        break;
      }
      case Effect::Kind::kPing: {
        o.kind = Observation::Kind::kPingDone;
        PingResult r = io_->Ping(e.method, e.url, e.body);
        o.status_code = r.status_code;
        o.ok = r.error.empty() && r.status_code >= 200 && r.status_code < 300;
        o.message = !r.error.empty() ? r.error : fmt::format("HTTP {}", r.status_code);
        break;
      }
      case Effect::Kind::kGate: {
        o.kind = Observation::Kind::kGateVerdict;
        auto v = io_->Gate(app, flight, e.gate, e.previous_p, e.since_unix_ms);
        o.ok = v.ok();
        if (v.ok()) o.verdict = std::move(*v);
        else o.message = v.status().message();
        break;
      }
      case Effect::Kind::kLog:
        break;
    }
    Deliver(id, std::move(o), refused);
  }).detach();
}

void ControlTower::Deliver(const std::string& id, Observation o, bool route_refused) {
  std::lock_guard lock(mu_);
  --effects_running_;
  auto it = flights_.find(id);
  if (it != flights_.end()) {
    Flight& f = it->second;
    if (o.kind == Observation::Kind::kRouteWritten) {
      f.route_failures = o.ok ? 0 : f.route_failures + 1;
      // A running flight whose route the registry refuses can never take
      // effect: end it (its cleanup route, control only, is a plain one).
      if (route_refused && f.state.status == FlightStatus::kRunning && !f.kill)
        f.kill = "the registry refuses the flight's route: " + o.message;
    }
    f.inbox.push_back(std::move(o));
  }
  wake_.notify_all();
  changed_.notify_all();
}

Result<v1::FlightStatus> ControlTower::Start(const std::string& spec_json) {
  auto spec = ParseFlightSpecText(spec_json);
  if (!spec.ok()) return spec.status();
  if (spec->kill) {
    auto killed = Kill(spec->name, "the spec says \"kill\": true");
    if (!killed.ok() && killed.status().code() == Code::kNotFound)
      return Status::FailedPrecondition(fmt::format("kill: no active flight named \"{}\"", spec->name));
    return killed;
  }
  const int64_t now = clock_->WallMs();
  if (spec->end_by_unix_ms != 0 && spec->end_by_unix_ms <= now)
    return Status::InvalidArgument(fmt::format("endBy: {} has already passed", FormatRfc3339(spec->end_by_unix_ms)));
  for (const auto& step : spec->plan)
    for (const auto& s : step)
      if (s.action == PlanStep::Action::kWait && s.until_unix_ms != 0 && s.until_unix_ms <= now) {
        // Harmless (the wait ends at once) but almost certainly a mistake in the spec.
        log::Warn("flight wait until is in the past", {{"flight", spec->name}, {"until", FormatRfc3339(s.until_unix_ms)}});
      }
  if (Status s = io_->Ready(); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    // Before the arms are resolved: a flood of starts costs no I/O.
    if (Status s = RoomForOneMoreLocked(spec->name); !s.ok()) return s;
    for (const auto& [id, f] : flights_) {
      if (!Active(f.state)) continue;
      if (f.spec.name == spec->name && HoldsName(f.state))
        return Status::AlreadyExists(fmt::format("flight \"{}\" is active ({}); kill it first or pick another name",
                                                 spec->name, FlightStatusName(f.state.status)));
      if (f.spec.app == spec->app && OwnsRoute(f.state))
        return Status::FailedPrecondition(
            fmt::format("app \"{}\" already has flight \"{}\" ({}); one flight per app at a time", spec->app,
                        f.spec.name, FlightStatusName(f.state.status)));
    }
  }
  // Resolve every arm before anything changes.
  std::map<std::string, std::string> commits;
  Problems problems;
  std::map<std::string, std::string> arm_of_commit;
  for (const auto& [arm, commitish] : spec->arms) {
    auto c = io_->Resolve(spec->app, commitish);
    if (!c.ok()) {
      problems.Add(fmt::format("arms.{}: {}", arm, c.status().message()));
      continue;
    }
    if (auto [it, fresh] = arm_of_commit.emplace(*c, arm); !fresh)
      problems.Add(fmt::format("arms.{}: {} is also arm \"{}\"; arms need different commits", arm,
                                     c->substr(0, 12), it->second));
    commits[arm] = *c;
  }
  if (!problems.empty()) return problems.ToStatus();
  {
    // The route it will write must be one the registry takes.
    FlightState probe = NewFlightState(*spec, NewFlightId(spec->name, now), commits, now);
    if (Status s = io_->CheckRoute(spec->app, DesiredRoute(*spec, probe)); !s.ok())
      return Status::InvalidArgument("the flight's route would be refused by the registry: " + s.message());
  }

  std::unique_lock lock(mu_);
  // Checked again under the lock: another Start may have raced us.
  for (const auto& [id, f] : flights_)
    if ((f.spec.name == spec->name && HoldsName(f.state)) || (f.spec.app == spec->app && Active(f.state) && OwnsRoute(f.state)))
      return Status::AlreadyExists(fmt::format("flight \"{}\" on app \"{}\" started meanwhile", f.spec.name, f.spec.app));
  if (Status s = RoomForOneMoreLocked(spec->name); !s.ok()) return s;
  std::string id = NewFlightId(spec->name, now);
  while (flights_.count(id)) id += "x";
  Flight f;
  f.spec = std::move(*spec);
  f.state = NewFlightState(f.spec, id, std::move(commits), now);
  f.created_unix_ms = now;
  if (Status s = store_->Save(ToStored(id, f.spec, f.state, now), {}); !s.ok()) return s;
  auto [it, _] = flights_.emplace(id, std::move(f));
  log::Info("flight started", {{"flight", it->second.spec.name}, {"app", it->second.spec.app}, {"id", id}});
  wake_.notify_all();
  v1::FlightStatus st = StatusLocked(it->second, now);
  lock.unlock();
  AddEnrolled(st);
  return st;
}

Result<v1::FlightStatus> ControlTower::Kill(const std::string& name, const std::string& reason, int64_t wait_ms) {
  std::unique_lock lock(mu_);
  Flight* f = FindLocked(name);
  if (!f) return Status::NotFound(fmt::format("no flight named \"{}\"", name));
  if (!Active(f->state))
    return Status::FailedPrecondition(fmt::format("flight \"{}\" has already ended ({})", name,
                                                  FlightStatusName(f->state.status)));
  if (f->state.status == FlightStatus::kPromoted)
    return Status::FailedPrecondition(fmt::format(
        "flight \"{}\" has promoted {}; roll back with `skyport split {} COMMIT=100` (the previous commit runs "
        "until its grace ends)",
        name, f->state.promoted_arm, f->spec.app));
  const std::string id = f->state.id;
  if (f->state.status == FlightStatus::kRunning) f->kill = reason.empty() ? std::string("killed by an operator") : reason;
  wake_.notify_all();
  // Wait until traffic is back on control (the route written) or the time is up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  const bool back_on_control = changed_.wait_until(lock, deadline, [&] {
    auto it = flights_.find(id);
    if (it == flights_.end()) return true;  // finished, then forgotten (bound)
    const FlightState& s = it->second.state;
    return s.status != FlightStatus::kRunning && s.route_written >= s.route_version;
  });
  if (!back_on_control)
    return Status::DeadlineExceeded(fmt::format(
        "flight \"{}\" is being killed, but the registry has not taken the control-only route within {} ms; "
        "the tower keeps trying (see `skyport flight log {}`)",
        name, wait_ms, name));
  auto it = flights_.find(id);
  if (it == flights_.end())
    return Status::NotFound(fmt::format("flight \"{}\" ended and was forgotten (finished flights are bounded)", name));
  v1::FlightStatus st = StatusLocked(it->second, clock_->WallMs());
  lock.unlock();
  AddEnrolled(st);
  return st;
}

std::vector<v1::FlightStatus> ControlTower::List(bool all) {
  std::vector<v1::FlightStatus> out;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_->WallMs();
    std::vector<const Flight*> order;
    for (const auto& [id, f] : flights_)
      if (all || Active(f.state)) order.push_back(&f);
    std::sort(order.begin(), order.end(), [](const Flight* a, const Flight* b) {
      return std::tie(a->created_unix_ms, a->state.id) < std::tie(b->created_unix_ms, b->state.id);
    });
    for (const Flight* f : order) out.push_back(StatusLocked(*f, now));
  }
  for (auto& s : out) AddEnrolled(s);
  return out;
}

Result<v1::FlightStatus> ControlTower::Get(const std::string& name) {
  std::unique_lock lock(mu_);
  Flight* f = FindLocked(name);
  if (!f) return Status::NotFound(fmt::format("no flight named \"{}\"", name));
  v1::FlightStatus st = StatusLocked(*f, clock_->WallMs());
  lock.unlock();
  AddEnrolled(st);
  return st;
}

Result<FlightLogTail> ControlTower::Log(const std::string& name) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    Flight* f = FindLocked(name);
    if (!f) return Status::NotFound(fmt::format("no flight named \"{}\"", name));
    id = f->state.id;
  }
  return store_->Log(id, kMaxLogReplyBytes);
}

std::string ControlTower::Metrics() {
  std::map<std::string, int> by_state;
  for (FlightStatus s : kFlightStatuses) by_state[FlightStatusName(s)] = 0;
  uint64_t refused = 0, forgotten = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, f] : flights_) ++by_state[FlightStatusName(f.state.status)];
    refused = starts_refused_;
    forgotten = forgotten_;
  }
  PromText out;
  out.Family("skyport_hub_flights", PromType::kGauge, "Flights by state (promoted includes those past their grace).");
  for (const auto& [state, n] : by_state) out.Sample("skyport_hub_flights", {{"state", state}}, n);
  out.Counter("skyport_hub_flight_starts_refused_total",
              "Flight starts refused: --max-flights flights were not finished.", refused);
  out.Counter("skyport_hub_flights_forgotten_total",
              "Finished flights the tower forgot (it remembers the newest 1000, as the store keeps).", forgotten);
  return out.Take();
}

ControlTower::Flight* ControlTower::FindLocked(const std::string& name) {
  Flight* best = nullptr;
  for (auto& [id, f] : flights_) {
    if (f.spec.name != name) continue;
    if (!best || (Active(f.state) && !Active(best->state)) ||
        (Active(f.state) == Active(best->state) && f.created_unix_ms >= best->created_unix_ms))
      best = &f;
  }
  return best;
}

v1::FlightStatus ControlTower::StatusLocked(const Flight& f, int64_t now) const {
  const FlightSpec& spec = f.spec;
  const FlightState& st = f.state;
  v1::FlightStatus s;
  s.set_name(spec.name);
  s.set_app(spec.app);
  s.set_id(st.id);
  s.set_state(FlightStatusName(st.status));
  s.set_reason(st.reason);
  s.set_step(StepPosition(st));
  s.set_step_text(StepText(spec, st, now));
  s.set_started_unix_ms(st.started_unix_ms);
  s.set_ended_unix_ms(st.ended_unix_ms);
  s.set_end_by_unix_ms(spec.end_by_unix_ms);
  s.set_steps_total(static_cast<uint32_t>(spec.plan.size()));
  s.set_spec_json(spec.raw.dump());
  // Shares as routers apply them now.
  RouteIntent intent = DesiredRoute(spec, st);
  for (const auto& [arm, commit] : st.commits) {
    auto* a = s.add_arms();
    a->set_name(arm);
    a->set_commit(commit);
    a->set_control(arm == spec.control);
    auto w = intent.weights.find(commit);
    a->set_weight(w == intent.weights.end() ? 0.0 : w->second / 10000.0);
  }
  return s;
}

void ControlTower::AddEnrolled(v1::FlightStatus& s) {
  auto enrolled = io_->Enrolled(s.app(), s.id());
  for (auto& a : *s.mutable_arms()) {
    auto it = enrolled.find(a.commit());
    a.set_users_enrolled(it == enrolled.end() ? 0 : it->second);
  }
}

}  // namespace skyport::hub
