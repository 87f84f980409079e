// skyport stats: find the routers, ask each for /stats at once, merge.
#include "cli/stats_cmd.h"

#include <future>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "cli/errors.h"
#include "cli/stats_table.h"
#include "core/http_admin.h"
#include "core/names.h"
#include "router/stats.h"

namespace skyport::cli {
namespace {

constexpr int kMaxWindowSeconds = 86400;

// The registered routers, or prints why there are none and sets `exit_code`.
std::vector<RouterTarget> RegisteredRouters(const GlobalOptions& g, RegistryClient& client, int& exit_code) {
  v1::QueryRequest req;
  req.set_app(kRouterApp);
  req.set_role(kRouterAdminRole);
  auto resp = client.Query(req);
  if (!resp.ok()) {
    exit_code = ReportRpcError(g, "find the routers", resp.status());
    return {};
  }
  auto targets = RouterTargets({resp->endpoints().begin(), resp->endpoints().end()});
  if (targets.empty()) {
    std::cerr << "skyport: no router is registered (no " << kRouterApp << " endpoint with role " << kRouterAdminRole
              << " at " << g.registry << "); start skyport-router or pass --router HOST:PORT" << std::endl;
    exit_code = kExitFailure;
  }
  return targets;
}

// The app's weights from its route config; empty when it has none or the
// registry does not answer (the table then has no WEIGHT column).
std::map<std::string, uint32_t> Weights(RegistryClient& client, const std::string& app) {
  auto route = client.GetRoute(app);
  if (!route.ok()) return {};
  return {route->weights().begin(), route->weights().end()};
}

}  // namespace

int RunStats(const GlobalOptions& g, const StatsOptions& o) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  if (o.window_s < 1 || o.window_s > kMaxWindowSeconds)
    return ReportUsage(Status::InvalidArgument(fmt::format("window: must be 1..{} seconds", kMaxWindowSeconds)));
  for (const std::string& r : o.routers)
    if (auto hp = SplitHostPort(r); !hp.ok()) return ReportUsage(hp.status());
  int code = kExitOk;
  // The token and deadline; the registry is dialled only to find the routers.
  auto opts = ConnectOptionsOrReport(g, g.registry, code);
  if (!opts) return code;

  std::vector<RouterTarget> targets;
  std::map<std::string, uint32_t> weights;
  if (o.routers.empty()) {
    auto client = ConnectOrReport(g, code);
    if (!client) return code;
    targets = RegisteredRouters(g, *client, code);
    if (targets.empty()) return code;
    weights = Weights(*client, o.app);
  } else {
    for (const std::string& r : o.routers) targets.push_back({r, r});
  }

  const std::string path = StatsPath(o.app, o.window_s);
  const int timeout_ms = static_cast<int>(opts->timeout_ms);
  std::vector<std::future<Result<nlohmann::json>>> answers;
  for (const RouterTarget& t : targets)
    answers.push_back(std::async(std::launch::async, [&opts, &path, timeout_ms, address = t.address]()
                                                         -> Result<nlohmann::json> {
      auto resp = AdminGet(address, path, opts->token, timeout_ms);
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
    std::cerr << "skyport: stats " << o.app << ": "
              << (targets.size() == 1 ? std::string("the router did not answer")
                                      : fmt::format("none of the {} routers answered", targets.size()))
              << std::endl;
    return kExitFailure;
  }

  nlohmann::json merged = router::MergeStatsJson(docs);
  if (g.json)
    std::cout << merged.dump(2) << std::endl;
  else
    std::cout << RenderStatsTable(merged, o.app, weights) << std::flush;
  return kExitOk;
}

}  // namespace skyport::cli
