#include "hub/console/console_data.h"

#include <fmt/format.h>

#include "cli/config_view.h"
#include "cli/commands.h"
#include "cli/flight_view.h"
#include "cli/hub_client.h"
#include "cli/hub_tables.h"
#include "cli/port_table.h"
#include "cli/release_view.h"
#include "cli/route_json.h"
#include "cli/split_args.h"
#include "cli/split_cmd.h"
#include "cli/split_plan.h"
#include "cli/stats_cmd.h"
#include "cli/stats_fetch.h"
#include "cli/status_gather.h"
#include "cli/status_report.h"
#include "core/clock.h"
#include "contract/flight_spec.h"

namespace skyport::hub::console {
namespace {

using nlohmann::json;

// As PrintAnswered (cli/commands.cc): an object names the address that answered.
json Answered(json doc, const std::string& answered_by) {
  if (doc.is_object()) doc["answered_by"] = answered_by;
  return doc;
}

Reply Ok(json body) { return Reply{200, std::move(body)}; }

}  // namespace

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument:
    case Code::kOutOfRange: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
    case Code::kAborted: return 409;
    case Code::kResourceExhausted: return 409;  // e.g. --max-flights running: the cluster's state, not a rate
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kCancelled: return 503;
    default: return 500;
  }
}

Reply ErrorReply(int status, const std::string& message) { return Reply{status, json{{"error", message}}}; }

Reply ErrorReply(const Status& s) {
  // A token the hub refuses is the console's own problem, not the browser's session.
  int status = HttpStatusFor(s);
  if (status == 401) status = 500;
  return ErrorReply(status, s.message().empty() ? std::string(CodeName(s.code())) : s.message());
}

ConsoleData::ConsoleData(DataOptions o) : o_(std::move(o)) {}

namespace {

cli::GlobalOptions Global(const DataOptions& o) {
  cli::GlobalOptions g;
  g.hub = o.hub;
  g.registry = o.registry;
  g.token = o.token;
  g.tls_ca = o.tls_ca;
  g.tls_cert = o.tls_cert;
  g.tls_key = o.tls_key;
  g.timeout_s = o.timeout_s;
  g.json = true;
  g.quiet = true;  // problems come back as JSON errors, never as lines on the hub's stderr
  return g;
}

cli::ConnectOptions Connect(const DataOptions& o, const std::string& target) {
  return cli::ConnectOptions{target, o.token, {o.tls_cert, o.tls_key, o.tls_ca},
                             static_cast<int64_t>(o.timeout_s * 1000)};
}

Result<std::unique_ptr<cli::HubClient>> Hub(const DataOptions& o) { return cli::HubClient::Connect(Connect(o, o.hub)); }

Result<std::unique_ptr<cli::RegistryClient>> Registry(const DataOptions& o) {
  if (o.registry.empty()) return Status::Unavailable("this hub has no --registry");
  return cli::RegistryClient::Connect(Connect(o, o.registry));
}

// `skyport ps APP --json` (cli/hub_cmds.cc RunPs).
Result<json> PsDoc(cli::HubClient& client, const std::string& app) {
  auto ps = client.Ps(app);
  if (!ps.ok()) return ps.status();
  auto drones = client.Drones();
  std::vector<v1::DroneInfo> infos;
  if (drones.ok()) infos.assign(drones->drones().begin(), drones->drones().end());
  std::vector<v1::ProcessStatus> procs(ps->processes().begin(), ps->processes().end());
  return Answered(cli::PsJson(procs, infos, WallNowMs()), client.answered_by());
}

// `skyport registry route get APP`: the config, or null when there is none (as `split --show --json`).
Result<json> RouteDoc(const DataOptions& o, const std::string& app) {
  auto client = Registry(o);
  if (!client.ok()) return client.status();
  auto route = (*client)->GetRoute(app);
  if (!route.ok() && route.status().code() == Code::kNotFound) return json(nullptr);
  if (!route.ok()) return route.status();
  return json::parse(cli::RouteToJson(*route));
}

}  // namespace

template <class F>
Reply ConsoleData::Cached(const std::string& key, F compute) {
  const int64_t now = MonoNowMs();
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.at_ms < o_.cache_ms) {
      ++cache_hits_;
      return it->second.reply;
    }
    ++calls_;
  }
  Reply r = compute();
  if (o_.cache_ms > 0) {
    std::lock_guard<std::mutex> l(mu_);
    if (cache_.size() >= o_.cache_entries) cache_.clear();  // bounded: app names come from requests
    cache_[key] = Entry{MonoNowMs(), r};
  }
  return r;
}

void ConsoleData::ActionDone() {
  std::lock_guard<std::mutex> l(mu_);
  cache_.clear();
  ++actions_;
}

uint64_t ConsoleData::actions() const {
  std::lock_guard<std::mutex> l(mu_);
  return actions_;
}
uint64_t ConsoleData::cache_hits() const {
  std::lock_guard<std::mutex> l(mu_);
  return cache_hits_;
}
uint64_t ConsoleData::calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_;
}

Reply ConsoleData::Overview() {
  return Cached("overview", [this]() -> Reply {
    auto client = Hub(o_);
    if (!client.ok()) return ErrorReply(client.status());
    auto apps = (*client)->Apps();
    if (!apps.ok()) return ErrorReply(apps.status());
    json doc;
    doc["apps"] = Answered(cli::AppsJson(*apps), (*client)->answered_by());
    const cli::GlobalOptions g = Global(o_);
    auto gathered = cli::GatherStatus(g, Connect(o_, o_.hub));
    if (!gathered.ok()) return ErrorReply(gathered.status());
    doc["status"] = cli::StatusJson(cli::BuildStatus(*gathered), gathered->now_ms);
    return Ok(std::move(doc));
  });
}

Reply ConsoleData::App(const std::string& app) {
  return Cached("app/" + app, [this, &app]() -> Reply {
    auto client = Hub(o_);
    if (!client.ok()) return ErrorReply(client.status());
    auto& c = **client;
    auto releases = c.Releases(app);  // NOT_FOUND for an app the hub does not know: 404
    if (!releases.ok()) return ErrorReply(releases.status());
    json doc;
    doc["releases"] = Answered(cli::ReleasesJson(app, *releases), c.answered_by());
    auto ps = PsDoc(c, app);
    if (!ps.ok()) return ErrorReply(ps.status());
    doc["ps"] = std::move(*ps);
    auto config = c.ConfigGet(app, /*reveal=*/false);  // masked, always
    if (!config.ok()) return ErrorReply(config.status());
    doc["config"] = Answered(cli::ConfigJson(*config), c.answered_by());
    auto route = RouteDoc(o_, app);
    if (!route.ok()) return ErrorReply(route.status());
    doc["route"] = std::move(*route);
    return Ok(std::move(doc));
  });
}

Reply ConsoleData::AppStats(const std::string& app, const StatsParams& p) {
  const std::string key = fmt::format("stats/{}/{}/{}/{}/{}/{}", app, p.by, p.event, p.flight, p.since, p.control);
  return Cached(key, [this, &app, &p]() -> Reply {
    cli::StatsOptions so;
    so.app = app;
    so.experiment.by = p.by;
    so.experiment.event = p.event;
    so.experiment.flight = p.flight;
    so.experiment.since = p.since;
    so.experiment.control = p.control;
    auto computed = cli::ComputeStats(Global(o_), so);
    if (!computed.status.ok()) return ErrorReply(computed.status);
    return Ok(cli::StatsJsonDoc(computed));
  });
}

Reply ConsoleData::Flights(bool all) {
  return Cached(all ? "flights/all" : "flights", [this, all]() -> Reply {
    auto client = Hub(o_);
    if (!client.ok()) return ErrorReply(client.status());
    auto list = (*client)->FlightList(all);
    if (!list.ok()) return ErrorReply(list.status());
    json out = json::array();
    for (const auto& f : list->flights()) out.push_back(cli::FlightStatusJson(f));
    return Ok(std::move(out));
  });
}

Reply ConsoleData::Flight(const std::string& name) {
  return Cached("flight/" + name, [this, &name]() -> Reply {
    auto client = Hub(o_);
    if (!client.ok()) return ErrorReply(client.status());
    auto& c = **client;
    auto st = c.FlightStatus(name);
    if (!st.ok()) return ErrorReply(st.status());
    auto log = c.FlightLog(name);
    if (!log.ok()) return ErrorReply(log.status());
    std::vector<v1::FlightLogEntry> entries(log->entries().begin(), log->entries().end());
    json doc;
    doc["status"] = Answered(cli::FlightStatusJson(*st), c.answered_by());
    doc["log"] = Answered(cli::FlightLogJson(entries), c.answered_by());
    doc["log_older_left_out"] = log->older_left_out();
    return Ok(std::move(doc));
  });
}

Reply ConsoleData::Registry() {
  return Cached("registry", [this]() -> Reply {
    auto client = console::Registry(o_);
    if (!client.ok()) return ErrorReply(client.status());
    auto resp = (*client)->Show();
    if (!resp.ok()) return ErrorReply(resp.status());
    std::vector<v1::Endpoint> eps(resp->endpoints().begin(), resp->endpoints().end());
    return Ok(Answered(cli::PortTable(eps, cli::TableOptions{false, WallNowMs()}), (*client)->answered_by()));
  });
}

Reply ConsoleData::Drones() {
  return Cached("drones", [this]() -> Reply {
    auto client = Hub(o_);
    if (!client.ok()) return ErrorReply(client.status());
    auto resp = (*client)->Drones();
    if (!resp.ok()) return ErrorReply(resp.status());
    std::vector<v1::DroneInfo> drones(resp->drones().begin(), resp->drones().end());
    return Ok(Answered(cli::DronesJson(drones, WallNowMs()), (*client)->answered_by()));
  });
}

Reply ConsoleData::Split(const std::string& app, std::string_view body, bool preview) {
  auto args = SplitBodyArgs(body);
  if (!args.ok()) return ErrorReply(400, args.status().message());
  auto weights = cli::ParseWeightArgs(*args);
  if (!weights.ok()) return ErrorReply(400, weights.status().message());
  auto client = console::Registry(o_);
  if (!client.ok()) return ErrorReply(client.status());
  cli::SplitOptions so;
  so.app = app;
  cli::SplitOutcome done = cli::ApplySplit(**client, so, *weights, /*dry_run=*/preview);
  if (!done.status.ok()) {
    // A commit not running or ambiguous is the request's conflict with the cluster.
    if (!done.rpc_error && done.status.code() == Code::kFailedPrecondition) return ErrorReply(409, done.status.message());
    return ErrorReply(done.rpc_error ? Status(done.status.code(), done.what + ": " + done.status.message()) : done.status);
  }
  json warnings = json::array();
  for (const auto& w : cli::SplitWarnings(done.weights, done.running)) warnings.push_back(w);
  if (preview) {
    return Ok(json{{"moved_users_fraction", done.plan.moved},
                   {"new_split", done.plan.new_split},
                   {"route", json::parse(cli::RouteToJson(done.plan.route))},
                   {"warnings", std::move(warnings)}});
  }
  ActionDone();
  // Exactly `skyport split --json`: the route config written (the CLI's warnings go to its stderr).
  return Ok(json::parse(cli::RouteToJson(done.plan.route)));
}

Reply ConsoleData::Rollback(const std::string& app, std::string_view body) {
  auto release = RollbackBodyRelease(body);
  if (!release.ok()) return ErrorReply(400, release.status().message());
  v1::RollbackRequest req;
  req.set_app(app);
  if (!release->empty()) {
    auto n = cli::ParseReleaseNumber(*release);
    if (!n.ok()) return ErrorReply(400, n.status().message());
    req.set_to(*n);
  }
  auto client = Hub(o_);
  if (!client.ok()) return ErrorReply(client.status());
  auto resp = (*client)->Rollback(req);
  if (!resp.ok()) return ErrorReply(resp.status());
  ActionDone();
  return Ok(Answered(cli::RollbackJson(app, *resp), (*client)->answered_by()));
}

Reply ConsoleData::FlightStart(std::string_view body) {
  // Checked here first, so a bad spec is a 400 naming every problem without a call.
  auto spec = hub::ParseFlightSpecText(body);
  if (!spec.ok()) return ErrorReply(400, "spec: " + spec.status().message());
  auto client = Hub(o_);
  if (!client.ok()) return ErrorReply(client.status());
  auto st = (*client)->FlightStart(std::string(body));
  if (!st.ok()) return ErrorReply(st.status());
  ActionDone();
  return Ok(Answered(cli::FlightStatusJson(*st), (*client)->answered_by()));
}

Reply ConsoleData::FlightKill(const std::string& name, std::string_view body) {
  auto reason = KillBodyReason(body);
  if (!reason.ok()) return ErrorReply(400, reason.status().message());
  auto client = Hub(o_);
  if (!client.ok()) return ErrorReply(client.status());
  auto st = (*client)->FlightKill(name, *reason);
  if (!st.ok()) return ErrorReply(st.status());
  ActionDone();
  return Ok(Answered(cli::FlightStatusJson(*st), (*client)->answered_by()));
}

}  // namespace skyport::hub::console
