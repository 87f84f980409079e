// skyport stats: ask every router for /stats and the hub for the experiment
// rows, all at once; merge, compare, print.
#include "cli/stats_cmd.h"

#include <future>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "cli/errors.h"
#include "cli/experiment_table.h"
#include "cli/hub_client.h"
#include "cli/stats_table.h"
#include "core/clock.h"
#include "core/http_admin.h"
#include "core/names.h"
#include "router/stats.h"

namespace skyport::cli {
namespace {

constexpr int kMaxWindowSeconds = 86400;

// Why a source gave nothing: "skyport: [warning: ]MESSAGE" and a hint line.
struct Problem {
  std::string message;
  std::string hint;  // "" or a whole "skyport: hint: ..." line
};

void Print(const Problem& p, bool warning) {
  std::cerr << "skyport: " << (warning ? "warning: " : "") << p.message << std::endl;
  if (!p.hint.empty()) std::cerr << p.hint << std::endl;
}

Problem RpcProblem(const std::string& what, const Status& s, const Daemon& daemon) {
  return {fmt::format("{}: {}: {}", what, CodeName(s.code()), s.message()), RpcHint(s, daemon)};
}

// What the routers said: their merged /stats, or why there is none.
struct RouterSide {
  std::optional<nlohmann::json> merged;
  std::optional<Problem> problem;
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
      side.problem = Problem{fmt::format("no router is registered (no {} endpoint with role {} at {})", kRouterApp,
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
    std::cerr << RouterWarning(targets[i], doc.status()) << std::endl;
  }
  if (docs.empty()) {
    side.problem = Problem{fmt::format("stats {}: {}", o.app,
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

int RunStats(const GlobalOptions& g, const StatsOptions& o) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  if (o.window_s < 1 || o.window_s > kMaxWindowSeconds)
    return ReportUsage(Status::InvalidArgument(fmt::format("window: must be 1..{} seconds", kMaxWindowSeconds)));
  for (const std::string& r : o.routers)
    if (auto hp = SplitHostPort(r); !hp.ok()) return ReportUsage(hp.status());
  auto query = MakeStatsQuery(o.app, o.experiment, SystemClock::Get()->WallMs() / 1000);
  if (!query.ok()) return ReportUsage(query.status());
  int code = kExitOk;
  auto opts = ConnectOptionsOrReport(g, g.registry, code);
  if (!opts) return code;

  // The hub answers while the routers are asked.
  std::future<Result<v1::StatsReport>> hub_answer;
  if (!g.hub.empty()) {
    ConnectOptions hub_opts = *opts;
    hub_opts.target = g.hub;
    auto hub = HubClient::Connect(hub_opts);
    if (!hub.ok()) return ReportUsage(hub.status());
    hub_answer = std::async(std::launch::async,
                            [client = std::move(*hub), q = *query] { return client->QueryStats(q); });
  }

  auto registry = ConnectOrReport(g, code);
  if (!registry) return code;
  RouterSide routers = AskRouters(g, o, *opts, *registry);
  // The route config's weights: the router table's WEIGHT column, the default
  // control and the sample-ratio check. They describe the split outside
  // flights only; unknown when the registry has none or does not answer.
  std::map<std::string, uint32_t> weights;
  if (routers.registry_answered || !o.routers.empty()) {
    auto route = registry->GetRoute(o.app);
    if (route.ok()) weights = {route->weights().begin(), route->weights().end()};
  }

  std::optional<v1::StatsReport> report;
  std::optional<Problem> hub_problem;
  if (hub_answer.valid()) {
    auto answer = hub_answer.get();
    if (answer.ok())
      report = std::move(*answer);
    else
      hub_problem = RpcProblem("experiment stats from the hub", answer.status(), HubDaemon(g.hub));
  }
  if (!routers.merged && !report) {
    if (routers.problem) Print(*routers.problem, false);
    if (hub_problem) Print(*hub_problem, false);
    return kExitFailure;
  }

  std::optional<ExperimentResult> experiment;
  if (report) {
    const auto& experiment_weights = o.experiment.flight.empty() ? weights : std::map<std::string, uint32_t>{};
    auto control = ChooseControl(*report, experiment_weights, o.experiment.control);
    if (!control.ok()) return ReportUsage(control.status());
    experiment = AnalyzeExperiment(*query, *report, experiment_weights, *control);
  }
  if (routers.problem) Print(*routers.problem, true);
  if (hub_problem) Print(*hub_problem, true);

  if (g.json) {
    nlohmann::json doc = routers.merged ? std::move(*routers.merged) : nlohmann::json::object();
    if (experiment) doc["experiment"] = ExperimentJson(*experiment);
    std::cout << doc.dump(2) << std::endl;
    return kExitOk;
  }
  if (routers.merged) std::cout << RenderStatsTable(*routers.merged, o.app, weights);
  if (routers.merged && experiment) std::cout << "\n";
  if (experiment) std::cout << RenderExperimentTable(*experiment);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace skyport::cli
