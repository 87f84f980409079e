// Gathering for `skyport stats` and `skyport gate`: the routers' /stats and the
// hub's experiment rows, all at once.
#include "cli/stats_fetch.h"

#include <future>
#include <iostream>

#include <fmt/format.h>

#include "cli/errors.h"
#include "cli/hub_client.h"
#include "cli/stats_table.h"
#include "core/http_admin.h"
#include "core/names.h"
#include "contract/arm_stats.h"

namespace skyport::cli {
namespace {

SourceProblem RpcProblem(const std::string& what, const Status& s, const Daemon& daemon) {
  return {fmt::format("{}: {}: {}", what, CodeName(s.code()), s.message()), RpcHint(s, daemon)};
}

// What the routers said: their merged /stats, or why there is none.
struct RouterSide {
  std::optional<nlohmann::json> merged;
  std::optional<SourceProblem> problem;
  bool registry_answered = false;
};

RouterSide AskRouters(const GlobalOptions& g, const StatsOptions& o, const ConnectOptions& opts,
                      RegistryClient& registry) {
  RouterSide side;
  std::vector<RouterTarget> targets;
  if (o.routers.empty()) {
    v1::QueryRequest req;
    req.set_app(kRouterApp);
    req.set_role(kRouterAdminRole);
    auto resp = registry.Query(req);
    if (!resp.ok()) {
      side.problem = RpcProblem("find the routers", resp.status(), RegistryDaemon(g.registry));
      return side;
    }
    side.registry_answered = true;
    targets = RouterTargets({resp->endpoints().begin(), resp->endpoints().end()});
    if (targets.empty()) {
      side.problem = SourceProblem{fmt::format("no router is registered (no {} endpoint with role {} at {})", kRouterApp,
                                         kRouterAdminRole, g.registry),
                             "skyport: hint: start skyport-router or pass --router HOST:PORT"};
      return side;
    }
  } else {
    for (const std::string& r : o.routers) targets.push_back({r, r});
  }

  const std::string path = StatsPath(o.app, o.window_s);
  const int timeout_ms = static_cast<int>(opts.timeout_ms);
  std::vector<std::future<Result<nlohmann::json>>> answers;
  for (const RouterTarget& t : targets)
    answers.push_back(std::async(std::launch::async, [&opts, &path, timeout_ms, address = t.address]()
                                                         -> Result<nlohmann::json> {
      auto resp = AdminGet(address, path, opts.token, timeout_ms);
      if (!resp.ok()) return resp.status();
      return StatsDocument(*resp);
    }));
  std::vector<nlohmann::json> docs;
  for (size_t i = 0; i < targets.size(); ++i) {
    auto doc = answers[i].get();
    if (doc.ok()) {
      docs.push_back(std::move(*doc));
      continue;
    }
    if (!g.quiet) std::cerr << RouterWarning(targets[i], doc.status()) << std::endl;
  }
  if (docs.empty()) {
    side.problem = SourceProblem{fmt::format("stats {}: {}", o.app,
                                       targets.size() == 1
                                           ? std::string("the router did not answer")
                                           : fmt::format("none of the {} routers answered", targets.size())),
                           ""};
    return side;
  }
  side.merged = router::MergeStatsJson(docs);
  return side;
}

}  // namespace

Status CheckStatsOptions(const StatsOptions& o) {
  constexpr int kMaxWindowSeconds = 86400;
  if (Status s = ValidateName("app", o.app); !s.ok()) return s;
  if (o.window_s < 1 || o.window_s > kMaxWindowSeconds)
    return Status::InvalidArgument(fmt::format("window: must be 1..{} seconds", kMaxWindowSeconds));
  for (const std::string& r : o.routers)
    if (auto hp = SplitHostPort(r); !hp.ok()) return hp.status();
  return Status::Ok();
}

void PrintSourceProblem(const SourceProblem& p, bool warning) {
  std::cerr << "skyport: " << (warning ? "warning: " : "") << p.message << std::endl;
  if (!p.hint.empty()) std::cerr << p.hint << std::endl;
}

std::optional<GatheredStats> GatherStats(const GlobalOptions& g, const StatsOptions& o, const v1::StatsQuery& query,
                                         int& code, bool ask_routers) {
  auto opts = ConnectOptionsOrReport(g, g.registry, code);
  if (!opts) return std::nullopt;

  // The hub answers while the routers are asked.
  std::future<std::pair<Result<v1::StatsReport>, std::string>> hub_answer;
  if (!g.hub.empty()) {
    ConnectOptions hub_opts = *opts;
    hub_opts.target = g.hub;
    auto hub = HubClient::Connect(hub_opts);
    if (!hub.ok()) {
      code = ReportUsage(hub.status());
      return std::nullopt;
    }
    hub_answer = std::async(std::launch::async, [client = std::move(*hub), q = query]() mutable {
      // Routers attribute a flight's data to its id (unique per start); a
      // name (ids hold a '.', names never do) means the hub's latest flight of
      // that name, else it is taken as given.
      if (!q.flight().empty() && q.flight().find('.') == std::string::npos) {
        auto st = client->FlightStatus(q.flight());
        if (st.ok() && st->app() == q.app()) q.set_flight(st->id());
      }
      auto report = client->QueryStats(q);
      return std::make_pair(std::move(report), client->answered_by());
    });
  }

  auto registry = ConnectOrReport(g, code);
  if (!registry) return std::nullopt;
  GatheredStats out;
  RouterSide routers;
  if (ask_routers) {
    routers = AskRouters(g, o, *opts, *registry);
    out.routers = std::move(routers.merged);
    out.router_problem = std::move(routers.problem);
  }
  // The route config's weights: the router table's WEIGHT column, the default
  // control and the sample-ratio check. They describe the split outside
  // flights only; unknown when the registry has none or does not answer.
  if (routers.registry_answered || !o.routers.empty() || !ask_routers) {
    auto route = registry->GetRoute(o.app);
    if (route.ok()) out.weights = {route->weights().begin(), route->weights().end()};
  }

  if (hub_answer.valid()) {
    auto [answer, by] = hub_answer.get();
    out.hub_answered_by = by;
    if (answer.ok())
      out.report = std::move(*answer);
    else
      out.hub_problem = RpcProblem("experiment stats from the hub", answer.status(), HubDaemon(g.hub));
  }
  return out;
}

}  // namespace skyport::cli
