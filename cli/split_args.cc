#include "cli/split_args.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/names.h"
#include "contract/split.h"

namespace skyport::cli {
namespace {

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : std::string(sep)) + p;
  return out;
}

std::optional<uint32_t> ParseWeight(std::string_view s) {
  if (s.empty() || s.size() > 7) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > kMaxSplitWeight) return std::nullopt;
  return v;
}

}  // namespace

Result<std::vector<WeightArg>> ParseWeightArgs(const std::vector<std::string>& args) {
  if (args.empty()) return Status::InvalidArgument("expected COMMIT=WEIGHT arguments, e.g. 3f2a9c1b=90 77e0d4aa=10");
  std::vector<std::string> problems;
  std::vector<WeightArg> out;
  bool any_weight = false;
  for (const std::string& arg : args) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      problems.push_back(fmt::format("\"{}\": expected COMMIT=WEIGHT", arg));
      continue;
    }
    std::string commit = arg.substr(0, eq);
    std::transform(commit.begin(), commit.end(), commit.begin(),
                   [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c; });
    bool ok = true;
    if (Status s = ValidateCommit(fmt::format("\"{}\": commit", arg), commit); !s.ok()) {
      problems.push_back(s.message());
      ok = false;
    }
    auto weight = ParseWeight(std::string_view(arg).substr(eq + 1));
    if (!weight) {
      problems.push_back(fmt::format("\"{}\": weight must be an integer 0..{}", arg, kMaxSplitWeight));
      ok = false;
    }
    if (!ok) continue;
    for (const WeightArg& w : out)
      if (w.commit.starts_with(commit) || commit.starts_with(w.commit)) {
        problems.push_back(fmt::format("\"{}\": commit {} is already given as {}", arg, commit, w.commit));
        ok = false;
        break;
      }
    if (!ok) continue;
    any_weight = any_weight || *weight > 0;
    out.push_back({std::move(commit), *weight});
  }
  if (problems.empty() && !any_weight) problems.push_back("every weight is 0: at least one must be > 0");
  if (!problems.empty()) return Status::InvalidArgument(Join(problems, "; "));
  return out;
}

Result<std::string> ResolveRunningCommit(std::string_view app, std::string_view prefix,
                                         const std::vector<std::string>& running) {
  std::set<std::string> matches;
  for (const std::string& c : running)
    if (c.starts_with(prefix)) matches.insert(c);
  if (matches.empty())
    return Status::FailedPrecondition(fmt::format("commit {} of {} is not running (deploy it first)", prefix, app));
  if (matches.size() > 1)
    return Status::FailedPrecondition(
        fmt::format("commit {} of {} is ambiguous: it matches {} (give more characters)", prefix, app,
                    Join(std::vector<std::string>(matches.begin(), matches.end()), ", ")));
  return *matches.begin();
}

Result<std::map<std::string, uint32_t>> ResolveWeights(std::string_view app, const std::vector<WeightArg>& args,
                                                       const std::vector<std::string>& running) {
  std::vector<std::string> problems;
  std::map<std::string, uint32_t> out;
  std::map<std::string, std::string> given_as;  // full commit -> the prefix that named it
  for (const WeightArg& a : args) {
    auto full = ResolveRunningCommit(app, a.commit, running);
    if (!full.ok()) {
      problems.push_back(full.status().message());
      continue;
    }
    auto [it, fresh] = given_as.emplace(*full, a.commit);
    if (!fresh) {
      problems.push_back(fmt::format("{} and {} both name commit {}", it->second, a.commit, *full));
      continue;
    }
    out[*full] = a.weight;
  }
  if (!problems.empty()) return Status::FailedPrecondition(Join(problems, "; "));
  return out;
}

Status ReclaimNewTestWord(std::string& new_test_id, std::vector<std::string>& weights) {
  if (new_test_id.find('=') != std::string::npos) {
    weights.insert(weights.begin(), new_test_id);
    new_test_id.clear();
  }
  if (!new_test_id.empty() && !router::ValidSplitId(new_test_id))
    return Status::InvalidArgument(
        fmt::format("--new-test: \"{}\" must be a split id: 1..64 of [A-Za-z0-9._-]", new_test_id));
  return Status::Ok();
}

std::string SplitIdFrom(std::string_view hex_id) { return "s-" + std::string(hex_id.substr(0, 8)); }

}  // namespace skyport::cli
