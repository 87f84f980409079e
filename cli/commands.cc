// show, query, free, route get/set: one RPC each, then shaping for output;
// and the table of every `skyport registry` command (watch_cmd.cc and
// register_cmd.cc run the other two).
#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/args.h"
#include "cli/command_table.h"
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

void PrintAnswered(nlohmann::json doc, const std::string& answered_by, const std::string& list, int indent) {
  if (doc.is_object()) doc["answered_by"] = answered_by;
  else if (list.find(',') != std::string::npos) std::cerr << "skyport: answered by " << answered_by << std::endl;
  std::cout << doc.dump(indent) << std::endl;
}

int ReportUsage(const Status& status) {
  std::cerr << "skyport: " << status.message() << std::endl;
  return kExitUsage;
}

std::optional<ConnectOptions> ConnectOptionsOrReport(const GlobalOptions& g, const std::string& target,
                                                     int& exit_code) {
  const char* env_token = std::getenv("SKYPORT_TOKEN");
  auto token = g.token.empty() ? LoadToken(g.token_file, env_token ? env_token : "") : Result<std::string>(g.token);
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
  // show's default output is JSON already; --json adds who answered.
  if (g.json && !o.table)
    PrintAnswered(PortTable(eps, TableOptions{o.wide, WallNowMs()}), client->answered_by(), g.registry, 2);
  else
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
  if (g.json && !o.table) PrintAnswered(EndpointList(eps, WallNowMs()), client->answered_by(), g.registry, 2);
  else PrintEndpoints(eps, o.wide, o.table, g.json);
  if (eps.empty()) {  // a misspelled app or commit must not look like an idle one (grep's convention)
    std::cerr << "skyport: no entries for " << o.target << (o.role.empty() ? "" : " " + o.role)
              << " in the registry" << std::endl;
    return kExitFailure;
  }
  return kExitOk;
}

int RunFree(const GlobalOptions& g, uint64_t id) {
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  Status s = client->Deregister(id);
  if (!s.ok()) return ReportRpcError(g, "free " + std::to_string(id), s);
  if (g.json)
    PrintAnswered({{"id", id}, {"freed", true}}, client->answered_by(), g.registry, -1);
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
    PrintAnswered({{"app", o.app}, {"revision", resp->revision()}}, client->answered_by(), g.registry, -1);
  else
    std::cout << "route for " << o.app << " set at revision " << resp->revision() << std::endl;
  return kExitOk;
}

// ---- the `skyport registry ...` command table (command_table.h)
namespace {

Runner DefineShow(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<ShowOptions>();
  cmd.add_option("app", o->app, "Only this app");
  auto* wide = cmd.add_flag("--wide", o->wide, "Add app, instance, drone, pid, health, id, age");
  cmd.add_flag("--table", o->table, "Human-readable table")->excludes(wide);
  return [&g = ctx.global, o] { return RunShow(g, *o); };
}

Runner DefineRegister(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<RegisterOptions>();
  auto port = std::make_shared<uint32_t>(0);
  auto ttl = std::make_shared<uint32_t>(0);
  cmd.add_option("target", o->target, "APP@COMMIT")->required();
  cmd.add_option("role", o->role, "Role, e.g. http")->required();
  cmd.add_option("--host", o->host, "Address others reach it on")->required();
  auto* port_opt = cmd.add_option("--port", *port, "Port (default: allocated by the registry)");
  auto* ttl_opt = cmd.add_option("--ttl", *ttl, "Lease TTL seconds (default 0 = permanent; 10 with CMD)");
  cmd.add_option("--instance", o->instance, "Instance number");
  cmd.add_option("--drone", o->drone, "Drone that runs it (empty for external services)");
  cmd.add_option("--meta", o->meta, "KEY=VALUE metadata (repeatable)")->allow_extra_args(false);
  cmd.add_option("--ready-timeout", o->ready_timeout_s, "With CMD: seconds to wait for HOST:PORT to accept connections")
      ->capture_default_str();
  cmd.add_flag("--no-wait", o->no_wait, "With CMD: register at once, without waiting for the port");
  cmd.footer(
      "With `-- CMD ARGS...`, CMD is started with PORT and SKYPORT_APP/COMMIT/ROLE/INSTANCE in its\n"
      "environment, registered once HOST:PORT accepts connections, kept registered while it runs,\n"
      "and unregistered when it exits; skyport exits with CMD's exit code.");
  return [&g = ctx.global, &split = ctx.args, o, port, ttl, port_opt, ttl_opt] {
    if (port_opt->count()) o->port = *port;
    if (ttl_opt->count()) o->ttl = *ttl;
    o->command = split.command;
    if (split.has_command && o->command.empty())
      return ReportUsage(Status::InvalidArgument("expected CMD after --"));
    return RunRegister(g, *o);
  };
}

Runner DefineQuery(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<QueryOptions>();
  cmd.add_option("target", o->target, "APP or APP@COMMIT-PREFIX")->required();
  cmd.add_option("role", o->role, "Only this role");
  auto* wide = cmd.add_flag("--wide", o->wide, "Add app, instance, drone, pid, health, id, age");
  cmd.add_flag("--table", o->table, "Human-readable table")->excludes(wide);
  return [&g = ctx.global, o] { return RunQuery(g, *o); };
}

Runner DefineFree(CLI::App& cmd, const CommandContext& ctx) {
  auto id = std::make_shared<uint64_t>(0);
  cmd.add_option("id", *id, "Entry id (see show --wide)")->required();
  return [&g = ctx.global, id] { return RunFree(g, *id); };
}

Runner DefineWatch(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<WatchOptions>();
  auto from = std::make_shared<int64_t>(0);
  cmd.add_option("app", o->app, "Only this app");
  auto* from_opt = cmd.add_option("--from", *from, "Resume after this revision (no snapshot)");
  return [&g = ctx.global, o, from, from_opt] {
    if (from_opt->count()) o->from = *from;
    return RunWatch(g, *o);
  };
}

Runner DefineRouteGet(CLI::App& cmd, const CommandContext& ctx) {
  auto app = std::make_shared<std::string>();
  cmd.add_option("app", *app, "App")->required();
  return [&g = ctx.global, app] { return RunRouteGet(g, *app); };
}

Runner DefineRouteSet(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<RouteSetOptions>();
  auto expect = std::make_shared<int64_t>(0);
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("file", o->file, "JSON file, or - for stdin")->required();
  auto* expect_opt =
      cmd.add_option("--expect-revision", *expect, "Only if the route is still at this revision (0: must not exist)");
  return [&g = ctx.global, o, expect, expect_opt] {
    if (expect_opt->count()) o->expect_revision = *expect;
    return RunRouteSet(g, *o);
  };
}

constexpr CommandSpec kRegistryCommands[] = {
    {"registry", "Ports, endpoints and routes in the registry"},
    {"registry show", "Print the port table (JSON: commit -> role -> entries)", DefineShow},
    {"registry register", "Register an entry, or run CMD and keep it registered", DefineRegister,
     /*takes_command=*/true},
    {"registry query", "Print the entries of APP[@COMMIT-PREFIX] [ROLE]", DefineQuery},
    {"registry free", "Deregister one entry by id", DefineFree},
    {"registry watch", "Print one JSON line per change, following the registry", DefineWatch},
    {"registry route", "Read or write an app's route config"},
    {"registry route get", "Print APP's RouteConfig as JSON", DefineRouteGet},
    {"registry route set", "Replace APP's RouteConfig from a JSON file", DefineRouteSet},
};

}  // namespace

std::span<const CommandSpec> RegistryCommands() { return kRegistryCommands; }

}  // namespace skyport::cli
