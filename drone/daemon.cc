#include "drone/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/exclusive.h"
#include "core/log.h"
#include "core/names.h"

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

  // Orphaned grandchildren of our apps come to us to be reaped.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  StopSignals stop_signals;  // before any thread starts

  // One drone per data dir: two would adopt and stop each other's apps.
  auto lock = DataDirLock::Acquire(a.data_dir);
  if (!lock.ok()) return FailStart(lock.status());

  Agent agent(a);
  if (Status s = agent.Start(); !s.ok()) return FailStart(s);
  log::Info("drone running", {{"name", a.name}, {"advertise", a.advertise}, {"hub", a.hub}, {"registry", a.registry},
                              {"data", a.data_dir}, {"fixed_command", a.fixed_command}});
  log::Info("stopping: apps are stopped and deregistered", {{"signal", stop_signals.Wait()}});
  agent.Shutdown();
  return 0;
}

}  // namespace skyport::drone
