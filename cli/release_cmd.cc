// skyport releases | rollback | apps (issue 16): the hub's Apps service.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/hub_commands.h"
#include "cli/release_view.h"
#include "core/clock.h"
#include "core/names.h"
#include "core/timefmt.h"

namespace skyport::cli {
namespace {

struct RollbackOptions {
  std::string app;
  std::string release;  // "" = the one before the current one
  std::string grace;    // "" = the hub's default (10m)
};

int RunReleases(const GlobalOptions& g, const std::string& app) {
  if (Status s = ValidateName("app", app); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto resp = client->Releases(app);
  if (!resp.ok()) return ReportHubError(g, "releases " + app, resp.status());
  if (g.json) PrintAnswered(ReleasesJson(app, *resp), client->answered_by(), g.hub, 2);
  else std::cout << RenderReleases(app, *resp, WallNowMs()) << std::flush;
  return kExitOk;
}

int RunRollback(const GlobalOptions& g, const RollbackOptions& o) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  v1::RollbackRequest req;
  req.set_app(o.app);
  if (!o.release.empty()) {
    auto n = ParseReleaseNumber(o.release);
    if (!n.ok()) return ReportUsage(n.status());
    req.set_to(*n);
  }
  if (!o.grace.empty()) {
    auto ms = ParseDurationMs(o.grace);
    if (!ms.ok()) return ReportUsage(Status::InvalidArgument("--grace: " + ms.status().message()));
    if (*ms < 0 || *ms > 7LL * 24 * 3600 * 1000) return ReportUsage(Status::InvalidArgument("--grace: 0s to 7d"));
    req.set_grace_ms(*ms);
  }
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  const std::string what = "rollback " + o.app + (o.release.empty() ? "" : " " + o.release);
  if (Status s = client->WaitConnected(); !s.ok()) return ReportHubError(g, what, s);
  auto resp = client->Rollback(req);
  if (!resp.ok()) return ReportHubError(g, what, resp.status());
  if (g.json) PrintAnswered(RollbackJson(o.app, *resp), client->answered_by(), g.hub, 2);
  else std::cout << RenderRollback(o.app, *resp) << std::flush;
  return kExitOk;
}

int RunApps(const GlobalOptions& g) {
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto resp = client->Apps();
  if (!resp.ok()) return ReportHubError(g, "apps", resp.status());
  if (g.json) PrintAnswered(AppsJson(*resp), client->answered_by(), g.hub, 2);
  else std::cout << RenderApps(*resp) << std::flush;
  return kExitOk;
}

struct DestroyOptions {
  std::string app;
  std::string confirm;
  bool purge = false;
};

int RunDestroy(const GlobalOptions& g, const DestroyOptions& o) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  if (o.confirm != o.app)
    return ReportUsage(Status::InvalidArgument("refusing to destroy " + o.app + ": repeat its name with --confirm " +
                                               o.app + " (nothing was destroyed)"));
  v1::DestroyRequest req;
  req.set_app(o.app);
  req.set_confirm(o.confirm);
  req.set_purge(o.purge);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  const std::string what = "apps destroy " + o.app;
  if (Status s = client->WaitConnected(); !s.ok()) return ReportHubError(g, what, s);
  auto resp = client->Destroy(req);
  if (!resp.ok()) return ReportHubError(g, what, resp.status());
  if (g.json) PrintAnswered(DestroyJson(o.app, *resp), client->answered_by(), g.hub, 2);
  else std::cout << RenderDestroy(o.app, *resp) << std::flush;
  return kExitOk;
}

Runner DefineDestroy(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<DestroyOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("--confirm", o->confirm, "The app's name again: without it nothing is destroyed");
  cmd.add_flag("--purge", o->purge, "Also remove the app's git repository at the hub (one hub only)");
  cmd.footer(
      "Stops every commit of APP on every drone (its users' requests then fail), removes its route and\n"
      "forgets its releases; --purge removes its repository too (a push creates it again). Refused\n"
      "without --confirm APP, while a flight is active on APP, and --purge with several hubs.");
  return [&g = ctx.global, o] { return RunDestroy(g, *o); };
}

Runner DefineReleases(CLI::App& cmd, const CommandContext& ctx) {
  auto app = std::make_shared<std::string>();
  cmd.add_option("app", *app, "App")->required();
  cmd.footer(
      "Every deploy records a release v1, v2, ... (per app, never reused): commit, config version, who,\n"
      "when, target drones and outcome (pending, succeeded, failed, or interrupted when the hub stopped\n"
      "before the outcome was known). A rollback is a release too. `*` marks the current release: the\n"
      "newest succeeded one whose commit the app's route gives weight (without a route: the newest\n"
      "succeeded one). The newest 100 per app are kept. Exit 1 for an unknown app.");
  return [&g = ctx.global, app] { return RunReleases(g, *app); };
}

Runner DefineRollback(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<RollbackOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("release", o->release, "The release to make current: vN (default: the one before the current one)");
  cmd.add_option("--grace", o->grace,
                 "How long the rolled-back-from commits keep running before they stop (e.g. 30s, 10m; default "
                 "10m, as after a flight's promote; 0s: at once)");
  cmd.footer(
      "Makes the release current: when its commit still runs (with that release's env) the route sends it\n"
      "100% at once; otherwise its commit is deployed first (on that release's drones, with its env), then\n"
      "the route flips. The rollback is recorded as a new release (\"rollback to vN\"). The commits that\n"
      "lose their weight keep running for --grace, then stop (unless by then the route gives them weight\n"
      "again, a newer release chose them (a config change's restart does not count), or a flight uses\n"
      "them). Refused while a flight is active on the app (it owns the weights), for an unknown app or\n"
      "release, a release that did not succeed, or when there is nothing to roll back to. Needs the hub's\n"
      "--registry.");
  return [&g = ctx.global, o] { return RunRollback(g, *o); };
}

Runner DefineApps(CLI::App& cmd, const CommandContext& ctx) {
  cmd.footer(
      "One line per app the hub knows (pushed, released or running): its current release, the commits\n"
      "running or weighted (COMMIT=WEIGHT UP/TOTAL instances; \"retiring\" after a rollback), the\n"
      "instances up of those reported, and the active flight.");
  return [&g = ctx.global] { return RunApps(g); };
}

constexpr CommandSpec kReleaseCommands[] = {
    {"releases", "List APP's releases (every deploy and rollback) and which is current", DefineReleases},
    {"rollback", "Make an earlier release of APP current again (default: the one before the current one)",
     DefineRollback},
    {"apps", "Every app with its current release, commits, weights, instances and flight", DefineApps},
    {"apps destroy", "Stop everything of APP, remove its route and releases (--purge: its repository)",
     DefineDestroy},
};

}  // namespace

std::span<const CommandSpec> ReleaseCommands() { return kReleaseCommands; }

}  // namespace skyport::cli
