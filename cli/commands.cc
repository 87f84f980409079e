// show, query, free, route get/set: one RPC each, then shaping for output.
#include "cli/commands.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/args.h"
#include "cli/errors.h"
#include "cli/port_table.h"
#include "cli/route_json.h"
#include "core/clock.h"
#include "core/names.h"
#include "core/token.h"

namespace skyport::cli {
namespace {

// The three output forms shared by show and query.
void PrintEndpoints(const std::vector<v1::Endpoint>& eps, bool wide, bool table, bool list) {
  if (table) {
    std::cout << RenderTable(eps, WallNowMs()) << std::flush;
  } else if (list) {
    std::cout << EndpointList(eps, WallNowMs()).dump(2) << std::endl;
  } else {
    std::cout << PortTable(eps, TableOptions{wide, WallNowMs()}).dump(2) << std::endl;
  }
}

}  // namespace

int ReportRpcError(const GlobalOptions& g, const std::string& what, const Status& status) {
  std::cerr << FormatRpcError(what, status, g.registry) << std::endl;
  return kExitFailure;
}

int ReportUsage(const Status& status) {
  std::cerr << "skyport: " << status.message() << std::endl;
  return kExitUsage;
}

std::optional<ConnectOptions> ConnectOptionsOrReport(const GlobalOptions& g, const std::string& target,
                                                     int& exit_code) {
  const char* env_token = std::getenv("SKYPORT_TOKEN");
  auto token = LoadToken(g.token_file, env_token ? env_token : "");
  if (!token.ok()) {
    exit_code = ReportUsage(token.status());
    return std::nullopt;
  }
  if (g.timeout_s <= 0) {
    exit_code = ReportUsage(Status::InvalidArgument("timeout: must be positive"));
    return std::nullopt;
  }
  return ConnectOptions{target, *token, {g.tls_cert, g.tls_key, g.tls_ca},
                        static_cast<int64_t>(g.timeout_s * 1000)};
}

std::unique_ptr<RegistryClient> ConnectOrReport(const GlobalOptions& g, int& exit_code) {
  auto opts = ConnectOptionsOrReport(g, g.registry, exit_code);
  if (!opts) return nullptr;
  auto client = RegistryClient::Connect(*opts);
  if (!client.ok()) {
    exit_code = ReportUsage(client.status());
    return nullptr;
  }
  return std::move(*client);
}

int RunShow(const GlobalOptions& g, const ShowOptions& o) {
  if (!o.app.empty())
    if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  auto resp = client->Show();
  if (!resp.ok()) return ReportRpcError(g, "show", resp.status());
  std::vector<v1::Endpoint> eps;
  for (const auto& ep : resp->endpoints())
    if (o.app.empty() || ep.app() == o.app) eps.push_back(ep);
  // show's default output is JSON already; --json does not change it.
  PrintEndpoints(eps, o.wide, o.table, false);
  return kExitOk;
}

int RunQuery(const GlobalOptions& g, const QueryOptions& o) {
  auto target = ParseAppQuery(o.target);
  if (!target.ok()) return ReportUsage(target.status());
  if (!o.role.empty())
    if (Status s = ValidateName("role", o.role); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  v1::QueryRequest req;
  req.set_app(target->app);
  req.set_commit_prefix(target->commit);
  req.set_role(o.role);
  auto resp = client->Query(req);
  if (!resp.ok()) return ReportRpcError(g, "query " + o.target, resp.status());
  std::vector<v1::Endpoint> eps(resp->endpoints().begin(), resp->endpoints().end());
  PrintEndpoints(eps, o.wide, o.table, g.json);
  return kExitOk;
}

int RunFree(const GlobalOptions& g, uint64_t id) {
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  Status s = client->Deregister(id);
  if (!s.ok()) return ReportRpcError(g, "free " + std::to_string(id), s);
  if (g.json)
    std::cout << nlohmann::json{{"id", id}, {"freed", true}}.dump() << std::endl;
  else
    std::cout << "freed " << id << std::endl;
  return kExitOk;
}

int RunRouteGet(const GlobalOptions& g, const std::string& app) {
  if (Status s = ValidateName("app", app); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  auto route = client->GetRoute(app);
  if (!route.ok()) return ReportRpcError(g, "get route for " + app, route.status());
  std::cout << RouteToJson(*route) << std::flush;
  return kExitOk;
}

int RunRouteSet(const GlobalOptions& g, const RouteSetOptions& o) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  std::stringstream text;
  if (o.file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(o.file);
    if (!in) return ReportUsage(Status::InvalidArgument("cannot read " + o.file));
    text << in.rdbuf();
  }
  auto route = RouteFromJson(text.str());
  if (!route.ok()) {
    std::string where = o.file == "-" ? "stdin" : o.file;
    return ReportUsage(Status::InvalidArgument(where + ": " + route.status().message()));
  }
  if (route->app().empty()) route->set_app(o.app);
  if (route->app() != o.app)
    return ReportUsage(Status::InvalidArgument("route names app \"" + route->app() +
                                               "\" but the command says \"" + o.app + "\""));
  route->clear_revision();  // output only; --expect-revision is the compare-and-swap
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  auto resp = client->PutRoute(*route, o.expect_revision);
  if (!resp.ok()) {
    int rc = ReportRpcError(g, "set route for " + o.app, resp.status());
    if (resp.status().code() == Code::kFailedPrecondition && o.expect_revision)
      std::cerr << "skyport: the route's revision changed since " << *o.expect_revision
                << "; run `skyport registry route get " << o.app << "` and retry" << std::endl;
    return rc;
  }
  if (g.json)
    std::cout << nlohmann::json{{"app", o.app}, {"revision", resp->revision()}}.dump() << std::endl;
  else
    std::cout << "route for " << o.app << " set at revision " << resp->revision() << std::endl;
  return kExitOk;
}

}  // namespace skyport::cli
