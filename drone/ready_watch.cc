#include "drone/ready_watch.h"

#include <fmt/format.h>

#include "drone/restart_policy.h"

namespace skyport::drone {

ReadyWatch::ReadyWatch(std::set<InstanceKey> keys, std::set<InstanceKey> fresh, int64_t ready_timeout_ms,
                       int64_t min_uptime_ms, int64_t now)
    : keys_(std::move(keys)), fresh_(std::move(fresh)), ready_timeout_ms_(ready_timeout_ms),
      min_uptime_ms_(min_uptime_ms), deadline_(now + ready_timeout_ms + min_uptime_ms + 10'000) {}

ReadyWatch::Look ReadyWatch::See(const InstanceKey& key, const ProcStatus* p, bool wants_port, bool registered,
                                 const ProgressFn& progress, const std::string& advertise) {
  auto fail = [](Status s) { return Look{Next::kFail, std::move(s)}; };
  if (p == nullptr) return fail(Status::Aborted(fmt::format("{} was stopped during the deploy", key.ToString())));
  if (p->state == ProcState::kFailed && p->port_clash) return Look{Next::kMoveOffClash, Status::Ok()};
  // A restart of a fresh instance means it ended during this deploy, even
  // if the poll missed the short backoff in between.
  if (p->state == ProcState::kBackoff || p->state == ProcState::kFailed || (fresh_.count(key) && p->restarts > 0)) {
    // A crash after readiness: how long it stayed up says "crash loop".
    std::string why = p->last_error;
    if (p->last_run_ms > 0 && why.find("not ready") == std::string::npos) why += " after " + FormatDurationMs(p->last_run_ms);
    if (healthy_.count(key))
      why += fmt::format(" (an instance must stay up {} once ready)", FormatDurationMs(min_uptime_ms_));
    return fail(Status::FailedPrecondition(fmt::format("{} failed to start: {}", key.ToString(), why)));
  }
  if (p->state == ProcState::kReady && healthy_.insert(key).second)
    progress(DeployStage::kHealthy, fmt::format("{} is ready (pid {})", key.ToString(), p->pid));
  if (healthy_.count(key) && p->settled && (!wants_port || registered) && registered_.insert(key).second)
    progress(DeployStage::kRegistered, wants_port ? fmt::format("{} registered on {}:{}", key.ToString(), advertise, p->port)
                                                  : fmt::format("{} running (worker, not registered)", key.ToString()));
  return Look{};
}

void ReadyWatch::Moved(const InstanceKey& key, int64_t now) {
  fresh_.insert(key);
  healthy_.erase(key);
  deadline_ = now + ready_timeout_ms_ + min_uptime_ms_ + 10'000;
}

std::optional<Status> ReadyWatch::Verdict(int64_t now, const DeployRun& run) const {
  if (registered_.size() == keys_.size()) return Status::Ok();
  if (now > deadline_) return Status::DeadlineExceeded("instances not ready and registered in time");
  if (run.cancelled()) return Status::Aborted("stopped during the deploy (skyport stop)");
  if (run.left() <= 0)
    return Status::DeadlineExceeded(fmt::format(
        "the deploy's deadline ({:g} s: hub --deploy-timeout or deploy --timeout) passed before every instance "
        "was ready and up for its min-uptime",
        static_cast<double>(run.budget_ms) / 1000));
  return std::nullopt;
}

Status WithStderrTail(const Status& failure, const InstanceKey& key, const std::vector<LogLine>& lines) {
  std::vector<const LogLine*> mine;
  for (const auto& l : lines)
    if (l.stream == "stderr" && l.key.instance == key.instance && l.key.role == key.role && l.key.commit == key.commit)
      mine.push_back(&l);
  if (mine.empty()) return failure;
  const size_t from = mine.size() > kStderrTailLines ? mine.size() - kStderrTailLines : 0;
  std::string out = failure.message() + "\nthe last lines of its stderr:";
  for (size_t i = from; i < mine.size(); ++i) {
    const std::string& t = mine[i]->text;
    out += "\n  " + (t.size() > kStderrTailChars ? t.substr(0, kStderrTailChars) + "…" : t);
  }
  return Status(failure.code(), std::move(out));
}

}  // namespace skyport::drone
