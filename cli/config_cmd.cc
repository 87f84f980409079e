// `skyport config APP`, `config set APP K=V…`, `config unset APP K…`: an
// app's config vars at the hub (cli/config_view.h shapes requests and lines).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/config_view.h"
#include "cli/deploy_progress.h"
#include "cli/errors.h"
#include "cli/hub_commands.h"
#include "contract/config_vars.h"
#include "core/names.h"

namespace skyport::cli {
namespace {

struct ConfigShowOptions {
  std::string app;
  bool reveal = false;
};

int RunConfigShow(const GlobalOptions& g, const ConfigShowOptions& o) {
  if (o.app.empty()) return ReportUsage(Status::InvalidArgument("config: give an APP (skyport config APP)"));
  if (Status s = ValidateName("app", o.app); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  auto c = client->ConfigGet(o.app, o.reveal);
  if (!c.ok()) return ReportHubError(g, "config " + o.app, c.status());
  if (g.json) PrintAnswered(ConfigJson(*c), client->answered_by(), g.hub, 2);
  else std::cout << RenderConfigText(*c) << std::flush;
  return kExitOk;
}

int RunConfigChange(const GlobalOptions& g, const Result<v1::ConfigChangeRequest>& req, uint32_t timeout_s) {
  if (!req.ok()) return ReportUsage(req.status());
  v1::ConfigChangeRequest r = *req;
  r.set_timeout_s(timeout_s);
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  const std::string what = "config " + r.app();
  if (Status s = client->WaitConnected(); !s.ok()) return ReportHubError(g, what, s);
  DeployPrinter printer(r.app());
  bool saved = false, output_failed = false;
  uint64_t version = 0;
  int restarted = 0;
  auto print = [&](const std::string& line) {
    if (!output_failed) output_failed = !PrintLine(line);
  };
  Status s = client->ConfigChange(r, [&](const v1::ConfigChangeEvent& e) {
    if (e.has_saved()) {
      saved = true;
      version = e.saved().version();
      if (g.json) print(nlohmann::json{{"saved", ConfigJson(e.saved())}}.dump());
      else print(ConfigSavedLine(e.saved(), r));
    } else if (!e.restarting().empty()) {
      ++restarted;
      if (g.json) print(nlohmann::json{{"restarting", e.restarting()}}.dump());
      else print(ConfigRestartingLine(r.app(), e.restarting()));
    } else if (e.has_progress()) {
      print(g.json ? printer.Json(e.progress(), client->answered_by()) : printer.Text(e.progress()));
    }
  });
  if (!s.ok()) {
    // The hub's own checks of the change (its bounds): a usage error, as ours are.
    if (s.code() == Code::kInvalidArgument) return ReportUsage(Status::InvalidArgument(s.message()));
    if (s.code() == Code::kNotFound || s.code() == Code::kUnauthenticated ||
        s.code() == Code::kUnavailable || !saved)
      return ReportHubError(g, what, s);
    std::cerr << "skyport: " << s.message() << std::endl;
    return kExitFailure;
  }
  if (!g.json && saved)
    print(restarted == 0 ? fmt::format("{}: config v{} saved; nothing runs, the next deploy gets it", r.app(), version)
                         : fmt::format("{}: config v{} in effect: {} commit{} restarted rolling", r.app(), version,
                                       restarted, restarted == 1 ? "" : "s"));
  return output_failed ? kExitFailure : kExitOk;
}

Runner DefineConfig(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<ConfigShowOptions>();
  cmd.add_option("app", o->app, "App");
  cmd.add_flag("--reveal", o->reveal, "Show the values (masked as ******** without it)");
  cmd.footer(
      "Prints `APP: config vN, M vars` and KEY=VALUE lines (--json: one object); exits 1 for an app the hub\n"
      "does not know. Apps get their config as environment variables; a deploy's own --env wins for its keys.\n"
      "Subcommands: `skyport config set APP KEY=VALUE...`, `skyport config unset APP KEY...`.");
  return [&g = ctx.global, o] { return RunConfigShow(g, *o); };
}

struct ConfigChangeOptions {
  std::string app;
  std::vector<std::string> args;
  uint32_t timeout_s = 0;
  bool from_stdin = false;  // config set --stdin
};

void AddChangeOptions(CLI::App& cmd, ConfigChangeOptions& o, const char* what, bool vars_required = true) {
  cmd.add_option("app", o.app, "App")->required();
  auto* vars = cmd.add_option("vars", o.args, what);
  if (vars_required) vars->required();
  cmd.add_option("--deploy-timeout", o.timeout_s,
                 "Seconds for each running commit's rolling restart (default: the hub's --deploy-timeout)")
      ->check(CLI::Range(1, 86'400));
}

constexpr const char* kChangeFooter =
    "Saves a new config version at the hub, then restarts each commit of the app that runs, rolling: per\n"
    "instance a new one starts with the new environment and is ready and registered before the old one is\n"
    "deregistered, drained and stopped, so requests through the router do not fail. Prints the saved\n"
    "version and the restart's progress (--json: one object per line). Exit 2 for a bad KEY=VALUE or key\n"
    "(PORT, PATH, HOME and SKYPORT_* are reserved; names are letters, digits and _), 1 for an unknown app\n"
    "or a failed restart (the version stays saved; instances not replaced keep the previous config).";

// Standard input, up to one byte past the --stdin bound (which then refuses it).
std::string ReadStdinBounded() {
  std::string text;
  char buf[16 * 1024];
  while (text.size() <= kMaxConfigStdinBytes && std::cin.read(buf, sizeof buf).gcount() > 0)
    text.append(buf, static_cast<size_t>(std::cin.gcount()));
  return text;
}

Result<v1::ConfigChangeRequest> ConfigSetRequest(const ConfigChangeOptions& o) {
  std::vector<std::string> args = o.args;
  if (o.from_stdin) {
    auto lines = ConfigAssignmentsFromText(ReadStdinBounded());
    if (!lines.ok()) return lines.status();
    args.insert(args.end(), lines->begin(), lines->end());
  } else if (args.empty()) {
    return Status::InvalidArgument("config set: give KEY=VALUE arguments, or --stdin");
  }
  return MakeConfigSetRequest(o.app, args);
}

Runner DefineConfigSet(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<ConfigChangeOptions>();
  AddChangeOptions(cmd, *o, "KEY=VALUE (one or more, or --stdin; the value may be empty)", false);
  cmd.add_flag("--stdin", o->from_stdin,
               "Also read KEY=VALUE lines from standard input (a .env file: # comments and blank lines skipped), "
               "so that secret values stay out of the command line others can see in `ps`");
  cmd.footer(kChangeFooter);
  return [&g = ctx.global, o] { return RunConfigChange(g, ConfigSetRequest(*o), o->timeout_s); };
}

Runner DefineConfigUnset(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<ConfigChangeOptions>();
  AddChangeOptions(cmd, *o, "KEY (one or more; one not set is ignored)");
  cmd.footer(kChangeFooter);
  return [&g = ctx.global, o] { return RunConfigChange(g, MakeConfigUnsetRequest(o->app, o->args), o->timeout_s); };
}

constexpr CommandSpec kConfigCommands[] = {
    {"config", "Show APP's config vars (values masked unless --reveal)", DefineConfig},
    {"config set", "Set config vars KEY=VALUE of APP and restart it rolling", DefineConfigSet},
    {"config unset", "Remove config vars of APP and restart it rolling", DefineConfigUnset},
};

}  // namespace

std::span<const CommandSpec> ConfigCommands() { return kConfigCommands; }

}  // namespace skyport::cli
