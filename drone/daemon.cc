#include "drone/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/address_list.h"
#include "core/exclusive.h"
#include "core/files.h"
#include "core/http_admin.h"
#include "core/log.h"
#include "core/names.h"
#include "core/timefmt.h"
#include "drone/app_env.h"
#include "drone/cgroup.h"
#include "drone/child_setup.h"
#include "drone/metrics.h"

namespace skyport::drone {
namespace {

// Joins argv into one shell command line, quoting what needs it.
std::string ShellJoin(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=:,+@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

// The app settings: user, limits, environment, cgroups. Checks that the
// app user cannot read the token file.
Status SetUpApps(const DaemonOptions& o, AgentOptions& a) {
  if (Status s = ValidateEnvPass(o.app_env_pass); !s.ok()) return s;
  a.app_env_pass = o.app_env_pass;
  if (o.app_nice < 0 || o.app_nice > 19) return Status::InvalidArgument("app-nice: must be from 0 to 19");
  if (o.stop_timeout_s < 1 || o.stop_timeout_s > 3600)
    return Status::InvalidArgument("stop-timeout: must be from 1 to 3600 seconds");
  if (!(o.app_cpu >= 0) || o.app_cpu > 1024) return Status::InvalidArgument("app-cpu: must be from 0 to 1024");
  a.app.limits = {o.app_nofile, o.app_nproc, o.app_as_mb};
  a.app.nice = AppNice(o.app_nice);
  a.app.cgroup = {o.app_cpu, o.app_memory_mb};
  a.app.stop_timeout_ms = int64_t{o.stop_timeout_s} * 1000;
  a.term_timeout_ms = a.app.stop_timeout_ms;
  if (!o.app_user.empty() && !o.app_uids.empty())
    return Status::InvalidArgument("app-uids: give either --app-uids (a uid per app) or --app-user (one for all)");
  if (!o.app_uids.empty()) {
    if (::geteuid() != 0)
      return Status::FailedPrecondition("app-uids: the drone must run as root to start apps as other users");
    auto range = ParseUidRange(o.app_uids);
    if (!range.ok()) return range.status();
    AppUser probe;  // no groups: what every app uid has
    probe.uid = probe.gid = range->lo;
    if (!o.common.token_file.empty() && ReadableBy(o.common.token_file, probe))
      return Status::FailedPrecondition(fmt::format(
          "token-file: {} is readable by other users; make it the drone's alone (chmod 600, owned by root)",
          o.common.token_file));
    auto uids = AppUids::Open(a.data_dir + "/app-uids.json", *range);
    if (!uids.ok()) return uids.status();
    a.app_uids = std::move(*uids);
  } else if (!o.app_user.empty()) {
    if (::geteuid() != 0)
      return Status::FailedPrecondition("app-user: the drone must run as root to start apps as another user");
    auto u = LookupAppUser(o.app_user);
    if (!u.ok()) return u.status();
    if (!o.common.token_file.empty() && ReadableBy(o.common.token_file, *u))
      return Status::FailedPrecondition(fmt::format(
          "token-file: {} is readable by the app user {}; make it the drone's alone (chmod 600, owned by root)",
          o.common.token_file, u->name));
    a.app.user = *u;
  } else {
    log::Warn("apps run as the drone's own user: they could read its token file and its /proc files; run the "
              "drone as root with --app-user (docs/operations.md)", {{"token_file", o.common.token_file}});
  }
  if (o.cgroups != "auto" && o.cgroups != "on" && o.cgroups != "off")
    return Status::InvalidArgument("cgroups: must be auto, on or off");
  if (o.cgroups != "off") {
    auto tree = CgroupTree::Open(a.data_dir);
    if (tree.ok()) {
      a.cgroups = std::move(*tree);
      log::Info("apps run in cgroups", {{"base", a.cgroups->base()}, {"cpu", a.cgroups->has_cpu()},
                                        {"memory", a.cgroups->has_memory()}});
    } else if (o.cgroups == "on") {
      return Status::FailedPrecondition("cgroups: " + tree.status().message());
    } else {
      log::Info("no cgroups for apps; what escapes an app's process group is found through /proc",
                {{"why", tree.status().message()}});
    }
  }
  if ((o.app_cpu > 0 || o.app_memory_mb > 0) &&
      !(a.cgroups && (o.app_cpu == 0 || a.cgroups->has_cpu()) && (o.app_memory_mb == 0 || a.cgroups->has_memory())))
    log::Warn("app-cpu / app-memory-mb need the cgroup v2 cpu / memory controllers, which the drone does not have; "
              "not enforced");
  return Status::Ok();
}

}  // namespace

int RunDaemon(DaemonOptions o) {
  auto token = StartDaemon("drone", o.common);
  if (!token.ok()) return FailStart(token.status());
  AgentOptions& a = o.agent;
  a.token = *token;
  a.tls = o.common.tls;
  if (a.name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    a.name = host;
  }
  if (Status s = ValidateDroneName("name", a.name); !s.ok()) return FailStart(s);
  if (auto hubs = ParseAddressList("hub", a.hub); !hubs.ok()) return FailStart(hubs.status());
  if (auto registries = ParseAddressList("registry", a.registry); !registries.ok())
    return FailStart(registries.status());
  if (Status s = ValidateHost("advertise", a.advertise); !s.ok()) return FailStart(s);
  if (Status s = ValidateName("role", a.fixed_role); !s.ok()) return FailStart(s);
  for (const auto& l : o.labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) return FailStart(Status::InvalidArgument(fmt::format("label: \"{}\" must be KEY=VALUE", l)));
    a.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  a.fixed_command = ShellJoin(o.command);
  a.drain_ms = o.drain_ms;
  a.ready_timeout_ms = int64_t{o.ready_timeout_s} * 1000;
  if (a.lease_ttl_s < 1) return FailStart(Status::InvalidArgument("lease-ttl: must be >= 1"));
  if (a.min_uptime_ms < 0 || a.min_uptime_ms > 600'000)
    return FailStart(Status::InvalidArgument("min-uptime-ms: must be from 0 to 600000"));
  if (a.port_clash_retries < 0 || a.port_clash_retries > 64)
    return FailStart(Status::InvalidArgument("port-clash-retries: must be from 0 to 64"));
  if (Status s = SetUpApps(o, a); !s.ok()) return FailStart(s);
  {
    auto retention = ParseDurationMs(o.retention);
    if (!retention.ok()) return FailStart(Status::InvalidArgument("retention: " + retention.status().message()));
    auto interval = ParseDurationMs(o.gc_interval);
    if (!interval.ok()) return FailStart(Status::InvalidArgument("gc-interval: " + interval.status().message()));
    if (*interval < 100) return FailStart(Status::InvalidArgument("gc-interval: must be at least 100ms"));
    a.retention_ms = *retention;
    a.gc_interval_ms = *interval;
  }

  // Orphaned grandchildren of our apps come to us to be reaped.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  StopSignals stop_signals;  // before any thread starts

  // One drone per data dir: two would adopt and stop each other's apps.
  auto lock = DataDirLock::Acquire(a.data_dir);
  if (!lock.ok()) return FailStart(lock.status());
  // Where this drone's instance cgroups are, for operators (and test clean-up).
  if (a.cgroups) (void)WriteFileAtomic(a.data_dir + "/cgroup", a.cgroups->base() + "\n");

  std::unique_ptr<AdminServer> admin;
  if (!o.metrics_listen.empty()) {
    auto aopts = AdminOptionsFromFlagsAndEnv(o.admin, "");
    if (!aopts.ok()) return FailStart(aopts.status());
    auto srv = AdminServer::Start(
        o.metrics_listen,
        {{"/metrics", [](const AdminRequest&) { return AdminResponse{200, "text/plain; version=0.0.4", metrics::Render()}; }},
         {"/healthz", [](const AdminRequest&) { return AdminResponse{200, "text/plain", "ok\n"}; }}},
        *aopts);
    if (!srv.ok()) return FailStart(srv.status());
    admin = std::move(*srv);
    log::Info("listening", {{"metrics_port", admin->port()}});
  }

  Agent agent(a);
  if (Status s = agent.Start(); !s.ok()) return FailStart(s);
  log::Info("drone running", {{"name", a.name}, {"advertise", a.advertise}, {"hub", a.hub}, {"registry", a.registry},
                              {"data", a.data_dir}, {"fixed_command", a.fixed_command}});
  log::Info("stopping: apps are stopped and deregistered", {{"signal", stop_signals.Wait()}});
  agent.Shutdown();
  // Every instance is stopped: the tree goes too (a crash leaves it for the next run).
  if (a.cgroups) (void)CgroupTree::Remove(a.cgroups->base());
  return 0;
}

}  // namespace skyport::drone
