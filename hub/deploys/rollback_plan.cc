#include "hub/deploys/rollback_plan.h"

#include <fmt/format.h>

namespace skyport::hub {
namespace {

bool IsPrefix(const std::string& key, const std::string& commit) {
  return !key.empty() && commit.compare(0, key.size(), key) == 0;
}

}  // namespace

bool Weighted(const RouteWeights& route, const std::string& commit) {
  if (!route) return false;
  for (const auto& [key, w] : *route)
    if (w > 0 && IsPrefix(key, commit)) return true;
  return false;
}

std::optional<uint32_t> CurrentRelease(const AppReleases& app, const RouteWeights& route) {
  for (auto it = app.releases.rbegin(); it != app.releases.rend(); ++it) {
    if (it->outcome != ReleaseOutcome::kSucceeded) continue;
    if (!route || Weighted(route, it->commit)) return it->number;
  }
  return std::nullopt;
}

std::optional<uint32_t> PreviousRelease(const AppReleases& app, uint32_t current) {
  const Release* cur = app.Find(current);
  if (cur == nullptr) return std::nullopt;
  for (auto it = app.releases.rbegin(); it != app.releases.rend(); ++it) {
    if (it->number >= current || it->outcome != ReleaseOutcome::kSucceeded) continue;
    if (it->commit != cur->commit || it->config_version != cur->config_version) return it->number;
  }
  return std::nullopt;
}

Result<RollbackPlan> PlanRollback(const std::string& name, const RollbackInputs& in) {
  if (in.app == nullptr || in.app->releases.empty())
    return Status::FailedPrecondition(fmt::format("{} has no releases: nothing to roll back to (deploy it first)", name));
  if (!in.active_flight.empty())
    return Status::FailedPrecondition(
        fmt::format("flight {} is active on {} and owns its weights: kill it (skyport flight kill {}) or let it "
                    "end, then roll back",
                    in.active_flight, name, in.active_flight));
  const AppReleases& app = *in.app;
  RollbackPlan plan;
  plan.from = CurrentRelease(app, in.route);
  if (in.requested != 0) {
    plan.target = in.requested;
  } else {
    if (!plan.from)
      return Status::FailedPrecondition(fmt::format(
          "{} has no current release (no succeeded release gets traffic): name the release to roll back to "
          "(skyport rollback {} vN; skyport releases {} lists them)",
          name, name, name));
    auto prev = PreviousRelease(app, *plan.from);
    if (!prev)
      return Status::FailedPrecondition(fmt::format(
          "nothing to roll back to: no succeeded release of {} before v{} differs from it", name, *plan.from));
    plan.target = *prev;
  }
  const Release* target = app.Find(plan.target);
  if (target == nullptr) {
    const uint32_t oldest = app.releases.front().number, newest = app.releases.back().number;
    if (plan.target < app.next)  // every number below `next` was given: this one was let go
      return Status::NotFound(fmt::format("{} v{} is no longer kept (the oldest kept is v{}, the newest v{})", name,
                                          plan.target, oldest, newest));
    return Status::NotFound(fmt::format("{} has no release v{} (it has v{}..v{}; skyport releases {})", name,
                                        plan.target, oldest, newest, name));
  }
  if (target->outcome != ReleaseOutcome::kSucceeded)
    return Status::FailedPrecondition(fmt::format("{} v{} {}{}: only a release that succeeded can be rolled back to",
                                                  name, plan.target, OutcomeName(target->outcome),
                                                  target->error.empty() ? "" : " (" + target->error + ")"));
  if (plan.from && *plan.from == plan.target)
    return Status::FailedPrecondition(fmt::format("{} v{} is already the current release", name, plan.target));
  plan.commit = target->commit;
  auto running = in.running.find(target->commit);
  plan.deploy = running == in.running.end() || running->second != target->env;
  if (in.route) {
    for (const auto& [commit, env] : in.running)
      if (commit != plan.commit && Weighted(in.route, commit)) plan.retire.insert(commit);
  } else if (plan.from) {
    const Release* from = app.Find(*plan.from);
    if (from != nullptr && from->commit != plan.commit) plan.retire.insert(from->commit);
  }
  plan.description = fmt::format("rollback to v{}", plan.target);
  return plan;
}

RetireDecision ShouldRetire(const Retirement& r, const AppReleases& app, const RouteWeights& route,
                            const std::set<std::string>& flight_commits) {
  if (Weighted(route, r.commit)) return {false, "the route gives it weight again"};
  if (flight_commits.count(r.commit)) return {false, "an active flight uses it"};
  // A config change's rolling restart (Release::restart) is no choice of the commit.
  for (const auto& rel : app.releases)
    if (rel.number > r.release && rel.commit == r.commit && !rel.restart && rel.outcome != ReleaseOutcome::kFailed &&
        rel.outcome != ReleaseOutcome::kInterrupted)
      return {false, fmt::format("v{} chose it again", rel.number)};
  return {true, ""};
}

}  // namespace skyport::hub
