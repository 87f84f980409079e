// deploy, stop, ps, drones: the hub's one-shot commands.
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/deploy_progress.h"
#include "cli/errors.h"
#include "cli/hub_commands.h"
#include "cli/hub_tables.h"
#include "cli/registry_client.h"
#include "cli/split_plan.h"
#include "contract/route.h"
#include "core/clock.h"
#include "core/names.h"

namespace skyport::cli {
namespace {

// A deploy under a split gets no traffic until the split names it: say so, and
// how (best effort: a registry that does not answer says nothing).
void NoteDeployOutsideSplit(const GlobalOptions& g, const std::string& app, const std::string& commit) {
  if (commit.empty()) return;
  int ignored = kExitOk;
  auto registry = ConnectOrReport(g, ignored);
  if (!registry) return;
  auto route = registry->GetRoute(app);
  if (!route.ok()) return;
  if (auto note = contract::DeployedOutsideSplitNote(app, commit, *route)) std::cerr << "skyport: note: " << *note << std::endl;
}

}  // namespace

std::unique_ptr<HubClient> ConnectHubOrReport(const GlobalOptions& g, int& exit_code) {
  auto opts = ConnectOptionsOrReport(g, g.hub, exit_code);
  if (!opts) return nullptr;
  auto client = HubClient::Connect(*opts);
  if (!client.ok()) {
    exit_code = ReportUsage(client.status());
    return nullptr;
  }
  return std::move(*client);
}

int ReportHubError(const GlobalOptions& g, const std::string& what, const Status& status) {
  std::cerr << FormatRpcError(what, status, HubDaemon(g.hub)) << std::endl;
  return kExitFailure;
}

bool PrintLine(const std::string& line) {
  return std::fputs(line.c_str(), stdout) >= 0 && std::fputc('\n', stdout) != EOF &&
         std::fflush(stdout) == 0;
}

int RunDeploy(const GlobalOptions& g, const DeployOptions& o) {
  auto req = MakeDeployRequest(o);
  if (!req.ok()) return ReportUsage(req.status());
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  // The hub's message names each failed drone and why.
  auto failed = [&](const Status& s) {
    std::cerr << "skyport: deploy failed: " << (s.message().empty() ? CodeName(s.code()) : s.message())
              << std::endl;
    if (s.code() == Code::kUnavailable || s.code() == Code::kUnauthenticated)
      std::cerr << RpcHint(s, HubDaemon(g.hub)) << std::endl;
    return kExitFailure;
  };
  // --timeout bounds connecting only: the hub has its own deploy timeout.
  if (Status s = client->WaitConnected(); !s.ok()) return failed(s);

  DeployPrinter printer(o.app);
  bool output_failed = false;
  Status s = client->Deploy(*req, [&](const v1::DeployProgress& p) {
    if (!output_failed)
      output_failed = !PrintLine(g.json ? printer.Json(p, client->answered_by()) : printer.Text(p));
  });
  if (!s.ok()) return failed(s);
  if (output_failed) return kExitFailure;
  if (!g.json) std::cout << printer.Summary() << std::endl;
  NoteDeployOutsideSplit(g, o.app, printer.commit());
  return kExitOk;
}

int RunStop(const GlobalOptions& g, const StopOptions& o) {
  auto req = MakeStopRequest(o);
  if (!req.ok()) return ReportUsage(req.status());
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  const std::string what = "stop " + o.app + " " + o.commitish;
  // No deadline on the call itself: the hub waits for the drones, bounded.
  if (Status s = client->WaitConnected(); !s.ok()) return ReportHubError(g, what, s);
  auto resp = client->Stop(*req);
  if (!resp.ok()) return ReportHubError(g, what, resp.status());
  if (g.json) {
    PrintAnswered({{"app", o.app}, {"commitish", o.commitish}, {"stopped", resp->stopped()}}, client->answered_by(),
                  g.hub, -1);
  } else {
    std::cout << "stopped " << o.app << " " << o.commitish << " on " << resp->stopped() << " drone"
              << (resp->stopped() == 1 ? "" : "s") << std::endl;
  }
  return kExitOk;
}

int RunPs(const GlobalOptions& g, const PsOptions& o) {
  if (!o.app.empty())
    if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto ps = client->Ps(o.app);
  if (!ps.ok()) return ReportHubError(g, "ps", ps.status());
  // For the HOST column only: without it the table shows bare ports.
  auto drones = client->Drones();
  std::vector<v1::DroneInfo> infos;
  if (drones.ok()) infos.assign(drones->drones().begin(), drones->drones().end());
  std::vector<v1::ProcessStatus> procs(ps->processes().begin(), ps->processes().end());
  if (g.json)
    PrintAnswered(PsJson(procs, infos, WallNowMs()), client->answered_by(), g.hub, 2);
  else
    std::cout << RenderPsTable(procs, infos, WallNowMs()) << std::flush;
  return kExitOk;
}

int RunDrones(const GlobalOptions& g) {
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto resp = client->Drones();
  if (!resp.ok()) return ReportHubError(g, "drones", resp.status());
  std::vector<v1::DroneInfo> drones(resp->drones().begin(), resp->drones().end());
  if (g.json)
    PrintAnswered(DronesJson(drones, WallNowMs()), client->answered_by(), g.hub, 2);
  else
    std::cout << RenderDronesTable(drones, WallNowMs()) << std::flush;
  return kExitOk;
}

// ---- the hub's command table (command_table.h); logs is in logs_cmd.cc
namespace {

Runner DefineDeploy(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<DeployOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("commitish", o->commitish, "Commit hash, prefix of one, or branch")->required();
  cmd.add_option("--drones", o->drones, "Only these drones: a,b (default: every matching drone)")
      ->allow_extra_args(false);
  cmd.add_option("--label", o->labels, "KEY=VALUE the drones must have (repeatable)")->allow_extra_args(false);
  cmd.add_option("--count", o->count, "At most N of the matching drones (0: all)");
  cmd.add_option("--instances", o->instances, "Instances of each role per drone (default 1)");
  cmd.add_option("--env", o->env, "KEY=VALUE for the processes' environment (repeatable)")->allow_extra_args(false);
  cmd.add_option("--timeout", o->timeout_s,
                 "Seconds for the whole deploy: fetch, release step, start (default: the hub's --deploy-timeout)")
      ->check(CLI::Range(1, 86'400));
  cmd.footer(
      "Prints `DRONE COMMIT STAGE MESSAGE` lines as drones report (--json: one object per line) and\n"
      "exits 0 once every target drone runs and registered the commit, else 1 with each failure.");
  return [&g = ctx.global, o] { return RunDeploy(g, *o); };
}

Runner DefineStop(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<StopOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("commitish", o->commitish, "Commit hash, prefix of one, or branch")->required();
  cmd.add_option("--drones", o->drones, "Only on these drones: a,b")->allow_extra_args(false);
  cmd.add_flag("--force", o->force,
               "Stop it even though the app's route still gives it weight (its users' requests then fail until "
               "the route changes); without it such a stop is refused");
  return [&g = ctx.global, o] { return RunStop(g, *o); };
}

Runner DefinePs(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<PsOptions>();
  cmd.add_option("app", o->app, "Only this app");
  return [&g = ctx.global, o] { return RunPs(g, *o); };
}

Runner DefineDrones(CLI::App&, const CommandContext& ctx) {
  return [&g = ctx.global] { return RunDrones(g); };
}

constexpr CommandSpec kHubCommands[] = {
    {"deploy", "Deploy APP at COMMITISH and print each drone's progress", DefineDeploy},
    {"stop", "Stop APP at COMMITISH on every drone running it", DefineStop},
    {"ps", "List the processes the drones run", DefinePs},
    {"drones", "List the drones the hub knows", DefineDrones},
};

}  // namespace

std::span<const CommandSpec> HubCommands() { return kHubCommands; }

}  // namespace skyport::cli
