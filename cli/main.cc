// skyport: the command-line client. This file only defines the command line
// (the one CLI11 translation unit); the commands live in commands.h and
// hub_commands.h.
#include <CLI/CLI.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/flight_cmd.h"
#include "cli/hub_commands.h"
#include "cli/split_cmd.h"
#include "cli/gate_cmd.h"
#include "cli/stats_cmd.h"
#include "core/flags.h"

namespace sc = skyport::cli;

namespace {

// Each parsed subcommand and what runs it. The option structs the lambdas
// fill live in shared_ptrs the lambdas own.
using Commands = std::vector<std::pair<CLI::App*, std::function<int()>>>;

std::string DefaultConfig() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/skyport/config.toml";
}

void AddGlobalOptions(CLI::App& app, sc::GlobalOptions& g) {
  app.add_option("--registry", g.registry, "Registry address HOST:PORT")
      ->envname("SKYPORT_REGISTRY")
      ->capture_default_str();
  app.add_option("--hub", g.hub, "Hub address HOST:PORT")->envname("SKYPORT_HUB")->capture_default_str();
  app.add_option("--token-file", g.token_file,
                 "File holding the cluster token (else env SKYPORT_TOKEN)")
      ->envname("SKYPORT_TOKEN_FILE");
  app.add_option("--tls-ca", g.tls_ca, "PEM roots: talk TLS and verify the registry or hub");
  app.add_option("--tls-cert", g.tls_cert, "PEM client certificate (mTLS, with --tls-ca)");
  app.add_option("--tls-key", g.tls_key, "PEM client key (mTLS, with --tls-cert)");
  app.add_option("--timeout", g.timeout_s,
                 "Deadline of each RPC, seconds (deploy, stop, logs: of connecting)")
      ->capture_default_str();
  app.add_flag("--json", g.json, "Machine-readable output");
}

// `skyport registry ...`. Returns the register command, which alone takes `-- CMD`.
CLI::App* AddRegistryCommands(CLI::App& app, const sc::GlobalOptions& g, const sc::SplitArgs& split,
                              Commands& commands) {
  auto* reg = app.add_subcommand("registry", "Ports, endpoints and routes in the registry");
  reg->require_subcommand(1);

  auto show = std::make_shared<sc::ShowOptions>();
  auto* show_cmd = reg->add_subcommand("show", "Print the port table (JSON: commit -> role -> entries)");
  show_cmd->add_option("app", show->app, "Only this app");
  auto* show_wide = show_cmd->add_flag("--wide", show->wide, "Add app, instance, drone, pid, health, id, age");
  show_cmd->add_flag("--table", show->table, "Human-readable table")->excludes(show_wide);
  commands.emplace_back(show_cmd, [&g, show] { return sc::RunShow(g, *show); });

  auto rg = std::make_shared<sc::RegisterOptions>();
  auto port = std::make_shared<uint32_t>(0);
  auto ttl = std::make_shared<uint32_t>(0);
  auto* rg_cmd = reg->add_subcommand("register", "Register an entry, or run CMD and keep it registered");
  rg_cmd->add_option("target", rg->target, "APP@COMMIT")->required();
  rg_cmd->add_option("role", rg->role, "Role, e.g. http")->required();
  rg_cmd->add_option("--host", rg->host, "Address others reach it on")->required();
  auto* port_opt = rg_cmd->add_option("--port", *port, "Port (default: allocated by the registry)");
  auto* ttl_opt = rg_cmd->add_option("--ttl", *ttl, "Lease TTL seconds (default 0 = permanent; 10 with CMD)");
  rg_cmd->add_option("--instance", rg->instance, "Instance number");
  rg_cmd->add_option("--drone", rg->drone, "Drone that runs it (empty for external services)");
  rg_cmd->add_option("--meta", rg->meta, "KEY=VALUE metadata (repeatable)")->allow_extra_args(false);
  rg_cmd->add_option("--ready-timeout", rg->ready_timeout_s, "With CMD: seconds to wait for HOST:PORT to accept connections")
      ->capture_default_str();
  rg_cmd->add_flag("--no-wait", rg->no_wait, "With CMD: register at once, without waiting for the port");
  rg_cmd->footer(
      "With `-- CMD ARGS...`, CMD is started with PORT and SKYPORT_APP/COMMIT/ROLE/INSTANCE in its\n"
      "environment, registered once HOST:PORT accepts connections, kept registered while it runs,\n"
      "and unregistered when it exits; skyport exits with CMD's exit code.");
  commands.emplace_back(rg_cmd, [&g, &split, rg, port, ttl, port_opt, ttl_opt] {
    if (port_opt->count()) rg->port = *port;
    if (ttl_opt->count()) rg->ttl = *ttl;
    rg->command = split.command;
    if (split.has_command && rg->command.empty())
      return sc::ReportUsage(skyport::Status::InvalidArgument("expected CMD after --"));
    return sc::RunRegister(g, *rg);
  });

  auto q = std::make_shared<sc::QueryOptions>();
  auto* q_cmd = reg->add_subcommand("query", "Print the entries of APP[@COMMIT-PREFIX] [ROLE]");
  q_cmd->add_option("target", q->target, "APP or APP@COMMIT-PREFIX")->required();
  q_cmd->add_option("role", q->role, "Only this role");
  auto* q_wide = q_cmd->add_flag("--wide", q->wide, "Add app, instance, drone, pid, health, id, age");
  q_cmd->add_flag("--table", q->table, "Human-readable table")->excludes(q_wide);
  commands.emplace_back(q_cmd, [&g, q] { return sc::RunQuery(g, *q); });

  auto free_id = std::make_shared<uint64_t>(0);
  auto* free_cmd = reg->add_subcommand("free", "Deregister one entry by id");
  free_cmd->add_option("id", *free_id, "Entry id (see show --wide)")->required();
  commands.emplace_back(free_cmd, [&g, free_id] { return sc::RunFree(g, *free_id); });

  auto w = std::make_shared<sc::WatchOptions>();
  auto from = std::make_shared<int64_t>(0);
  auto* w_cmd = reg->add_subcommand("watch", "Print one JSON line per change, following the registry");
  w_cmd->add_option("app", w->app, "Only this app");
  auto* from_opt = w_cmd->add_option("--from", *from, "Resume after this revision (no snapshot)");
  commands.emplace_back(w_cmd, [&g, w, from, from_opt] {
    if (from_opt->count()) w->from = *from;
    return sc::RunWatch(g, *w);
  });

  auto* route = reg->add_subcommand("route", "Read or write an app's route config");
  route->require_subcommand(1);
  auto get_app = std::make_shared<std::string>();
  auto* get_cmd = route->add_subcommand("get", "Print APP's RouteConfig as JSON");
  get_cmd->add_option("app", *get_app, "App")->required();
  commands.emplace_back(get_cmd, [&g, get_app] { return sc::RunRouteGet(g, *get_app); });
  auto rs = std::make_shared<sc::RouteSetOptions>();
  auto expect = std::make_shared<int64_t>(0);
  auto* set_cmd = route->add_subcommand("set", "Replace APP's RouteConfig from a JSON file");
  set_cmd->add_option("app", rs->app, "App")->required();
  set_cmd->add_option("file", rs->file, "JSON file, or - for stdin")->required();
  auto* expect_opt = set_cmd->add_option("--expect-revision", *expect,
                                         "Only if the route is still at this revision (0: must not exist)");
  commands.emplace_back(set_cmd, [&g, rs, expect, expect_opt] {
    if (expect_opt->count()) rs->expect_revision = *expect;
    return sc::RunRouteSet(g, *rs);
  });
  return rg_cmd;
}

// deploy, stop, ps, drones, logs: talk to the hub.
void AddHubCommands(CLI::App& app, const sc::GlobalOptions& g, Commands& commands) {
  auto d = std::make_shared<sc::DeployOptions>();
  auto* deploy = app.add_subcommand("deploy", "Deploy APP at COMMITISH and print each drone's progress");
  deploy->add_option("app", d->app, "App")->required();
  deploy->add_option("commitish", d->commitish, "Commit hash, prefix of one, or branch")->required();
  deploy->add_option("--drones", d->drones, "Only these drones: a,b (default: every matching drone)")
      ->allow_extra_args(false);
  deploy->add_option("--label", d->labels, "KEY=VALUE the drones must have (repeatable)")
      ->allow_extra_args(false);
  deploy->add_option("--count", d->count, "At most N of the matching drones (0: all)");
  deploy->add_option("--instances", d->instances, "Instances of each role per drone (default 1)");
  deploy->add_option("--env", d->env, "KEY=VALUE for the processes' environment (repeatable)")
      ->allow_extra_args(false);
  deploy->add_option("--timeout", d->timeout_s,
                     "Seconds for the whole deploy: fetch, release step, start (default: the hub's --deploy-timeout)")
      ->check(CLI::Range(1, 86'400));
  deploy->footer(
      "Prints `DRONE COMMIT STAGE MESSAGE` lines as drones report (--json: one object per line) and\n"
      "exits 0 once every target drone runs and registered the commit, else 1 with each failure.");
  commands.emplace_back(deploy, [&g, d] { return sc::RunDeploy(g, *d); });

  auto s = std::make_shared<sc::StopOptions>();
  auto* stop = app.add_subcommand("stop", "Stop APP at COMMITISH on every drone running it");
  stop->add_option("app", s->app, "App")->required();
  stop->add_option("commitish", s->commitish, "Commit hash, prefix of one, or branch")->required();
  stop->add_option("--drones", s->drones, "Only on these drones: a,b")->allow_extra_args(false);
  commands.emplace_back(stop, [&g, s] { return sc::RunStop(g, *s); });

  auto p = std::make_shared<sc::PsOptions>();
  auto* ps = app.add_subcommand("ps", "List the processes the drones run");
  ps->add_option("app", p->app, "Only this app");
  commands.emplace_back(ps, [&g, p] { return sc::RunPs(g, *p); });

  auto* drones = app.add_subcommand("drones", "List the drones the hub knows");
  commands.emplace_back(drones, [&g] { return sc::RunDrones(g); });

  auto l = std::make_shared<sc::LogsOptions>();
  auto* logs = app.add_subcommand("logs", "Print APP's process output: `DRONE ROLE.INST COMMIT | TEXT`");
  logs->add_option("app", l->app, "App")->required();
  logs->add_option("commit", l->commit, "Only this commit (a prefix)");
  logs->add_option("--role", l->role, "Only this role");
  logs->add_flag("-f,--follow", l->follow, "Keep printing new lines until interrupted");
  logs->add_option("--tail", l->tail, "Lines of history per process (0: the drones' default)");
  logs->footer("Lines from stderr have `!` instead of `|`.");
  commands.emplace_back(logs, [&g, l] { return sc::RunLogs(g, *l); });
}

// `skyport stats`: per-arm traffic merged from the routers and experiment
// statistics from the hub (stats_cmd.h).
void AddStatsCommand(CLI::App& app, const sc::GlobalOptions& g, Commands& commands) {
  auto o = std::make_shared<sc::StatsOptions>();
  auto* stats =
      app.add_subcommand("stats", "Per-commit traffic of APP from the routers, experiment stats from the hub");
  stats->add_option("app", o->app, "App")->required();
  stats->add_option("--window", o->window_s, "Seconds of router history (the routers keep up to an hour)")
      ->capture_default_str();
  stats->add_option("--router", o->routers, "Ask this router's admin HOST:PORT (repeatable; default: all registered)")
      ->allow_extra_args(false);
  stats->add_option("--event", o->experiment.event, "Conversion/value event to compare (default: exposures only)");
  stats->add_option("--flight", o->experiment.flight, "This flight's arms (default: traffic outside flights)");
  stats->add_option("--by", o->experiment.by, "One experiment table per hour, day, week or month (default: one)");
  stats->add_option("--since", o->experiment.since,
                    "Experiment range start: 24h, 7d, RFC 3339 time or date (default: all)");
  stats->add_option("--control", o->experiment.control,
                    "Control arm (a prefix; default: highest weight in the route, else most users)");
  stats->footer(
      "Sources that do not answer (routers, the hub) are named on stderr and left out; exits 1 only if\n"
      "neither answered. Experiment table: users, exposures and, with --event, conversion and mean per arm\n"
      "with their difference from control (95% CI, p), and a sample-ratio check against the route's weights.\n"
      "--json prints the merged /stats document with the hub's part under \"experiment\".");
  commands.emplace_back(stats, [&g, o] { return sc::RunStats(g, *o); });
}

// `skyport gate`: one look at a flight gate on APP's arms (gate_cmd.h).
void AddGateCommand(CLI::App& app, const sc::GlobalOptions& g, Commands& commands) {
  auto o = std::make_shared<sc::GateOptions>();
  auto num = std::make_shared<std::array<double, 3>>();  // max_increase, alpha, tau_squared
  auto min_samples = std::make_shared<uint64_t>(0);
  auto* gate = app.add_subcommand("gate", "Judge a flight gate on APP: treatment vs control, pass/fail/wait");
  gate->add_option("app", o->stats.app, "App")->required();
  gate->add_option("--metric", o->metric, "error_rate, latency_p99, conversion or mean")->required();
  gate->add_option("--arm", o->arm, "Treatment arm (a prefix; default: the only arm besides control)");
  gate->add_option("--control", o->stats.experiment.control,
                   "Control arm (a prefix; default: highest weight in the route, else most users)");
  gate->add_option("--event", o->stats.experiment.event, "The event (conversion, mean)");
  auto* max_inc = gate->add_option("--max-increase", (*num)[0],
                                   "error_rate: absolute (0.01 = +1 point); latency_p99: relative (0.2 = +20%)");
  auto* min_opt = gate->add_option("--min-samples", *min_samples, "Wait until each arm has this many (default 100)");
  gate->add_option("--test", o->test, "conversion, mean: sequential (default) or fixed");
  auto* alpha = gate->add_option("--alpha", (*num)[1], "conversion, mean: significance level (default 0.05)");
  auto* tau = gate->add_option("--tau-squared", (*num)[2], "sequential: mixing variance (default from the data)");
  gate->add_option("--since", o->stats.experiment.since, "Hub data from: 24h, 7d, RFC 3339 time or date (default: all)");
  gate->add_option("--flight", o->stats.experiment.flight, "This flight's arms (default: traffic outside flights)");
  gate->add_option("--window", o->stats.window_s, "Ignored (kept for old scripts): the hub's rows cover --since")
      ->capture_default_str();
  gate->add_option("--router", o->stats.routers, "Ignored (kept for old scripts): routers are not asked")
      ->allow_extra_args(false);
  gate->footer(
      "Every metric uses the hub's durable rows over --since (all of --flight's by default): error_rate and\n"
      "latency_p99 the routers' per-minute request counters, conversion and mean the experiment rows.\n"
      "Exit: 0 pass, 1 fail (or the data source did not answer), 3 wait for more data, 2 usage.\n"
      "--json prints {app, metric, control, treatment, verdict, reason, numbers}.");
  commands.emplace_back(gate, [&g, o, num, min_samples, max_inc, min_opt, alpha, tau] {
    if (max_inc->count()) o->max_increase = (*num)[0];
    if (alpha->count()) o->alpha = (*num)[1];
    if (tau->count()) o->tau_squared = (*num)[2];
    if (min_opt->count()) o->min_samples = *min_samples;
    return sc::RunGate(g, *o);
  });
}

// `skyport flight ...`: flights run by the hub's control tower (flight_cmd.h).
void AddFlightCommands(CLI::App& app, const sc::GlobalOptions& g, Commands& commands) {
  auto o = std::make_shared<sc::FlightOptions>();
  auto* flight = app.add_subcommand("flight", "Experiments and progressive rollouts run by the hub");
  flight->require_subcommand(1);
  auto* start = flight->add_subcommand("start", "Validate FILE (JSON or YAML) and start the flight it describes");
  start->add_option("file", o->file, "Flight spec")->required();
  start->footer("A spec with \"kill\": true kills the running flight of that name. Spec format: docs/flights.md.");
  commands.emplace_back(start, [&g, o] { return sc::RunFlightStart(g, *o); });
  auto* validate = flight->add_subcommand("validate", "Check FILE offline; every problem is named with its field");
  validate->add_option("file", o->file, "Flight spec")->required();
  commands.emplace_back(validate, [&g, o] { return sc::RunFlightValidate(g, *o); });
  auto* kill = flight->add_subcommand("kill", "Send all of NAME's traffic back to control and stop what it started");
  kill->add_option("name", o->name, "Flight")->required();
  kill->add_option("--reason", o->reason, "Recorded in the flight's log");
  commands.emplace_back(kill, [&g, o] { return sc::RunFlightKill(g, *o); });
  auto* list = flight->add_subcommand("list", "Active flights (--all: finished ones too)");
  list->add_flag("--all", o->all, "Include finished flights");
  commands.emplace_back(list, [&g, o] { return sc::RunFlightList(g, *o); });
  auto* status = flight->add_subcommand("status", "NAME's step, weights, enrolled users and time left");
  status->add_option("name", o->name, "Flight")->required();
  commands.emplace_back(status, [&g, o] { return sc::RunFlightStatus(g, *o); });
  auto* log = flight->add_subcommand("log", "NAME's timeline: steps, weights, gate verdicts, pings, kill");
  log->add_option("name", o->name, "Flight")->required();
  commands.emplace_back(log, [&g, o] { return sc::RunFlightLog(g, *o); });
}

// `skyport split`: an app's split test (split_cmd.h).
void AddSplitCommand(CLI::App& app, const sc::GlobalOptions& g, Commands& commands) {
  auto o = std::make_shared<sc::SplitOptions>();
  auto hosts = std::make_shared<std::vector<std::string>>();
  auto prefixes = std::make_shared<std::vector<std::string>>();
  auto* split = app.add_subcommand("split", "Split APP's traffic between commits by weight, sticky per user");
  split->add_option("app", o->app, "App")->required();
  split->add_option("weights", o->weights, "COMMIT=WEIGHT (COMMIT: a prefix of a running commit)");
  auto* new_test = split->add_option("--new-test", o->new_test_id,
                                     "Start a new test: a new split id (ID, else random); every user is dealt again")
                       ->expected(0, 1)
                       ->type_name("[ID]");
  auto allow = std::make_shared<bool>(false), deny = std::make_shared<bool>(false);
  auto* allow_opt = split->add_flag("--allow-override", *allow, "Let the X-Skyport-Commit header pin a commit");
  split->add_flag("--no-allow-override", *deny, "Ignore X-Skyport-Commit")->excludes(allow_opt);
  auto* host_opt = split->add_option("--host", *hosts, "Host name that selects APP (repeatable; replaces the list)")
                       ->allow_extra_args(false);
  auto* prefix_opt =
      split->add_option("--path-prefix", *prefixes, "Request path prefix that selects APP (repeatable; replaces)")
          ->allow_extra_args(false);
  split->add_flag("--show", o->show, "Print APP's current split");
  split->footer(
      "Weights are relative. Changing them moves only the users whose share changes hands\n"
      "(e.g. 90/10 -> 80/20 moves 10% of users, all to the second commit); --new-test re-deals everyone.\n"
      "Commits left out of the list get no traffic. --json prints the route config written.");
  commands.emplace_back(split, [&g, o, hosts, prefixes, new_test, allow, deny, host_opt, prefix_opt] {
    o->new_test = new_test->count() > 0;
    if (*allow) o->allow_override = true;
    if (*deny) o->allow_override = false;
    if (host_opt->count()) o->hosts = *hosts;
    if (prefix_opt->count()) o->path_prefixes = *prefixes;
    return sc::RunSplit(g, *o);
  });
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

  Commands commands;
  CLI::App* register_cmd = AddRegistryCommands(app, g, split, commands);
  AddHubCommands(app, g, commands);
  AddStatsCommand(app, g, commands);
  AddGateCommand(app, g, commands);
  AddSplitCommand(app, g, commands);
  AddFlightCommands(app, g, commands);

  int code = 0;
  if (!skyport::ParseOrExit(app, static_cast<int>(head.size()), head.data(), code)) return code;
  if (split.has_command && !register_cmd->parsed())
    return sc::ReportUsage(skyport::Status::InvalidArgument("`-- CMD` is only for `registry register`"));
  for (auto& [cmd, run] : commands)
    if (cmd->parsed()) return run();
  return sc::kExitUsage;
}
