#include "hub/deploys/hub.h"

#include <filesystem>

#include <fmt/format.h>

#include "core/files.h"
#include "core/log.h"
#include "hub/deploys/reconcile.h"

namespace skyport::hub {

std::string ProcessKey(const v1::ProcessStatus& p) {
  return fmt::format("{}/{}/{}/{}", p.app(), p.commit(), p.role(), p.instance());
}

Result<std::unique_ptr<Hub>> Hub::Open(const std::string& data_dir, Clock* clock) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::InvalidArgument(fmt::format("data: cannot create {}: {}", data_dir, ec.message()));
  std::string path = data_dir + "/deployments.json";
  DesiredState desired;
  if (auto text = ReadFile(path); text.ok()) {
    auto parsed = DesiredState::FromJson(*text);
    if (!parsed.ok()) return Status::DataLoss(fmt::format("{}: {}", path, parsed.status().message()));
    desired = std::move(*parsed);
  }
  log::Info("desired state loaded", {{"deployments", static_cast<int64_t>(desired.All().size())}});
  return std::unique_ptr<Hub>(new Hub(path, clock, std::move(desired)));
}

Status Hub::SaveLocked() { return save_ ? save_(desired_.ToJson()) : WriteFileAtomic(path_, desired_.ToJson()); }

void Hub::set_desired_store(std::function<Status(const std::string& json)> save) {
  std::lock_guard lock(mu_);
  save_ = std::move(save);
}

void Hub::ReplaceDesired(DesiredState d) {
  std::lock_guard lock(mu_);
  desired_ = std::move(d);
}

uint64_t Hub::Attach(std::shared_ptr<DroneLink> link, const v1::DroneHello& hello) {
  std::shared_ptr<DroneLink> old;
  uint64_t id;
  std::vector<Deployment> desired;
  std::map<std::string, uint64_t> config_versions;
  std::vector<v1::ProcessStatus> running(hello.running().begin(), hello.running().end());
  {
    std::lock_guard lock(mu_);
    Session& s = sessions_[hello.name()];
    if (s.connected) old = s.link;
    id = s.id = next_session_++;
    s.link = std::move(link);
    s.hello = hello;
    s.hello.clear_running();
    s.connected = true;
    s.last_seen_unix_ms = clock_->WallMs();
    s.processes.clear();
    for (const auto& p : running) s.processes[ProcessKey(p)] = p;
    desired = desired_.ForDrone(hello.name());
    config_versions = desired_.ConfigVersions();
    // The drone gets each app's config under the deployment's own --env.
    for (auto& d : desired) d.env = MergeConfigEnv(desired_.Config(d.app).vars, d.env);
  }
  if (old) old->Close();
  log::Info("drone attached", {{"drone", hello.name()},
                               {"advertise", hello.advertise()},
                               {"running", static_cast<int64_t>(running.size())},
                               {"session", static_cast<int64_t>(id)}});
  ReconcileDrone(hello.name(), desired, running, config_versions);
  return id;
}

void Hub::ReconcileDrone(const std::string& drone, const std::vector<Deployment>& desired,
                         const std::vector<v1::ProcessStatus>& running,
                         const std::map<std::string, uint64_t>& config_versions) {
  ReconcilePlan plan = Reconcile(desired, running, config_versions);
  for (const auto& d : plan.start) {
    v1::HubCommand cmd;
    auto* dep = cmd.mutable_deploy();
    dep->set_app(d.app);
    dep->set_commitish(d.commit);
    dep->set_instances(d.instances);
    dep->set_budget_ms(reconcile_budget_ms_.load());
    for (const auto& [k, v] : d.env) (*dep->mutable_env())[k] = v;
    if (auto v = config_versions.find(d.app); v != config_versions.end()) dep->set_config_version(v->second);
    dep->set_deployed_unix_ms(d.created_unix_ms);
    std::string what = fmt::format("{}@{}", d.app, d.commit.substr(0, 12));
    log::Info("reconcile: starting", {{"drone", drone}, {"deployment", what}});
    (void)Send(drone, cmd, [what](const std::string& dr, const v1::DroneMessage& m) {
      if (m.has_done() && !m.done().ok())
        log::Warn("reconcile: start failed", {{"drone", dr}, {"deployment", what}, {"error", m.done().error()}});
    });
  }
  for (const auto& [app, commit] : plan.stop) {
    v1::HubCommand cmd;
    cmd.mutable_stop()->set_app(app);
    cmd.mutable_stop()->set_commitish(commit);
    log::Info("reconcile: stopping", {{"drone", drone}, {"app", app}, {"commit", commit.substr(0, 12)}});
    (void)Send(drone, cmd, [](const std::string&, const v1::DroneMessage&) {});
  }
}

void Hub::OnMessage(const std::string& drone, uint64_t session, const v1::DroneMessage& msg) {
  std::shared_ptr<Answer> answer;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(drone);
    if (it == sessions_.end() || it->second.id != session) return;  // a replaced session
    Session& s = it->second;
    s.last_seen_unix_ms = clock_->WallMs();
    if (msg.has_status()) {
      v1::ProcessStatus p = msg.status();
      p.set_drone(drone);
      s.processes[ProcessKey(p)] = p;
    } else if (msg.has_gone()) {
      const auto& g = msg.gone();
      s.processes.erase(fmt::format("{}/{}/{}/{}", g.app(), g.commit(), g.role(), g.instance()));
    }
    if (msg.command_id() != 0) {
      auto p = pending_.find(msg.command_id());
      if (p != pending_.end() && p->second.drone == drone) {
        answer = p->second.answer;
        if (msg.has_done()) pending_.erase(p);
      }
    }
  }
  if (answer) (*answer)(drone, msg);
}

void Hub::Detach(const std::string& drone, uint64_t session) {
  std::vector<std::pair<uint64_t, std::shared_ptr<Answer>>> orphans;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(drone);
    if (it == sessions_.end() || it->second.id != session) return;
    it->second.connected = false;
    it->second.link.reset();
    for (auto p = pending_.begin(); p != pending_.end();) {
      if (p->second.drone == drone) {
        orphans.emplace_back(p->first, p->second.answer);
        p = pending_.erase(p);
      } else {
        ++p;
      }
    }
  }
  log::Warn("drone detached", {{"drone", drone}, {"pending_commands", static_cast<int64_t>(orphans.size())}});
  for (auto& [id, answer] : orphans) {
    v1::DroneMessage done;
    done.set_command_id(id);
    done.mutable_done()->set_ok(false);
    done.mutable_done()->set_error(fmt::format("drone {} disconnected", drone));
    (*answer)(drone, done);
  }
}

Result<uint64_t> Hub::Send(const std::string& drone, v1::HubCommand cmd, Answer answer) {
  std::shared_ptr<DroneLink> link;
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(drone);
    if (it == sessions_.end() || !it->second.connected)
      return Status::FailedPrecondition(fmt::format("drone {} is not attached", drone));
    link = it->second.link;
    id = next_command_++;
    pending_[id] = Pending{drone, it->second.id, std::make_shared<Answer>(std::move(answer))};
  }
  cmd.set_command_id(id);
  if (!link->Send(cmd)) {
    std::lock_guard lock(mu_);
    pending_.erase(id);
    return Status::Unavailable(fmt::format("drone {}: its stream closed", drone));
  }
  return id;
}

void Hub::Cancel(const std::string& drone, uint64_t command_id) {
  std::shared_ptr<DroneLink> link;
  {
    std::lock_guard lock(mu_);
    pending_.erase(command_id);
    auto it = sessions_.find(drone);
    if (it != sessions_.end() && it->second.connected) link = it->second.link;
  }
  if (!link) return;
  v1::HubCommand cmd;
  cmd.set_cancel(command_id);
  link->Send(cmd);
}

Status Hub::ChangeLocked(const std::function<void(DesiredState&)>& change) {
  DesiredState before = desired_;
  change(desired_);
  Status s = SaveLocked();
  if (!s.ok()) desired_ = std::move(before);
  return s;
}

Status Hub::Desire(const Deployment& d) {
  std::lock_guard lock(mu_);
  return ChangeLocked([&](DesiredState& st) { st.Put(d); });
}

Status Hub::Undesire(const std::string& app, const std::string& commit, const std::set<std::string>& drones) {
  std::lock_guard lock(mu_);
  return ChangeLocked([&](DesiredState& st) { st.Remove(app, commit, drones); });
}

Status Hub::SetAppSettings(const std::string& app, const AppSettings& settings) {
  std::lock_guard lock(mu_);
  return ChangeLocked([&](DesiredState& st) { st.SetSettings(app, settings); });
}

Status Hub::DropConfig(const std::string& app) {
  std::lock_guard lock(mu_);
  return ChangeLocked([&](DesiredState& st) { st.DropConfig(app); });
}

AppSettings Hub::AppSettingsOf(const std::string& app) const {
  std::lock_guard lock(mu_);
  return desired_.Settings(app);
}

// ---- config vars
AppConfigVars Hub::Config(const std::string& app) const {
  std::lock_guard lock(mu_);
  return desired_.Config(app);
}

Result<AppConfigVars> Hub::ChangeConfig(const std::string& app, const ConfigChange& change) {
  std::lock_guard lock(mu_);
  auto vars = ApplyConfigChange(desired_.Config(app).vars, change);
  if (!vars.ok()) return vars.status();
  return PutConfigLocked(app, std::move(*vars));
}

Result<AppConfigVars> Hub::RestoreConfig(const std::string& app, uint64_t version) {
  std::lock_guard lock(mu_);
  auto vars = desired_.ConfigAt(app, version);
  if (!vars.ok()) return vars.status();
  return PutConfigLocked(app, std::move(*vars));
}

Result<AppConfigVars> Hub::PutConfigLocked(const std::string& app, std::map<std::string, std::string> vars) {
  DesiredState before = desired_;
  desired_.PutConfig(app, std::move(vars), clock_->WallMs());
  // The desired state is one etcd value with --store etcd (etcd refuses
  // requests over 1.5 MiB by default): config must leave room for deployments.
  // Earlier versions kept for rollbacks give way first.
  size_t size = desired_.ToJson().size();
  while (size > kMaxDesiredJsonBytes && desired_.DropOldestConfigHistory()) size = desired_.ToJson().size();
  if (size > kMaxDesiredJsonBytes) {
    desired_ = std::move(before);
    return Status::ResourceExhausted(fmt::format(
        "config: the hub's desired state would be {} bytes with this change, above its bound of {} (all apps' "
        "config and deployments together); unset config vars no longer used",
        size, kMaxDesiredJsonBytes));
  }
  if (Status s = SaveLocked(); !s.ok()) {
    desired_ = std::move(before);
    return s;
  }
  return desired_.Config(app);
}

std::vector<Deployment> Hub::Desired() const {
  std::lock_guard lock(mu_);
  return desired_.All();
}

Result<std::vector<std::string>> Hub::ChooseTargets(const v1::DeployTarget& target) const {
  std::vector<DroneView> views;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, s] : sessions_) {
      DroneView v;
      v.name = name;
      v.labels.insert(s.hello.labels().begin(), s.hello.labels().end());
      v.connected = s.connected;
      v.processes = s.processes.size();
      views.push_back(std::move(v));
    }
  }
  return hub::ChooseTargets(target, views);
}

std::vector<v1::DroneInfo> Hub::Drones() const {
  std::lock_guard lock(mu_);
  std::vector<v1::DroneInfo> out;
  for (const auto& [name, s] : sessions_) {
    v1::DroneInfo d;
    d.set_name(name);
    d.set_advertise(s.hello.advertise());
    d.mutable_labels()->insert(s.hello.labels().begin(), s.hello.labels().end());
    d.set_connected(s.connected);
    d.set_last_seen_unix_ms(s.last_seen_unix_ms);
    d.set_version(s.hello.version());
    for (const auto& [k, p] : s.processes) *d.add_processes() = p;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<v1::ProcessStatus> Hub::Ps(const std::string& app) const {
  std::lock_guard lock(mu_);
  std::vector<v1::ProcessStatus> out;
  for (const auto& [name, s] : sessions_)
    for (const auto& [k, p] : s.processes)
      if (app.empty() || p.app() == app) {
        out.push_back(p);
        out.back().set_drone(name);
        if (!s.connected) out.back().set_state("unknown (drone detached)");
      }
  return out;
}

std::vector<std::string> Hub::ConnectedDrones() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, s] : sessions_)
    if (s.connected) out.push_back(name);
  return out;
}

std::set<std::string> Hub::DronesWith(const std::string& app, const std::string& commit) const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  if (const Deployment* d = desired_.Find(app, commit)) out = d->drones;
  for (const auto& [name, s] : sessions_)
    for (const auto& [k, p] : s.processes)
      if (p.app() == app && p.commit() == commit) out.insert(name);
  return out;
}

std::set<std::string> Hub::KnownCommits(const std::string& app, const std::string& prefix) const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  auto consider = [&](const std::string& a, const std::string& c) {
    if (a == app && c.compare(0, prefix.size(), prefix) == 0) out.insert(c);
  };
  for (const auto& d : desired_.All()) consider(d.app, d.commit);
  for (const auto& [name, s] : sessions_)
    for (const auto& [k, p] : s.processes) consider(p.app(), p.commit());
  return out;
}

}  // namespace skyport::hub
