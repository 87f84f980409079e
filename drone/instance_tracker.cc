#include "drone/instance_tracker.h"

#include <sys/stat.h>

#include <signal.h>

#include <fmt/format.h>

#include "core/children.h"
#include "core/files.h"
#include "core/log.h"
#include "drone/cgroup.h"
#include "drone/metrics.h"
#include "core/proc_stat.h"
#include "drone/proc_tree.h"

namespace skyport::drone {
namespace {

constexpr int kLoggedPerRefresh = 10;  // a fork bomb must not flood the log

bool SameLiveProcess(pid_t pid, uint64_t start_time) {
  auto st = ReadProcStat(pid);
  return st.ok() && st->start_time == start_time && st->state != 'Z';
}

}  // namespace

std::string DescribeProcess(pid_t pid) { return fmt::format("pid {} ({})", pid, ReadCmdline(pid)); }

bool InstanceTracker::Track(pid_t pid, uint64_t start_time) {
  if (pid <= 1) return false;
  return tracked_.emplace(pid, start_time).second;
}

int InstanceTracker::Refresh(pid_t leader, pid_t pgid, const std::string& instance) {
  if (!cgroup_.empty()) return 0;  // the cgroup holds them all
  std::set<pid_t> roots;
  if (leader > 1) roots.insert(leader);
  for (const auto& [pid, start] : tracked_) roots.insert(pid);
  const auto procs = ListProcesses();
  int added = 0;
  for (pid_t pid : Descendants(procs, roots, pgid)) {
    if (pid == leader || tracked_.count(pid)) continue;
    auto st = ReadProcStat(pid);
    if (!st.ok() || (pgid > 1 && st->pgid == pgid)) continue;  // the group is signalled as a group
    tracked_.emplace(pid, st->start_time);
    if (++added <= kLoggedPerRefresh)
      log::Warn("a process escaped its instance's process group; it is stopped with the instance",
                {{"instance", instance}, {"process", DescribeProcess(pid)}, {"pgid", st->pgid}});
  }
  metrics::CountEscaped(static_cast<uint64_t>(added));
  if (added > kLoggedPerRefresh)
    log::Warn("more processes escaped the group", {{"instance", instance}, {"not_logged", added - kLoggedPerRefresh}});
  return added;
}

void InstanceTracker::Signal(int sig) {
  if (!cgroup_.empty()) {
    if (sig == SIGKILL) CgroupTree::Kill(cgroup_);
    else CgroupTree::Signal(cgroup_, sig);
  }
  for (const auto& [pid, start] : tracked_)
    if (SameLiveProcess(pid, start)) {
      kill(pid, sig);
      // A daemon that called setsid() leads its own group: its children too.
      if (auto st = ReadProcStat(pid); st.ok() && st->pgid == pid) kill(-pid, sig);
    }
}

bool InstanceTracker::Gone() {
  std::erase_if(tracked_, [](const auto& e) { return !SameLiveProcess(e.first, e.second); });
  return tracked_.empty() && (cgroup_.empty() || !CgroupTree::Populated(cgroup_));
}

void InstanceTracker::Release() {
  if (!Gone()) Signal(SIGKILL);
  tracked_.clear();
  if (!cgroup_.empty()) {
    if (Status s = CgroupTree::Remove(cgroup_); !s.ok())
      log::Warn("cannot remove an instance's cgroup", {{"cgroup", cgroup_}, {"error", s.message()}});
    cgroup_.clear();
  }
}

std::vector<Adopted> OrphanScanner::Scan(const std::set<pid_t>& known, int64_t now_ms) {
  std::map<pid_t, Sighting> now_seen;
  std::map<pid_t, uint64_t> now_quiet;
  std::vector<Adopted> out;
  for (pid_t pid : OwnChildren()) {
    if (known.count(pid) || children::IsClaimed(pid)) continue;
    auto st = ReadProcStat(pid);
    if (!st.ok() || st->state == 'Z') continue;  // the reaper's
    if (auto q = quiet_.find(pid); q != quiet_.end() && q->second == st->start_time) {
      now_quiet.emplace(pid, st->start_time);
      continue;
    }
    auto it = seen_.find(pid);
    const bool known_before = it != seen_.end() && it->second.start_time == st->start_time;
    now_seen[pid] = known_before ? it->second : Sighting{st->start_time, now_ms};
    Adopted a;
    a.seen_before = known_before && now_ms - it->second.first_ms >= kSettleMs;
    a.pid = pid;
    a.start_time = st->start_time;
    a.cmdline = ReadCmdline(pid);
    struct stat pst {};
    if (::stat(fmt::format("/proc/{}", pid).c_str(), &pst) == 0) a.uid = pst.st_uid;
    if (!cgroup_base_.empty()) {
      auto cg = ReadFile(fmt::format("/proc/{}/cgroup", pid));
      auto path = cg.ok() ? ParseOwnCgroup(*cg) : std::nullopt;
      const std::string rel = cgroup_base_.substr(cgroup_base_.find("/skyport-drone."));
      a.in_cgroup = path && path->find(rel + "/") != std::string::npos;
      if (a.in_cgroup) now_quiet.emplace(pid, st->start_time);
    }
    if (!a.in_cgroup) a.instance = InstanceFromEnviron(ParseEnviron(ReadEnviron(pid)), drone_);
    if (!a.in_cgroup && a.instance.empty() && !a.seen_before) continue;  // maybe our fresh fork: next scan
    out.push_back(std::move(a));
  }
  seen_ = std::move(now_seen);
  quiet_ = std::move(now_quiet);
  return out;
}

}  // namespace skyport::drone
