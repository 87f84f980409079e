// `skyport apps set`: an app's settings at the hub (today: deploy on push).
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/hub_client.h"
#include "cli/hub_commands.h"
#include "core/names.h"

namespace skyport::cli {
namespace {

struct AppSetOptions {
  std::string app;
  std::optional<std::string> deploy_on_push;
};

int RunAppSet(const GlobalOptions& g, const AppSetOptions& o) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  v1::AppSetRequest req;
  req.set_app(o.app);
  if (o.deploy_on_push) req.set_deploy_on_push(*o.deploy_on_push);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto resp = client->AppSet(req);
  if (!resp.ok()) return ReportHubError(g, "apps set " + o.app, resp.status());
  const std::string& branch = resp->settings().deploy_on_push();
  if (g.json) {
    PrintAnswered({{"app", resp->app()}, {"deploy_on_push", branch}}, client->answered_by(), g.hub, -1);
  } else if (branch.empty()) {
    std::cout << resp->app() << ": deploy on push is off" << std::endl;
  } else {
    std::cout << resp->app() << ": a push to " << branch << " deploys its new commit" << std::endl;
  }
  return kExitOk;
}

Runner DefineAppSet(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<AppSetOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("--deploy-on-push", o->deploy_on_push,
                 "BRANCH: a push that moves it deploys the new commit, to the drones the app runs on (all "
                 "drones when it runs nowhere), with the push showing the deploy's progress; '' turns it off");
  cmd.footer(
      "Without options, prints the app's settings. A deploy on push that fails makes `git push` report the\n"
      "branch as rejected (\"deploy failed: ...\"); the branch stays updated at the hub.");
  return [&g = ctx.global, o] { return RunAppSet(g, *o); };
}

constexpr CommandSpec kAppsCommands[] = {
    {"apps set", "Show or change APP's settings: --deploy-on-push BRANCH", DefineAppSet},
};

}  // namespace

// "apps" itself (the overview) is release_cmd.cc's, earlier in the table.
std::span<const CommandSpec> AppsCommands() { return kAppsCommands; }

}  // namespace skyport::cli
