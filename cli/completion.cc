#include "cli/completion.h"

#include <functional>

namespace skyport::cli {
namespace {

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// `case` arms, one per command path ("" is the top), for the subcommands and
// the options of each.
void Arms(const CompletionNode& node, const std::string& path, const std::vector<std::string>& global,
          std::string& subs, std::string& opts) {
  std::vector<std::string> names;
  for (const auto& c : node.children) names.push_back(c.name);
  std::vector<std::string> options = node.options;
  if (!path.empty()) options.insert(options.end(), global.begin(), global.end());
  subs += "    \"" + path + "\") echo \"" + Join(names) + "\" ;;\n";
  opts += "    \"" + path + "\") echo \"" + Join(options) + "\" ;;\n";
  for (const auto& c : node.children) Arms(c, path.empty() ? c.name : path + " " + c.name, global, subs, opts);
}

}  // namespace

Result<std::string> CompletionScript(const std::string& shell, const CompletionNode& root) {
  if (shell != "bash" && shell != "zsh")
    return Status::InvalidArgument("shell: \"" + shell + "\" is not one of bash, zsh");
  std::string subs, opts;
  Arms(root, "", root.options, subs, opts);
  std::string out;
  if (shell == "zsh")
    out += "#compdef skyport\n# zsh completion for skyport: `skyport completion zsh > \"${fpath[1]}/_skyport\"`, or\n"
           "# `source <(skyport completion zsh)` in ~/.zshrc.\nautoload -U +X bashcompinit && bashcompinit\n";
  else
    out += "# bash completion for skyport: `source <(skyport completion bash)` in ~/.bashrc, or\n"
           "# `skyport completion bash > /etc/bash_completion.d/skyport`.\n";
  out += "_skyport_subcommands() {\n  case \"$1\" in\n" + subs + "  esac\n}\n";
  out += "_skyport_options() {\n  case \"$1\" in\n" + opts + "  esac\n}\n";
  out += R"SH(_skyport() {
  local cur=${COMP_WORDS[COMP_CWORD]} path="" word i
  # The command so far: the words that name a subcommand of the path before them.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    [[ $word == -* ]] && continue
    [[ " $(_skyport_subcommands "$path") " == *" $word "* ]] && path=${path:+$path }$word
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_skyport_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_skyport_subcommands "$path")" -- "$cur"))
  fi
}
complete -F _skyport skyport
)SH";
  return out;
}

}  // namespace skyport::cli
