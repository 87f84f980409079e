// skyport: the command-line client. main is a loop over the command table
// (command_table.h): each group's file declares its commands' options and
// what runs them; here are only the global options, the help listing and
// the answer to a command that does not exist.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/command_lookup.h"
#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "core/flags.h"

namespace sc = skyport::cli;

namespace {

// Every group's table, in the order `skyport --help` lists them.
std::vector<sc::CommandSpec> AllCommands() {
  std::vector<sc::CommandSpec> table;
  for (auto group : {sc::RegistryCommands(), sc::HubCommands(), sc::ConfigCommands(), sc::LogsCommands(),
                     sc::StatsCommands(), sc::GateCommands(), sc::SplitCommands(), sc::ReleaseCommands(),
                     sc::AppsCommands(), sc::StatusCommands(), sc::FlightCommands(), sc::CompletionCommands()})
    table.insert(table.end(), group.begin(), group.end());
  return table;
}

std::string DefaultConfig() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/skyport/config.toml";
}

void AddGlobalOptions(CLI::App& app, sc::GlobalOptions& g) {
  app.add_option("--registry", g.registry,
                 "Registry address HOST:PORT, or several as HOST:PORT,HOST:PORT,... (tried in turn)")
      ->envname("SKYPORT_REGISTRY")
      ->capture_default_str();
  app.add_option("--hub", g.hub,
                 "Hub address HOST:PORT, or several as HOST:PORT,HOST:PORT,... (tried in turn; the leader is followed)")
      ->envname("SKYPORT_HUB")
      ->capture_default_str();
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

// The top-level help lists every command of the table with its one line,
// instead of CLI11's list of the first words only.
class TableFormatter : public CLI::Formatter {
 public:
  explicit TableFormatter(std::string list) : list_(std::move(list)) {}
  std::string make_subcommands(const CLI::App* app, CLI::AppFormatMode mode) const override {
    if (app->get_parent() != nullptr) return CLI::Formatter::make_subcommands(app, mode);
    return "\nCommands (skyport COMMAND --help for its options):\n" + list_;
  }

 private:
  std::string list_;
};

// The subcommand at `path` ("" = the top), created with its parents' words
// already in place (a group comes before its commands in the table).
CLI::App* AppAt(CLI::App& app, std::string_view path) {
  CLI::App* at = &app;
  while (!path.empty()) {
    size_t space = path.find(' ');
    at = at->get_subcommand(std::string(path.substr(0, space)));
    path = space == std::string_view::npos ? std::string_view() : path.substr(space + 1);
  }
  return at;
}

// The help of the command at `path`, as `PATH --help` prints it.
std::string HelpAt(CLI::App& app, std::string_view path) {
  CLI::App* at = AppAt(app, path);
  if (at == &app) return app.help();
  size_t space = path.rfind(' ');
  std::string parents = space == std::string_view::npos ? "" : " " + std::string(path.substr(0, space));
  return at->help(app.get_name() + parents);
}

// Whether the top-level option `name` ("--hub") reads the next word as its value.
bool TakesValue(const CLI::App& app, std::string_view name) {
  for (const CLI::Option* opt : app.get_options())
    if (opt->check_name(std::string(name))) return opt->get_expected_min() > 0;
  return false;
}

// A runnable command once declared: its CLI11 subcommand and what runs it.
struct Declared {
  CLI::App* cmd;
  sc::Runner run;
  bool takes_command;
};

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
  skyport::EnableEnvAndConfig(app, "", DefaultConfig());

  const std::vector<sc::CommandSpec> table = AllCommands();
  const sc::CommandContext ctx{g, split, app};
  std::vector<Declared> commands;
  for (const sc::CommandSpec& spec : table) {
    size_t space = spec.path.rfind(' ');
    CLI::App* parent = AppAt(app, space == std::string_view::npos ? "" : spec.path.substr(0, space));
    std::string name(space == std::string_view::npos ? spec.path : spec.path.substr(space + 1));
    CLI::App* cmd = parent->add_subcommand(name, std::string(spec.help));
    if (spec.define == nullptr) cmd->require_subcommand(1);
    else commands.push_back({cmd, spec.define(*cmd, ctx), spec.takes_command});
  }
  app.formatter(std::make_shared<TableFormatter>(sc::FormatCommandList(table)));

  // A mistyped command gets a suggestion and a missing one the list, where
  // CLI11 would say "A subcommand is required" (still exit 2, ParseOrExit).
  std::vector<std::string> args(split.head.begin() + (split.head.empty() ? 0 : 1), split.head.end());
  app.failure_message([&](const CLI::App* root, const CLI::Error& e) {
    auto found = sc::LookUpCommand(args, table, [root](std::string_view name) { return TakesValue(*root, name); });
    if (found.kind == sc::CommandLookup::kUnknown) return sc::FormatUnknownCommand(found) + "\n";
    if (found.kind == sc::CommandLookup::kMissing) return HelpAt(app, found.path);
    return CLI::FailureMessage::simple(root, e);
  });

  int code = 0;
  if (!skyport::ParseOrExit(app, static_cast<int>(head.size()), head.data(), code)) return code;
  // The deepest parsed command runs: a command may have subcommands of its
  // own (`apps` and `apps destroy`, `config APP` and `config set …`), and a
  // parent comes before its children in the table.
  for (auto it = commands.rbegin(); it != commands.rend(); ++it) {
    auto& [cmd, run, takes_command] = *it;
    if (!cmd->parsed()) continue;
    if (split.has_command && !takes_command)
      return sc::ReportUsage(skyport::Status::InvalidArgument("`-- CMD` is only for `registry register`"));
    return run();
  }
  return sc::kExitUsage;
}
