#include "hub/deploys/desired.h"

#include <nlohmann/json.hpp>

namespace skyport::hub {

void DesiredState::Put(const Deployment& d) {
  auto [it, inserted] = deployments_.try_emplace({d.app, d.commit}, d);
  if (inserted) return;
  it->second.instances = d.instances;
  it->second.env = d.env;
  it->second.drones.insert(d.drones.begin(), d.drones.end());
}

void DesiredState::RemoveDrone(const std::string& app, const std::string& commit, const std::string& drone) {
  auto it = deployments_.find({app, commit});
  if (it == deployments_.end()) return;
  it->second.drones.erase(drone);
  if (it->second.drones.empty()) deployments_.erase(it);
}

size_t DesiredState::Remove(const std::string& app, const std::string& commit, const std::set<std::string>& drones) {
  auto it = deployments_.find({app, commit});
  if (it == deployments_.end()) return 0;
  size_t removed = 0;
  if (drones.empty()) {
    removed = it->second.drones.size();
    deployments_.erase(it);
    return removed;
  }
  for (const auto& d : drones) removed += it->second.drones.erase(d);
  if (it->second.drones.empty()) deployments_.erase(it);
  return removed;
}

const Deployment* DesiredState::Find(const std::string& app, const std::string& commit) const {
  auto it = deployments_.find({app, commit});
  return it == deployments_.end() ? nullptr : &it->second;
}

std::vector<Deployment> DesiredState::ForDrone(const std::string& drone) const {
  std::vector<Deployment> out;
  for (const auto& [key, d] : deployments_)
    if (d.drones.count(drone)) out.push_back(d);
  return out;
}

std::vector<Deployment> DesiredState::All() const {
  std::vector<Deployment> out;
  for (const auto& [key, d] : deployments_) out.push_back(d);
  return out;
}

void DesiredState::SetSettings(const std::string& app, const AppSettings& settings) {
  if (settings.Empty()) settings_.erase(app);
  else settings_[app] = settings;
}

AppSettings DesiredState::Settings(const std::string& app) const {
  auto it = settings_.find(app);
  return it == settings_.end() ? AppSettings{} : it->second;
}

// ---- config vars
AppConfigVars DesiredState::Config(const std::string& app) const {
  auto it = configs_.find(app);
  return it == configs_.end() ? AppConfigVars{} : it->second;
}

uint64_t DesiredState::PutConfig(const std::string& app, std::map<std::string, std::string> vars,
                                 int64_t now_unix_ms) {
  AppConfigVars& c = configs_[app];
  if (c.version > 0) {  // the version it replaces stays restorable
    auto& kept = config_history_[app];
    kept[c.version] = c.vars;
    while (kept.size() > kConfigHistory) kept.erase(kept.begin());
  }
  c.vars = std::move(vars);
  c.updated_unix_ms = now_unix_ms;
  return ++c.version;
}

Result<std::map<std::string, std::string>> DesiredState::ConfigAt(const std::string& app, uint64_t version) const {
  if (version == 0) return std::map<std::string, std::string>{};
  if (auto c = configs_.find(app); c != configs_.end() && c->second.version == version) return c->second.vars;
  if (auto h = config_history_.find(app); h != config_history_.end())
    if (auto v = h->second.find(version); v != h->second.end()) return v->second;
  return Status::NotFound(app + "'s config version " + std::to_string(version) + " is no longer kept (the hub keeps " +
                          std::to_string(kConfigHistory) + " earlier versions per app)");
}

bool DesiredState::DropOldestConfigHistory() {
  auto most = config_history_.end();
  for (auto it = config_history_.begin(); it != config_history_.end(); ++it)
    if (!it->second.empty() && (most == config_history_.end() || it->second.size() > most->second.size())) most = it;
  if (most == config_history_.end()) return false;
  most->second.erase(most->second.begin());
  if (most->second.empty()) config_history_.erase(most);
  return true;
}

std::map<std::string, uint64_t> DesiredState::ConfigVersions() const {
  std::map<std::string, uint64_t> out;
  for (const auto& [app, c] : configs_) out[app] = c.version;
  return out;
}

std::string DesiredState::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [key, d] : deployments_)
    arr.push_back({{"app", d.app},
                   {"commit", d.commit},
                   {"instances", d.instances},
                   {"env", d.env},
                   {"drones", d.drones},
                   {"created_unix_ms", d.created_unix_ms}});
  nlohmann::json j{{"version", 1}, {"deployments", arr}};
  j["releases"] = releases_.ToJson();  // issue 16: releases ride with the deployments
  if (!settings_.empty()) {
    nlohmann::json apps = nlohmann::json::object();
    for (const auto& [app, st] : settings_) apps[app] = {{"deploy_on_push", st.deploy_on_push}};
    j["app_settings"] = apps;
  }
  // ---- config vars: {"config": {"APP": {"version": N, "vars": {...}, "updated_unix_ms": T}}}
  if (!configs_.empty()) {
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [app, c] : configs_)
      config[app] = {{"version", c.version}, {"vars", c.vars}, {"updated_unix_ms", c.updated_unix_ms}};
    j["config"] = std::move(config);
  }
  // {"config_history": {"APP": {"VERSION": {vars}}}}: earlier versions a rollback restores.
  if (!config_history_.empty()) {
    nlohmann::json history = nlohmann::json::object();
    for (const auto& [app, kept] : config_history_)
      for (const auto& [version, vars] : kept) history[app][std::to_string(version)] = vars;
    j["config_history"] = std::move(history);
  }
  // Never throws: a string that is not UTF-8 (none should be) must not make every later save fail.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<DesiredState> DesiredState::FromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("deployments") || !j["deployments"].is_array())
    return Status::DataLoss("deployments file is not valid JSON of the expected shape");
  DesiredState s;
  try {
    for (const auto& e : j["deployments"]) {
      Deployment d;
      d.app = e.at("app").get<std::string>();
      d.commit = e.at("commit").get<std::string>();
      // get<> converts numbers silently (-1 would become 4294967295).
      if (e.contains("instances") && !(e.at("instances").is_number_unsigned() && e.at("instances").get<uint64_t>() <= UINT32_MAX))
        return Status::DataLoss("deployments file: instances must be an unsigned 32-bit integer");
      if (e.contains("created_unix_ms") && !e.at("created_unix_ms").is_number_integer())
        return Status::DataLoss("deployments file: created_unix_ms must be an integer");
      d.instances = e.value("instances", 1u);
      d.env = e.value("env", std::map<std::string, std::string>{});
      d.drones = e.value("drones", std::set<std::string>{});
      d.created_unix_ms = e.value("created_unix_ms", int64_t{0});
      s.deployments_[{d.app, d.commit}] = d;
    }
    if (j.contains("app_settings")) {
      if (!j["app_settings"].is_object()) return Status::DataLoss("deployments file: app_settings must be an object");
      for (const auto& [app, e] : j["app_settings"].items()) {
        AppSettings st;
        st.deploy_on_push = e.value("deploy_on_push", std::string());
        if (Status v = ValidateBranch(st.deploy_on_push); !v.ok())
          return Status::DataLoss("deployments file: app_settings." + app + ": " + v.message());
        s.SetSettings(app, st);
      }
    }
    // ---- config vars (absent in files written before them)
    if (j.contains("config")) {
      if (!j["config"].is_object()) return Status::DataLoss("deployments file: config must be an object");
      for (const auto& [app, e] : j["config"].items()) {
        if (!e.is_object() || !e.contains("version") || !e.at("version").is_number_unsigned())
          return Status::DataLoss("deployments file: config." + app + ".version must be an unsigned integer");
        AppConfigVars c;
        c.version = e.at("version").get<uint64_t>();
        c.vars = e.value("vars", std::map<std::string, std::string>{});
        if (e.contains("updated_unix_ms") && !e.at("updated_unix_ms").is_number_integer())
          return Status::DataLoss("deployments file: config." + app + ".updated_unix_ms must be an integer");
        c.updated_unix_ms = e.value("updated_unix_ms", int64_t{0});
        s.configs_[app] = std::move(c);
      }
    }
    if (j.contains("config_history")) {
      if (!j["config_history"].is_object())
        return Status::DataLoss("deployments file: config_history must be an object");
      for (const auto& [app, kept] : j["config_history"].items()) {
        if (!kept.is_object()) return Status::DataLoss("deployments file: config_history." + app + " must be an object");
        for (const auto& [version, vars] : kept.items()) {
          if (version.empty() || version.size() > 19 || version.find_first_not_of("0123456789") != std::string::npos)
            return Status::DataLoss("deployments file: config_history." + app + ": a version must be a number");
          s.config_history_[app][std::stoull(version)] = vars.get<std::map<std::string, std::string>>();
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::DataLoss(std::string("deployments file: ") + e.what());
  }
  // --- releases (issue 16); absent in files written before them.
  if (j.contains("releases")) {
    auto book = ReleaseBook::FromJson(j["releases"]);
    if (!book.ok()) return Status::DataLoss("deployments file: " + book.status().message());
    s.releases_ = std::move(*book);
    s.releases_.InterruptPending("the hub stopped (or lost its leadership) before the deploy's outcome was known");
  }
  return s;
}

}  // namespace skyport::hub
