#include "drone/child_setup.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

namespace skyport::drone {
namespace {

// Sets soft = hard = `value`; where raising the hard limit is not allowed
// (a drone without CAP_SYS_RESOURCE), caps it at the current hard limit.
bool SetLimit(int resource, rlim_t value) {
  rlimit r{value, value};
  if (setrlimit(resource, &r) == 0) return true;
  if (errno != EPERM) return false;
  rlimit cur{};
  if (getrlimit(resource, &cur) != 0) return false;
  r.rlim_cur = r.rlim_max = std::min(value, cur.rlim_max);
  return setrlimit(resource, &r) == 0;
}

bool Allows(const struct stat& st, const AppUser& u, mode_t owner_bit, mode_t group_bit, mode_t other_bit) {
  if (st.st_uid == u.uid) return (st.st_mode & owner_bit) != 0;
  bool in_group = st.st_gid == u.gid || std::find(u.groups.begin(), u.groups.end(), st.st_gid) != u.groups.end();
  if (in_group) return (st.st_mode & group_bit) != 0;
  return (st.st_mode & other_bit) != 0;
}

}  // namespace

Result<AppUser> LookupAppUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    return Status::NotFound(fmt::format("app-user: no user \"{}\" (create it, e.g. `useradd --system {}`)", name, name));
  if (pw.pw_uid == 0) return Status::InvalidArgument("app-user: must not be root (uid 0)");
  AppUser u;
  u.name = name;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &n) < 0) groups.resize(static_cast<size_t>(n));
  groups.resize(static_cast<size_t>(n));
  u.groups = std::move(groups);
  return u;
}

const char* ChildStepName(int step) {
  switch (step) {
    case kStepOk: return "ok";
    case kStepCgroup: return "join cgroup";
    case kStepNofile: return "setrlimit NOFILE";
    case kStepNproc: return "setrlimit NPROC";
    case kStepAs: return "setrlimit AS";
    case kStepNice: return "setpriority";
    case kStepSetgroups: return "setgroups";
    case kStepSetgid: return "setgid";
    case kStepSetuid: return "setuid";
  }
  return "child setup";
}

int ApplyInChild(const ChildSetup& s, int cgroup_procs_fd) {
  if (cgroup_procs_fd >= 0 && write(cgroup_procs_fd, "0", 1) != 1) return kStepCgroup;
  if (s.limits.nofile != 0 && !SetLimit(RLIMIT_NOFILE, s.limits.nofile)) return kStepNofile;
  if (s.limits.nproc != 0 && !SetLimit(RLIMIT_NPROC, s.limits.nproc)) return kStepNproc;
  if (s.limits.as_mb != 0 && !SetLimit(RLIMIT_AS, static_cast<rlim_t>(s.limits.as_mb) << 20)) return kStepAs;
  if (s.nice && setpriority(PRIO_PROCESS, 0, *s.nice) != 0) return kStepNice;
  if (s.user) {
    const AppUser& u = *s.user;
    if (setgroups(u.groups.size(), u.groups.data()) != 0) return kStepSetgroups;
    if (setgid(u.gid) != 0) return kStepSetgid;
    if (setuid(u.uid) != 0) return kStepSetuid;
  }
  return kStepOk;
}

int AppNice(int increment) {
  errno = 0;
  int own = getpriority(PRIO_PROCESS, 0);
  if (own == -1 && errno != 0) own = 0;
  return std::clamp(own + increment, -20, 19);
}

namespace {

// The mode check of `path` (read or search bit) and the search bit of every
// directory above it.
bool Reachable(const std::string& path, const AppUser& user, bool read) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) return false;
  struct stat st {};
  if (stat(p.c_str(), &st) != 0) return false;
  if (!(read ? Allows(st, user, S_IRUSR, S_IRGRP, S_IROTH) : Allows(st, user, S_IXUSR, S_IXGRP, S_IXOTH)))
    return false;
  for (auto dir = p.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (stat(dir.c_str(), &st) != 0 || !Allows(st, user, S_IXUSR, S_IXGRP, S_IXOTH)) return false;
    if (dir == dir.root_path()) break;
  }
  return true;
}

}  // namespace

bool ReadableBy(const std::string& path, const AppUser& user) { return Reachable(path, user, true); }
bool SearchableBy(const std::string& dir, const AppUser& user) { return Reachable(dir, user, false); }

}  // namespace skyport::drone
