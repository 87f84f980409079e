#include "cli/split_plan.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "cli/columns.h"
#include "contract/route.h"

namespace skyport::cli {
namespace {

using router::Slice;

// Routers match an abbreviated commit to the one live commit it starts.
std::string Canonical(const std::string& commit, const std::vector<std::string>& running) {
  std::set<std::string> matches;
  for (const std::string& c : running)
    if (c.starts_with(commit)) matches.insert(c);
  return matches.size() == 1 ? *matches.begin() : commit;
}

std::vector<Slice> CanonicalLayout(std::vector<Slice> layout, const std::vector<std::string>& running) {
  std::vector<Slice> out;
  for (Slice& s : layout) {
    s.commit = Canonical(s.commit, running);
    if (!out.empty() && out.back().commit == s.commit && out.back().lt == s.ge)
      out.back().lt = s.lt;
    else
      out.push_back(std::move(s));
  }
  return out;
}

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

std::string Percent(double fraction) { return fmt::format("{:.1f}%", fraction * 100); }

// COMMIT / WEIGHT / SHARE rows for `weights`, shares from `layout`.
std::string WeightTable(const std::map<std::string, uint32_t>& weights, const std::vector<Slice>& layout) {
  const auto shares = router::LayoutShares(layout);
  std::vector<std::vector<std::string>> rows = {{"COMMIT", "WEIGHT", "SHARE"}};
  for (const auto& [commit, w] : weights) {
    auto it = shares.find(commit);
    double share = it == shares.end() ? 0 : static_cast<double>(it->second) / router::kSliceUnits;
    rows.push_back({Short(commit), std::to_string(w), Percent(share)});
  }
  return AlignColumns(rows);
}

}  // namespace

Result<SplitPlan> PlanSplit(const std::optional<v1::RouteConfig>& current, const SplitRequest& request,
                            const std::vector<std::string>& running) {
  SplitPlan plan;
  v1::RouteConfig& r = plan.route;
  r.set_app(request.app);
  // A flight's route (written by the hub's control tower) owns the weights: a
  // split written over it dropped the flight from the routers and mixed its
  // enrolled users' arms mid-experiment (the tower wrote its own again at the
  // next step). Refused, as `skyport rollback` refuses.
  if (current && current->has_flight())
    return Status::FailedPrecondition(fmt::format(
        "flight {} is active on {} and owns its weights: kill it (skyport flight kill {}) or let it end, then split",
        current->flight().name(), request.app, current->flight().name()));
  if (current) {
    plan.expected_revision = current->revision();
    r.set_split_id(current->split_id());
    r.set_allow_override(current->allow_override());
    *r.mutable_hosts() = current->hosts();
    *r.mutable_path_prefixes() = current->path_prefixes();
    plan.old_layout = CanonicalLayout(contract::EffectiveLayout(*current), running);
  }
  plan.new_split = request.new_test || !current;
  if (plan.new_split) r.set_split_id(request.new_split_id);
  if (request.allow_override) r.set_allow_override(*request.allow_override);
  if (request.hosts) r.mutable_hosts()->Assign(request.hosts->begin(), request.hosts->end());
  if (request.path_prefixes) r.mutable_path_prefixes()->Assign(request.path_prefixes->begin(), request.path_prefixes->end());
  for (const auto& [commit, w] : request.weights) (*r.mutable_weights())[commit] = w;

  if (plan.new_split) {
    plan.new_layout = router::LayoutFresh({request.weights.begin(), request.weights.end()});
    plan.moved = 1;
  } else {
    auto layout = router::Rebalance(plan.old_layout, request.weights);
    if (!layout.ok()) return Status::Internal("current route of " + request.app + ": " + layout.status().message());
    plan.new_layout = std::move(*layout);
    plan.moved = router::MovedFraction(plan.old_layout, plan.new_layout);
  }
  for (const Slice& s : plan.new_layout) {
    auto* out = r.add_slices();
    out->set_commit(s.commit);
    out->set_ge(s.ge);
    out->set_lt(s.lt);
  }
  return plan;
}

std::vector<std::string> SplitWarnings(const std::map<std::string, uint32_t>& weights,
                                       const std::vector<std::string>& running) {
  std::vector<std::string> out;
  uint64_t sum = 0;
  for (const auto& [c, w] : weights) sum += w;
  if (sum != 100 && sum > 0) {
    std::string shares;
    for (const auto& [c, w] : weights)
      shares += fmt::format("{}{} {}", shares.empty() ? "" : ", ", c.substr(0, 12),
                            Percent(static_cast<double>(w) / static_cast<double>(sum)));
    out.push_back(fmt::format("weights sum to {}, not 100: they are relative shares ({})", sum, shares));
  }
  const std::set<std::string> left_out = [&] {
    std::set<std::string> s(running.begin(), running.end());
    for (const auto& [c, w] : weights) s.erase(c);
    return s;
  }();
  for (const auto& c : left_out)
    out.push_back(fmt::format("running commit {} is not in the split: it gets no traffic", c.substr(0, 12)));
  return out;
}

std::string SplitSummary(const SplitPlan& plan, int64_t revision) {
  const v1::RouteConfig& r = plan.route;
  std::string out = fmt::format("split {}: {}, route revision {}\n", r.app(),
                                r.split_id().empty() ? "default" : r.split_id(), revision);
  out += WeightTable({r.weights().begin(), r.weights().end()}, plan.new_layout);
  if (plan.new_split && plan.expected_revision == 0)
    out += "first split of the app: every user is dealt a commit\n";
  else if (plan.new_split)
    out += "new split id: every user is dealt again\n";
  else
    out += fmt::format("moved: {} of users\n", Percent(plan.moved));
  return out;
}

std::string ShowSplit(const v1::RouteConfig& r) {
  std::string out = fmt::format("split {}: {}, route revision {}\n", r.app(),
                                r.split_id().empty() ? "default" : r.split_id(), r.revision());
  if (r.weights().empty())
    out += "no weights: routers send everyone to the most recently deployed commit\n";
  else
    out += WeightTable({r.weights().begin(), r.weights().end()}, contract::EffectiveLayout(r));
  auto list = [](const auto& items) {
    std::string s;
    for (const std::string& i : items) s += (s.empty() ? "" : " ") + i;
    return s.empty() ? std::string("-") : s;
  };
  out += fmt::format("override: {}\nhosts: {}\npath prefixes: {}\n",
                     r.allow_override() ? "allowed (X-Skyport-Commit)" : "off", list(r.hosts()),
                     list(r.path_prefixes()));
  return out;
}

}  // namespace skyport::cli
