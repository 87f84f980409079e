// skyport: the command-line client. This file only defines the command line
// (the one CLI11 translation unit); the commands live in commands.h.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "core/flags.h"

namespace sc = skyport::cli;

namespace {

std::string DefaultConfig() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/skyport/config.toml";
}

void AddGlobalOptions(CLI::App& app, sc::GlobalOptions& g) {
  app.add_option("--registry", g.registry, "Registry address HOST:PORT")
      ->envname("SKYPORT_REGISTRY")
      ->capture_default_str();
  app.add_option("--token-file", g.token_file,
                 "File holding the cluster token (else env SKYPORT_TOKEN)")
      ->envname("SKYPORT_TOKEN_FILE");
  app.add_option("--tls-ca", g.tls_ca, "PEM roots: talk TLS and verify the registry");
  app.add_option("--tls-cert", g.tls_cert, "PEM client certificate (mTLS, with --tls-ca)");
  app.add_option("--tls-key", g.tls_key, "PEM client key (mTLS, with --tls-cert)");
  app.add_option("--timeout", g.timeout_s, "Deadline of each RPC, seconds")->capture_default_str();
  app.add_flag("--json", g.json, "Machine-readable output (register, query, free, route set)");
}

}  // namespace

int main(int argc, char** argv) {
  // CMD ARGS after `register ... --` are never parsed as our options.
  sc::SplitArgs split = sc::SplitCommand(std::vector<std::string>(argv, argv + argc));
  std::vector<char*> head;
  for (auto& a : split.head) head.push_back(a.data());

  CLI::App app{"skyport: client for the Skyport deployment cluster"};
  app.fallthrough();  // inherited: global options may follow any subcommand
  app.require_subcommand(1);
  sc::GlobalOptions g;
  AddGlobalOptions(app, g);
  skyport::EnableEnvAndConfig(app, DefaultConfig());

  auto* reg = app.add_subcommand("registry", "Ports, endpoints and routes in the registry");
  reg->require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands;

  sc::ShowOptions show;
  auto* show_cmd = reg->add_subcommand("show", "Print the port table (JSON: commit -> role -> entries)");
  show_cmd->add_option("app", show.app, "Only this app");
  auto* show_wide = show_cmd->add_flag("--wide", show.wide, "Add app, instance, drone, pid, health, id, age");
  show_cmd->add_flag("--table", show.table, "Human-readable table")->excludes(show_wide);
  commands.emplace_back(show_cmd, [&] { return sc::RunShow(g, show); });

  sc::RegisterOptions rg;
  auto* rg_cmd = reg->add_subcommand("register", "Register an entry, or run CMD and keep it registered");
  rg_cmd->add_option("target", rg.target, "APP@COMMIT")->required();
  rg_cmd->add_option("role", rg.role, "Role, e.g. http")->required();
  rg_cmd->add_option("--host", rg.host, "Address others reach it on")->required();
  uint32_t port = 0, ttl = 0;
  auto* port_opt = rg_cmd->add_option("--port", port, "Port (default: allocated by the registry)");
  auto* ttl_opt = rg_cmd->add_option("--ttl", ttl, "Lease TTL seconds (default 0 = permanent; 10 with CMD)");
  rg_cmd->add_option("--instance", rg.instance, "Instance number");
  rg_cmd->add_option("--drone", rg.drone, "Drone that runs it (empty for external services)");
  rg_cmd->add_option("--meta", rg.meta, "KEY=VALUE metadata (repeatable)")->allow_extra_args(false);
  rg_cmd->add_option("--ready-timeout", rg.ready_timeout_s, "With CMD: seconds to wait for HOST:PORT to accept connections")
      ->capture_default_str();
  rg_cmd->add_flag("--no-wait", rg.no_wait, "With CMD: register at once, without waiting for the port");
  rg_cmd->footer(
      "With `-- CMD ARGS...`, CMD is started with PORT and SKYPORT_APP/COMMIT/ROLE/INSTANCE in its\n"
      "environment, registered once HOST:PORT accepts connections, kept registered while it runs,\n"
      "and unregistered when it exits; skyport exits with CMD's exit code.");
  commands.emplace_back(rg_cmd, [&] {
    if (port_opt->count()) rg.port = port;
    if (ttl_opt->count()) rg.ttl = ttl;
    rg.command = split.command;
    if (split.has_command && rg.command.empty())
      return sc::ReportUsage(skyport::Status::InvalidArgument("expected CMD after --"));
    return sc::RunRegister(g, rg);
  });

  sc::QueryOptions q;
  auto* q_cmd = reg->add_subcommand("query", "Print the entries of APP[@COMMIT-PREFIX] [ROLE]");
  q_cmd->add_option("target", q.target, "APP or APP@COMMIT-PREFIX")->required();
  q_cmd->add_option("role", q.role, "Only this role");
  auto* q_wide = q_cmd->add_flag("--wide", q.wide, "Add app, instance, drone, pid, health, id, age");
  q_cmd->add_flag("--table", q.table, "Human-readable table")->excludes(q_wide);
  commands.emplace_back(q_cmd, [&] { return sc::RunQuery(g, q); });

  uint64_t free_id = 0;
  auto* free_cmd = reg->add_subcommand("free", "Deregister one entry by id");
  free_cmd->add_option("id", free_id, "Entry id (see show --wide)")->required();
  commands.emplace_back(free_cmd, [&] { return sc::RunFree(g, free_id); });

  sc::WatchOptions w;
  int64_t from = 0;
  auto* w_cmd = reg->add_subcommand("watch", "Print one JSON line per change, following the registry");
  w_cmd->add_option("app", w.app, "Only this app");
  auto* from_opt = w_cmd->add_option("--from", from, "Resume after this revision (no snapshot)");
  commands.emplace_back(w_cmd, [&] {
    if (from_opt->count()) w.from = from;
    return sc::RunWatch(g, w);
  });

  auto* route = reg->add_subcommand("route", "Read or write an app's route config");
  route->require_subcommand(1);
  std::string get_app;
  auto* get_cmd = route->add_subcommand("get", "Print APP's RouteConfig as JSON");
  get_cmd->add_option("app", get_app, "App")->required();
  commands.emplace_back(get_cmd, [&] { return sc::RunRouteGet(g, get_app); });
  sc::RouteSetOptions rs;
  int64_t expect = 0;
  auto* set_cmd = route->add_subcommand("set", "Replace APP's RouteConfig from a JSON file");
  set_cmd->add_option("app", rs.app, "App")->required();
  set_cmd->add_option("file", rs.file, "JSON file, or - for stdin")->required();
  auto* expect_opt = set_cmd->add_option("--expect-revision", expect,
                                         "Only if the route is still at this revision (0: must not exist)");
  commands.emplace_back(set_cmd, [&] {
    if (expect_opt->count()) rs.expect_revision = expect;
    return sc::RunRouteSet(g, rs);
  });

  int code = 0;
  if (!skyport::ParseOrExit(app, static_cast<int>(head.size()), head.data(), code)) return code;
  if (split.has_command && !rg_cmd->parsed())
    return sc::ReportUsage(skyport::Status::InvalidArgument("`-- CMD` is only for `registry register`"));
  for (auto& [cmd, run] : commands)
    if (cmd->parsed()) return run();
  return sc::kExitUsage;
}
