// `skyport completion bash|zsh`: cli/completion.h, fed with this binary's
// own command tree.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/errors.h"

namespace skyport::cli {
namespace {

CompletionNode NodeOf(const CLI::App& app) {
  CompletionNode n;
  n.name = app.get_name();
  for (const CLI::Option* opt : app.get_options())
    for (const std::string& l : opt->get_lnames()) n.options.push_back("--" + l);
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (!sub->get_name().empty()) n.children.push_back(NodeOf(*sub));
  return n;
}

Runner DefineCompletion(CLI::App& cmd, const CommandContext& ctx) {
  auto shell = std::make_shared<std::string>();
  cmd.add_option("shell", *shell, "bash or zsh")->required();
  return [&root = ctx.root, shell] {
    auto script = CompletionScript(*shell, NodeOf(root));
    if (!script.ok()) return ReportUsage(script.status());
    std::cout << *script << std::flush;
    return kExitOk;
  };
}

constexpr CommandSpec kCompletionCommands[] = {
    {"completion", "Print a bash or zsh completion script for skyport", DefineCompletion},
};

}  // namespace

std::span<const CommandSpec> CompletionCommands() { return kCompletionCommands; }

}  // namespace skyport::cli
