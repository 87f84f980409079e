#include "cli/command_lookup.h"

#include <algorithm>

#include <fmt/format.h>

namespace skyport::cli {
namespace {

// Longer words are no typo of a command name; the distance table stays small.
constexpr size_t kMaxWord = 64;

std::string Join(std::string_view path, std::string_view word) {
  return path.empty() ? std::string(word) : fmt::format("{} {}", path, word);
}

const CommandSpec* Find(std::span<const CommandSpec> table, std::string_view path) {
  for (const CommandSpec& spec : table)
    if (spec.path == path) return &spec;
  return nullptr;
}

// The last words of the commands directly under `path` ("" = the top).
std::vector<std::string_view> Children(std::span<const CommandSpec> table, std::string_view path) {
  std::vector<std::string_view> names;
  for (const CommandSpec& spec : table) {
    std::string_view rest = spec.path;
    if (!path.empty()) {
      if (rest.size() <= path.size() + 1 || !rest.starts_with(path) || rest[path.size()] != ' ') continue;
      rest.remove_prefix(path.size() + 1);
    }
    if (rest.find(' ') == std::string_view::npos) names.push_back(rest);
  }
  return names;
}

std::string_view FirstWord(std::string_view path) { return path.substr(0, path.find(' ')); }
bool IsNested(std::string_view path) { return path.find(' ') != std::string_view::npos; }

bool IsHelp(std::string_view arg) { return arg == "-h" || arg == "--help" || arg == "--help-all"; }

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus the swap of two neighbours,
  // the most common typo on a keyboard.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string> ClosestName(std::string_view word, std::span<const std::string_view> names) {
  if (word.empty() || word.size() > kMaxWord) return std::nullopt;
  size_t best_distance = std::max<size_t>(1, word.size() / 3) + 1;
  std::optional<std::string> best;
  for (std::string_view name : names) {
    size_t distance = EditDistance(word, name);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(name);
    }
  }
  if (best || word.size() < 2) return best;
  std::optional<std::string> only;
  for (std::string_view name : names) {
    if (!name.starts_with(word)) continue;
    if (only) return std::nullopt;  // "st": stop or stats
    only = std::string(name);
  }
  return only;
}

CommandLookup LookUpCommand(std::span<const std::string> args, std::span<const CommandSpec> table,
                            const std::function<bool(std::string_view)>& takes_value) {
  CommandLookup out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (IsHelp(arg)) {
      out.kind = CommandLookup::kHelp;
      return out;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      if (arg.find('=') == std::string::npos && takes_value(arg)) ++i;
      continue;
    }
    std::string path = Join(out.path, arg);
    const CommandSpec* spec = Find(table, path);
    if (spec == nullptr) {
      out.kind = CommandLookup::kUnknown;
      out.word = arg;
      std::vector<std::string_view> names = Children(table, out.path);
      if (auto name = ClosestName(arg, names)) out.suggestion = Join(out.path, *name);
      return out;
    }
    out.path = std::move(path);
    if (spec->define != nullptr) {
      out.kind = CommandLookup::kFound;
      return out;
    }
  }
  out.kind = CommandLookup::kMissing;
  return out;
}

std::string FormatUnknownCommand(const CommandLookup& lookup) {
  std::string command = Join(lookup.path, lookup.word);
  if (lookup.suggestion)
    return fmt::format("skyport: unknown command \"{}\"; did you mean \"{}\"?", command, *lookup.suggestion);
  return fmt::format("skyport: unknown command \"{}\" (skyport --help lists the commands)", command);
}

std::string FormatCommandList(std::span<const CommandSpec> table) {
  size_t width = 0;
  for (const CommandSpec& spec : table)
    if (spec.define != nullptr) width = std::max(width, spec.path.size());
  std::string out;
  const CommandSpec* previous = nullptr;
  for (const CommandSpec& spec : table) {
    if (spec.define == nullptr) continue;
    if (previous != nullptr && FirstWord(previous->path) != FirstWord(spec.path) &&
        (IsNested(previous->path) || IsNested(spec.path)))
      out += '\n';
    out += fmt::format("  {:<{}}  {}\n", spec.path, width, spec.help);
    previous = &spec;
  }
  return out;
}

}  // namespace skyport::cli
