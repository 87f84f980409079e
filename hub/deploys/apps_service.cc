#include "hub/deploys/apps_service.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "contract/flight_spec.h"  // kDefaultGraceMs: a rollback's grace is a promote's
#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "core/timefmt.h"
#include "hub/deploys/operations.h"
#include "rpc/auth.h"
#include "rpc/convert.h"
#include "rpc/lease_calls.h"  // RegistryCall
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::hub {
namespace {

constexpr uint32_t kAllTraffic = 100;  // as `skyport split APP COMMIT=100` writes it (weights are relative)

v1::Release ToProto(const std::string& app, const Release& r, bool current) {
  v1::Release out;
  out.set_number(r.number);
  out.set_app(app);
  out.set_commit(r.commit);
  out.set_config_version(r.config_version);
  out.set_who(r.who);
  out.set_created_unix_ms(r.created_unix_ms);
  out.set_finished_unix_ms(r.finished_unix_ms);
  for (const auto& d : r.drones) out.add_drones(d);
  out.set_outcome(OutcomeName(r.outcome));
  out.set_error(r.error);
  out.set_description(r.description);
  out.set_rollback_to(r.rollback_to);
  for (const auto& [k, v] : r.env) out.add_env_keys(k);  // never the values
  out.set_current(current);
  out.set_instances(r.instances);
  return out;
}

// The app's commits that have an instance running, with their deployment's env.
std::map<std::string, std::map<std::string, std::string>> RunningCommits(Hub& hub, const std::string& app) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::map<std::string, std::map<std::string, std::string>> env;
  for (const auto& d : hub.Desired())
    if (d.app == app) env[d.commit] = d.env;
  for (const auto& p : hub.Ps(app))
    if (p.state() == "running") out[p.commit()] = env[p.commit()];
  return out;
}

std::set<std::string> FlightCommits(const std::vector<v1::FlightStatus>& flights, const std::string& app) {
  std::set<std::string> out;
  for (const auto& f : flights)
    if (f.app() == app)
      for (const auto& a : f.arms()) out.insert(a.commit());
  return out;
}

}  // namespace

Result<RouteWeights> ReadRouteWeights(rpc::AddressPool* registries, const std::string& token, const std::string& app,
                                      int64_t timeout_ms) {
  if (registries == nullptr)
    return Status::FailedPrecondition("the hub has no registry (start it with --registry HOST:PORT): routes unknown");
  v1::GetRouteRequest get;
  get.set_app(app);
  auto route = rpc::RegistryCall<v1::RouteConfig>(*registries, &v1::Registry::Stub::GetRoute, get, token,
                                                  {timeout_ms, /*wait_for_peer=*/false, rpc::Retry::kSafe});
  if (!route.ok()) {
    if (route.status().code() == Code::kNotFound) return RouteWeights{};
    return Status::Unavailable("cannot read " + app + "'s route from the registry: " + route.status().message());
  }
  return RouteWeights{std::map<std::string, uint32_t>(route->weights().begin(), route->weights().end())};
}

bool AppsService::Claim(const std::string& app, int64_t wait_ms) {
  std::unique_lock lock(mu_);
  if (!unclaimed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return !claimed_.count(app); }))
    return false;
  claimed_.insert(app);
  return true;
}

void AppsService::Unclaim(const std::string& app) {
  {
    std::lock_guard lock(mu_);
    claimed_.erase(app);
  }
  unclaimed_.notify_all();
}

grpc::Status AppsService::Admit(grpc::ServerContext& ctx) const {
  if (auto s = rpc::CheckToken(ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, ctx)) return *standby;
  return grpc::Status::OK;
}

Status AppsService::KnownApp(const std::string& app) const {
  if (hub_->ReleasesOf(app)) return Status::Ok();
  for (const auto& a : repos_->Apps())
    if (a == app) return Status::Ok();
  if (!hub_->Ps(app).empty()) return Status::Ok();
  return Status::NotFound("no app named " + app + " (nothing pushed, deployed or running)");
}

std::string AppsService::ActiveFlight(const std::string& app) const {
  if (!o_.active_flights) return "";
  for (const auto& f : o_.active_flights())
    if (f.app() == app) return f.name();
  return "";
}

grpc::Status AppsService::Releases(grpc::ServerContext* ctx, const v1::ReleasesRequest* req,
                                   v1::ReleasesResponse* resp) {
  if (auto s = Admit(*ctx); !s.ok()) return s;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (Status s = KnownApp(req->app()); !s.ok()) return rpc::ToGrpc(s);
  auto app = hub_->ReleasesOf(req->app());
  if (!app) return grpc::Status::OK;  // pushed, never deployed
  RouteWeights route;
  if (o_.registries) {
    auto r = ReadRouteWeights(o_.registries.get(), o_.token, req->app(), o_.route_timeout_ms);
    if (r.ok()) route = *r;
    else resp->set_route_error(r.status().message());
  }
  const auto current = CurrentRelease(*app, route);
  for (const auto& r : app->releases) *resp->add_releases() = ToProto(req->app(), r, current == r.number);
  resp->set_older_dropped(app->dropped);
  resp->set_current(current.value_or(0));
  return grpc::Status::OK;
}

grpc::Status AppsService::Rollback(grpc::ServerContext* ctx, const v1::RollbackRequest* req,
                                   v1::RollbackResponse* resp) {
  if (auto s = Admit(*ctx); !s.ok()) return s;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->has_grace_ms() && (req->grace_ms() < 0 || req->grace_ms() > kMaxRollbackGraceMs))
    return rpc::ToGrpc(Status::InvalidArgument("grace: from 0 to 7 days"));
  if (Status s = KnownApp(req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (!Claim(req->app(), o_.stop_timeout_ms + o_.route_timeout_ms))
    return rpc::ToGrpc(Status::Aborted("a rollback, destroy or retirement of " + req->app() +
                                       " is still running; try again when it ends"));
  auto done = DoRollback(*ctx, *req);
  Unclaim(req->app());
  if (!done.ok()) return rpc::ToGrpc(done.status());
  *resp = std::move(*done);
  return grpc::Status::OK;
}

Result<v1::RollbackResponse> AppsService::DoRollback(grpc::ServerContext& ctx, const v1::RollbackRequest& req) {
  const std::string& name = req.app();
  if (!o_.write_route)
    return Status::FailedPrecondition("rollback moves traffic: the hub needs the registry (--registry HOST:PORT)");
  auto app = hub_->ReleasesOf(name);
  if (!app) return Status::FailedPrecondition(name + " has no releases: nothing to roll back to (deploy it first)");
  auto route = ReadRouteWeights(o_.registries.get(), o_.token, name, o_.route_timeout_ms);
  if (!route.ok()) return route.status();
  RollbackInputs in;
  in.app = &*app;
  in.route = *route;
  in.requested = req.to();
  in.running = RunningCommits(*hub_, name);
  in.active_flight = ActiveFlight(name);
  auto plan = PlanRollback(name, in);
  if (!plan.ok()) return plan.status();
  const Release& target = *app->Find(plan->target);

  // A release is its commit and its config: one of another config version has
  // that version's vars restored first (as a new version, as Heroku does), and
  // its commit is then deployed again so that its instances roll onto them.
  const uint64_t config_before = hub_->Config(name).version;
  const auto target_config = static_cast<uint64_t>(target.config_version);
  uint64_t config_now = config_before;
  if (target_config != config_before) {
    auto restored = hub_->RestoreConfig(name, target_config);
    if (!restored.ok())
      return Status::FailedPrecondition(fmt::format(
          "v{} ran with config version {} and the app's config is now version {}, but {}: roll back the code with "
          "`skyport deploy {} {}` and set the config with `skyport config set`",
          plan->target, target_config, config_before, restored.status().message(), name, target.commit.substr(0, 12)));
    config_now = restored->version;
    plan->deploy = true;
    log::Info("rollback restores config", {{"app", name}, {"from_version", static_cast<int64_t>(target_config)},
                                           {"new_version", static_cast<int64_t>(config_now)}});
  }

  Release rel;
  rel.commit = target.commit;
  rel.config_version = static_cast<decltype(rel.config_version)>(config_now);  // what its instances run
  rel.drones = target.drones;
  rel.instances = target.instances;
  rel.env = target.env;
  rel.description = plan->description;
  rel.rollback_to = plan->target;
  auto number = hub_->BeginRelease(name, rel);
  if (!number.ok()) {
    if (config_now != config_before) (void)hub_->RestoreConfig(name, config_before);
    return number.status();
  }
  const std::string what = fmt::format("{} v{} ({})", name, *number, plan->description);
  log::Info("rollback", {{"app", name}, {"release", static_cast<int64_t>(*number)},
                         {"target", static_cast<int64_t>(plan->target)}, {"commit", plan->commit.substr(0, 12)},
                         {"deploy", plan->deploy}, {"retire", static_cast<int64_t>(plan->retire.size())}});
  auto fail = [&](const Status& s, const std::string& stage) -> Status {
    (void)hub_->FinishRelease(name, *number, ReleaseOutcome::kFailed, stage + ": " + s.message());
    if (config_now != config_before)  // the config goes back to what served (one more version)
      if (auto back = hub_->RestoreConfig(name, config_before); !back.ok())
        log::Warn("rollback failed and its config stays restored", {{"app", name}, {"error", back.status().message()}});
    log::Warn("rollback failed", {{"app", name}, {"release", static_cast<int64_t>(*number)}, {"stage", stage},
                                  {"error", s.message()}});
    return Status(s.code(), fmt::format("{} failed at its {}: {}", what, stage, s.message()));
  };

  if (plan->deploy) {
    v1::DeployRequest dep;
    dep.set_app(name);
    dep.set_commitish(target.commit);
    dep.set_instances(target.instances);
    for (const auto& d : target.drones) dep.mutable_target()->add_drones(d);
    for (const auto& [k, v] : target.env) (*dep.mutable_env())[k] = v;
    OperationHooks hooks;
    hooks.record_release = false;  // this rollback's release covers it
    hooks.cancelled = [&ctx] { return ctx.IsCancelled(); };
    if (Status s = RunDeploy(hub_, repos_, dep, o_.deploy_timeout_ms, hooks); !s.ok())
      return fail(s, s.code() == Code::kCancelled ? "deploy (interrupted: no traffic moved)" : "deploy");
  }
  RouteIntent intent;
  intent.weights[target.commit] = kAllTraffic;
  if (Status s = o_.write_route(name, intent); !s.ok()) return fail(s, "route change");

  const int64_t grace = req.has_grace_ms() ? req.grace_ms() : kDefaultGraceMs;
  const int64_t retire_at = SystemClock::Get()->WallMs() + grace;
  std::vector<Retirement> retire;
  for (const auto& c : plan->retire) retire.push_back({c, retire_at, *number});
  if (Status s = hub_->FinishRelease(name, *number, ReleaseOutcome::kSucceeded, "", retire); !s.ok())
    log::Warn("rollback done but not saved", {{"app", name}, {"error", s.message()}});

  v1::RollbackResponse resp;
  if (auto now = hub_->ReleasesOf(name))
    if (const Release* r = now->Find(*number)) *resp.mutable_release() = ToProto(name, *r, true);
  resp.set_target(plan->target);
  resp.set_deployed(plan->deploy);
  for (const auto& c : plan->retire) resp.add_retiring(c);
  if (!plan->retire.empty()) resp.set_retire_at_unix_ms(retire_at);
  return resp;
}

grpc::Status AppsService::List(grpc::ServerContext* ctx, const v1::AppsRequest*, v1::AppsResponse* resp) {
  if (auto s = Admit(*ctx); !s.ok()) return s;
  std::set<std::string> names;
  for (const auto& a : repos_->Apps()) names.insert(a);
  for (const auto& a : hub_->ReleaseApps()) names.insert(a);
  for (const auto& d : hub_->Desired()) names.insert(d.app);
  const auto procs = hub_->Ps("");
  for (const auto& p : procs) names.insert(p.app());
  const auto flights = o_.active_flights ? o_.active_flights() : std::vector<v1::FlightStatus>{};
  bool routes_ok = o_.registries != nullptr;
  if (!routes_ok) resp->set_route_error("the hub has no registry (--registry): weights unknown");
  for (const auto& name : names) {
    v1::AppSummary* s = resp->add_apps();
    s->set_name(name);
    RouteWeights route;
    if (routes_ok) {  // one failure is enough: the others would wait as long
      auto r = ReadRouteWeights(o_.registries.get(), o_.token, name, o_.route_timeout_ms);
      if (r.ok()) route = *r;
      else {
        routes_ok = false;
        resp->set_route_error(r.status().message());
      }
    }
    s->set_has_route(route.has_value());
    std::map<std::string, v1::AppCommit> commits;
    for (const auto& p : procs) {
      if (p.app() != name) continue;
      v1::AppCommit& c = commits[p.commit()];
      c.set_instances_total(c.instances_total() + 1);
      if (p.state() == "running") c.set_instances_up(c.instances_up() + 1);
    }
    if (route)
      for (const auto& [key, w] : *route) {
        if (w == 0) continue;
        bool known = false;
        for (auto& [commit, c] : commits)
          if (commit.compare(0, key.size(), key) == 0) {
            c.set_weight(c.weight() + w);
            known = true;
          }
        if (!known) commits[key].set_weight(w);  // weighted, nothing running
      }
    auto app = hub_->ReleasesOf(name);
    if (app) {
      s->set_releases(app->next - 1);
      if (auto cur = CurrentRelease(*app, route))
        *s->mutable_current() = ToProto(name, *app->Find(*cur), true);
      for (auto& [commit, c] : commits) {
        for (const auto& r : app->releases)
          if (r.commit == commit) c.set_release(r.number);
        for (const auto& t : app->retiring)
          if (t.commit == commit) c.set_retire_at_unix_ms(t.at_unix_ms);
      }
    }
    for (auto& [commit, c] : commits) {
      c.set_commit(commit);
      s->set_instances_up(s->instances_up() + c.instances_up());
      s->set_instances_total(s->instances_total() + c.instances_total());
      *s->add_commits() = std::move(c);
    }
    for (const auto& f : flights)
      if (f.app() == name) s->set_active_flight(f.name());
  }
  return grpc::Status::OK;
}

grpc::Status AppsService::Destroy(grpc::ServerContext* ctx, const v1::DestroyRequest* req, v1::DestroyResponse* resp) {
  if (auto s = Admit(*ctx); !s.ok()) return s;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->confirm() != req->app())
    return rpc::ToGrpc(Status::InvalidArgument("confirm: must repeat the app's name (--confirm " + req->app() +
                                               "); nothing was destroyed"));
  if (Status s = KnownApp(req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->purge() && o_.gate != nullptr)
    return rpc::ToGrpc(Status::FailedPrecondition(
        "--purge is not supported with several hubs (--store etcd): the other hubs keep copies of the repository "
        "and would bring it back; destroy without --purge"));
  if (auto flight = ActiveFlight(req->app()); !flight.empty())
    return rpc::ToGrpc(Status::FailedPrecondition(fmt::format(
        "flight {} is active on {}: kill it first (skyport flight kill {}); nothing was destroyed", flight,
        req->app(), flight)));
  if (!Claim(req->app(), o_.stop_timeout_ms + o_.route_timeout_ms))
    return rpc::ToGrpc(Status::Aborted("a rollback, destroy or retirement of " + req->app() +
                                       " is still running; try again when it ends"));
  auto done = DoDestroy(*req);
  Unclaim(req->app());
  if (!done.ok()) return rpc::ToGrpc(done.status());
  *resp = std::move(*done);
  return grpc::Status::OK;
}

Result<v1::DestroyResponse> AppsService::DoDestroy(const v1::DestroyRequest& req) {
  const std::string& app = req.app();
  v1::DestroyResponse resp;
  std::string failures;
  // Deploys are not held off while this runs (a deploy or a deploy on push may
  // start one meanwhile): stop what is desired or running until a pass finds
  // nothing new, at most kPasses passes; what is left is named as a failure.
  constexpr int kPasses = 4;
  std::set<std::string> done;
  for (int pass = 0;; ++pass) {
    std::set<std::string> commits;
    for (const auto& d : hub_->Desired())
      if (d.app == app) commits.insert(d.commit);
    // Desired again after its stop: deployed again. Running: not yet stopped by this destroy.
    for (const auto& p : hub_->Ps(app))
      if (!done.count(p.commit()) && p.state() != "stopped") commits.insert(p.commit());
    if (commits.empty()) break;
    if (pass == kPasses) {
      for (const auto& c : commits)
        failures += fmt::format("{}{}: deployed again while the app was being destroyed", failures.empty() ? "" : "; ",
                                c.substr(0, 12));
      break;
    }
    for (const auto& commit : commits) {
      v1::StopRequest stop;
      stop.set_app(app);
      stop.set_commitish(commit);
      auto r = RunStop(hub_, repos_, stop, o_.stop_timeout_ms);  // the desired state forgets it either way
      if (r.ok() || r.status().code() == Code::kNotFound) {
        if (done.insert(commit).second) resp.add_stopped(commit);
      } else {
        failures += fmt::format("{}{}: {}", failures.empty() ? "" : "; ", commit.substr(0, 12), r.status().message());
        done.insert(commit);
      }
    }
  }
  if (o_.registries) {
    v1::DeleteRouteRequest del;
    del.set_app(app);
    auto r = rpc::RegistryCall<v1::DeleteRouteResponse>(*o_.registries, &v1::Registry::Stub::DeleteRoute, del,
                                                        o_.token, {o_.route_timeout_ms, false, rpc::Retry::kIfUnsent});
    if (r.ok()) resp.set_route_removed(true);
    else if (r.status().code() != Code::kNotFound)
      failures += fmt::format("{}route: {}", failures.empty() ? "" : "; ", r.status().message());
  }
  // Its config vars and settings go with it.
  if (Status st = hub_->DropConfig(app); !st.ok()) return st;
  if (Status st = hub_->SetAppSettings(app, AppSettings{}); !st.ok()) return st;  // no deploy on push left behind
  auto erased = hub_->EraseReleases(app);
  if (!erased.ok()) return erased.status();
  resp.set_releases_removed(*erased);
  if (req.purge()) {
    Status s = repos_->Remove(app);
    if (s.ok()) resp.set_repository_removed(true);
    else if (s.code() != Code::kNotFound) failures += fmt::format("{}repository: {}", failures.empty() ? "" : "; ", s.message());
  }
  log::Info("app destroyed", {{"app", app}, {"stopped", static_cast<int64_t>(resp.stopped_size())},
                              {"route_removed", resp.route_removed()}, {"purged", resp.repository_removed()},
                              {"problems", failures}});
  if (!failures.empty())
    return Status::Aborted("destroy of " + app + " did not finish: " + failures +
                           " (drones that come back stop what they run; run it again)");
  return resp;
}

// ---- Retirer

Retirer::Retirer(Hub* hub, RepoStore* repos, AppsOptions o, AppsService* claims, int64_t interval_ms)
    : hub_(hub), repos_(repos), o_(std::move(o)), claims_(claims), interval_ms_(interval_ms) {
  thread_ = std::thread([this] { Loop(); });
}

Retirer::~Retirer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Retirer::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; })) {
    lock.unlock();
    if (o_.gate == nullptr || o_.gate->Leading())
      for (const auto& [app, r] : hub_->DueRetirements(SystemClock::Get()->WallMs())) RetireOne(app, r);
    lock.lock();
  }
}

void Retirer::RetireOne(const std::string& app, const Retirement& r) {
  if (claims_ != nullptr && !claims_->Claim(app)) return;  // a rollback or destroy runs: decided later
  struct Unclaim {
    AppsService* c;
    const std::string& app;
    ~Unclaim() {
      if (c != nullptr) c->Unclaim(app);
    }
  } unclaim{claims_, app};
  // Marked before the releases are read: a deploy of the commit from now on
  // waits for the stop and starts it again (Hub::BeginRetiring).
  hub_->BeginRetiring(app, r.commit);
  struct EndRetiring {
    Hub* hub;
    const std::string& app;
    const std::string& commit;
    ~EndRetiring() { hub->EndRetiring(app, commit); }
  } end_retiring{hub_, app, r.commit};
  auto route = ReadRouteWeights(o_.registries.get(), o_.token, app, o_.route_timeout_ms);
  if (!route.ok() && route.status().code() != Code::kFailedPrecondition) return;  // decided later
  auto releases = hub_->ReleasesOf(app);
  if (!releases) return;
  const auto flights = o_.active_flights ? o_.active_flights() : std::vector<v1::FlightStatus>{};
  RetireDecision d = ShouldRetire(r, *releases, route.ok() ? *route : RouteWeights{}, FlightCommits(flights, app));
  if (d.stop) {
    v1::StopRequest req;
    req.set_app(app);
    req.set_commitish(r.commit);
    auto stopped = RunStop(hub_, repos_, req, o_.stop_timeout_ms);
    if (!stopped.ok() && stopped.status().code() != Code::kNotFound)
      log::Warn("rollback grace over: stop failed (drones that come back stop it)",
                {{"app", app}, {"commit", r.commit.substr(0, 12)}, {"error", stopped.status().message()}});
    else
      log::Info("rollback grace over: stopped", {{"app", app}, {"commit", r.commit.substr(0, 12)},
                                                 {"release", static_cast<int64_t>(r.release)}});
  } else {
    log::Info("rollback grace over: kept", {{"app", app}, {"commit", r.commit.substr(0, 12)},
                                            {"why", d.keep_reason}});
  }
  if (Status s = hub_->DropRetirement(app, r.commit, r.release); !s.ok())
    log::Warn("retirement not saved as done; tried again", {{"app", app}, {"error", s.message()}});
}

}  // namespace skyport::hub
