// `skyport logs`: the Hub.Logs stream as lines; with --follow until SIGINT or
// SIGTERM, which cancel the call and end with exit 0.
#include <signal.h>

#include <atomic>
#include <optional>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command_table.h"
#include "cli/errors.h"
#include "cli/hub_commands.h"
#include "cli/log_lines.h"

namespace skyport::cli {
namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Waits for SIGINT/SIGTERM (blocked in every thread) on its own thread: the
// first cancels the call, a second one exits at once in case that hangs.
class InterruptWatcher {
 public:
  explicit InterruptWatcher(HubClient& client)
      : thread_([this, &client] {
          sigset_t set = StopSignals();
          timespec poll{0, 100'000'000};
          while (!done_) {
            if (sigtimedwait(&set, nullptr, &poll) <= 0) continue;
            if (interrupted_.exchange(true)) std::_Exit(130);
            client.Cancel();
          }
        }) {}
  ~InterruptWatcher() {
    done_ = true;
    thread_.join();
  }
  bool interrupted() const { return interrupted_; }

 private:
  std::atomic<bool> done_{false};
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

}  // namespace

int RunLogs(const GlobalOptions& g, const LogsOptions& o) {
  auto req = MakeLogsRequest(o);
  if (!req.ok()) return ReportUsage(req.status());
  if (o.follow) {
    // Before the channel exists, so that gRPC's threads never take them.
    sigset_t set = StopSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  int code = kExitOk;
  auto client = ConnectHubOrReport(g, code);
  if (!client) return code;
  const std::string what = "logs " + o.app;
  if (Status s = client->WaitConnected(); !s.ok()) return ReportHubError(g, what, s);

  std::optional<InterruptWatcher> watcher;
  if (o.follow) watcher.emplace(*client);
  bool output_failed = false;
  size_t lines = 0;
  // A tail ends when every drone has sent it; --timeout bounds that wait.
  const int64_t timeout_ms = o.follow ? 0 : static_cast<int64_t>(g.timeout_s * 1000);
  Status s = client->Logs(*req, [&](const v1::LogLine& line) {
    ++lines;
    output_failed = !PrintLine(g.json ? LogJson(line) : LogText(line));
    return !output_failed;
  }, timeout_ms);
  const bool interrupted = watcher && watcher->interrupted();
  watcher.reset();
  if (output_failed) return kExitFailure;  // the reader went away
  if (interrupted) return kExitOk;
  if (s.ok()) return kExitOk;
  if (s.code() == Code::kDeadlineExceeded && lines > 0) {
    std::cerr << fmt::format("skyport: {}: not every drone finished within --timeout {:g} s; "
                             "the output may be incomplete",
                             what, g.timeout_s)
              << std::endl;
    return kExitFailure;
  }
  return ReportHubError(g, what, s);
}

// ---- `skyport logs` in the command table (command_table.h)
namespace {

Runner DefineLogs(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<LogsOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("commit", o->commit, "Only this commit (a prefix)");
  cmd.add_option("--role", o->role, "Only this role");
  cmd.add_flag("-f,--follow", o->follow, "Keep printing new lines until interrupted");
  cmd.add_option("--tail", o->tail, "Lines of history per process (0: the drones' default)");
  cmd.add_flag("--release", o->release,
               "The output of COMMIT's release step on each drone (its last run, success or failure) instead");
  cmd.footer("Lines from stderr have `!` instead of `|`. A commit that stopped or failed still has its logs on "
             "the drones until their --retention expires (default 7 days).");
  return [&g = ctx.global, o] { return RunLogs(g, *o); };
}

constexpr CommandSpec kLogsCommands[] = {
    {"logs", "Print APP's process output: `DRONE ROLE.INST COMMIT | TEXT`", DefineLogs},
};

}  // namespace

std::span<const CommandSpec> LogsCommands() { return kLogsCommands; }

}  // namespace skyport::cli
