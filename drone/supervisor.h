// Runs and supervises app processes on a drone: one process group per
// instance, stdout/stderr into rotated log files plus an in-memory tail,
// readiness checks, restarts with exponential backoff, graceful stops, and
// reaping of everything (the drone is a child subreaper). Thread-safe; one
// internal thread owns the processes and reports every state change through
// OnChange (called on that thread: must not block for long, and must not
// call Stop/StopAll, which wait for that thread). List() may show a change
// slightly before its OnChange call. Each instance's decisions are made by
// drone/instance_machine.h; the implementation is their I/O shell.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/backoff.h"
#include "core/status.h"
#include "drone/cgroup.h"
#include "drone/child_setup.h"

namespace skyport::drone {

struct InstanceKey {
  std::string app, commit, role;
  uint32_t instance = 0;
  auto operator<=>(const InstanceKey&) const = default;
  std::string ToString() const;  // "webapp@74336bc1db98/web.0"
};

struct ProcessSpec {
  InstanceKey key;
  std::string command;  // a shell command line, run as /bin/sh -c COMMAND
  std::string cwd;
  std::map<std::string, std::string> env;  // the whole environment (drone/app_env.h builds it)
  ChildSetup setup;                        // rlimits, nice, app user (drone/child_setup.h)
  CgroupLimits cgroup_limits;              // cpu.max / memory.max, where the drone has cgroups
  int64_t stop_timeout_ms = 0;             // SIGTERM -> SIGKILL; 0: SupervisorOptions::term_timeout_ms
  uint32_t port = 0;                       // 0: a worker, no readiness check
  std::string ready_host = "127.0.0.1";    // where the readiness check connects
  std::string health_path;                 // "": TCP connect; else GET must answer 2xx/3xx
  int64_t ready_timeout_ms = 30'000;       // not ready by then: killed, counted as a crash
  // A run is `settled` once it has been ready this long (0: at once). Only a
  // settled instance takes traffic, so a crash loop never does.
  int64_t min_uptime_ms = 0;
};

enum class ProcState {
  kStarting,  // spawned, readiness not yet seen
  kReady,     // its own process listens on the port (or a worker that is running)
  kBackoff,   // exited; restart scheduled
  kStopping,  // Stop() called: draining, then SIGTERM/SIGKILL
  kStopped,   // gone after Stop(); removed from List() after the callback
  kFailed,    // gave up (crash loop beyond the policy's limit, or a port clash)
};
const char* ProcStateName(ProcState s);

struct ProcStatus {
  InstanceKey key;
  ProcState state = ProcState::kStarting;
  int64_t pid = 0;               // 0 when not running
  uint32_t port = 0;
  uint32_t restarts = 0;
  bool crash_loop = false;       // restarting faster than the policy considers healthy
  std::string last_error;        // "exited with code 3", "killed by signal 9", "not ready on port 4001 after 30s (...)"
  bool settled = false;          // kReady for at least spec.min_uptime_ms in this run
  int64_t last_run_ms = 0;       // how long the previous run lasted (0 before any exit)
  // kFailed because another process listens on the port (last_error says
  // who): the caller allocates another port.
  bool port_clash = false;
  int64_t started_unix_ms = 0;   // of the current run
  int64_t next_restart_unix_ms = 0;
};

struct LogLine {
  InstanceKey key;
  std::string stream;  // "stdout" | "stderr"
  std::string text;    // without the trailing newline
  int64_t unix_ms = 0;
};

struct SupervisorOptions {
  std::string log_dir;                  // logs under LOG_DIR/<app>/<commit>/<role>.<instance>.log
  uint64_t log_max_bytes = 10 << 20;    // rotate at this size
  int log_keep = 3;                     // rotated files kept (.1 .. .N)
  size_t tail_lines = 1000;             // per instance, in memory
  BackoffPolicy restart_backoff{200, 30'000, 2.0, 0.2};
  int64_t stable_after_ms = 10'000;     // a run this long resets the backoff
  int max_quick_restarts = 0;           // 0: restart forever; N: kFailed after N quick crashes in a row
  int64_t term_timeout_ms = 5'000;      // SIGTERM -> SIGKILL
  std::string state_file;               // pids/pgids of running processes, for the next run
  int crash_loop_after = 3;             // quick crashes in a row that set crash_loop
  // true: the owner thread reaps every child of the process (orphans come
  // to a child subreaper), except pids claimed in core/children.h by their
  // own waiter; false: only the pids it started.
  bool reap_all_children = true;
  // Where instances get a cgroup each (null: none; what escapes the group
  // is then found through /proc, see drone/instance_tracker.h).
  std::shared_ptr<CgroupTree> cgroups;
  // Adopted orphans are attributed to an instance by the SKYPORT_* of their
  // environment, SKYPORT_DRONE included; others are killed. "": orphans are
  // only reaped (a process with children of its own, e.g. a test binary).
  std::string drone_name;
  int64_t orphan_scan_ms = 200;
  // Test hook: the destructor leaves every process running and the state
  // file as it is, as a crashed drone would.
  bool leave_running_on_destroy = false;
};

class Supervisor {
 public:
  using OnChange = std::function<void(const ProcStatus&)>;
  using OnLog = std::function<void(const LogLine&)>;

  // Stops what a previous run left (from the state file; checking that each
  // pid is still the same process), then starts the owner thread.
  static Result<std::unique_ptr<Supervisor>> Start(SupervisorOptions opts, OnChange on_change);
  virtual ~Supervisor() = default;  // stops every instance

  // Starts an instance (ALREADY_EXISTS if that key is already supervised).
  virtual Status Run(ProcessSpec spec) = 0;
  // Stops an instance: state kStopping (reported first, so the caller can
  // deregister it), waits `drain_ms`, SIGTERM to its group, SIGKILL after
  // term_timeout_ms, reaps; then kStopped. Returns once it is gone.
  // NOT_FOUND if unknown.
  virtual Status Stop(const InstanceKey& key, int64_t drain_ms) = 0;
  virtual void StopAll(int64_t drain_ms) = 0;
  virtual std::vector<ProcStatus> List() const = 0;
  // The last `n` lines of every instance matching the filter (empty = any;
  // `commit` may be a prefix), oldest first. A stopped instance's lines stay
  // for a while (the last kKeptStoppedTails instances), and are included
  // when `commit` is given and no live instance has that key: so the output
  // of an instance whose deploy failed (and was stopped) can still be read.
  static constexpr size_t kKeptStoppedTails = 16;
  virtual std::vector<LogLine> Tail(const std::string& app, const std::string& commit, const std::string& role,
                                    size_t n) const = 0;
  // Every new line from now on (called on the owner thread); returns an id
  // for Unsubscribe. After Unsubscribe returns the callback no longer runs;
  // so it must not be called from inside the callback.
  virtual uint64_t Subscribe(OnLog on_log) = 0;
  virtual void Unsubscribe(uint64_t id) = 0;
};

}  // namespace skyport::drone
