// When a deploy's instances count as ready and registered, and when the
// deploy gives up on them: pure, fed one look at each instance per poll and
// the time, so tests need no processes and no registry.
//
// An instance passes through HEALTHY (ready) to REGISTERED (settled — ready
// for its min-uptime — and, if it has a port, in the registry). A crash
// (backoff, failed, or a fresh instance that restarted at all) fails the
// deploy with the reason; a port clash asks the caller to move it to
// another port, which restarts its clock. The whole deploy fails when the
// watch's own deadline (ready timeout + min-uptime + 10 s, from the start
// or the last move) or the deploy's budget passes, or on a stop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "core/status.h"
#include "drone/deploy_pipeline.h"
#include "drone/supervisor.h"

namespace skyport::drone {

class ReadyWatch {
 public:
  // `fresh`: the keys this deploy started (not already running before it).
  ReadyWatch(std::set<InstanceKey> keys, std::set<InstanceKey> fresh, int64_t ready_timeout_ms,
             int64_t min_uptime_ms, int64_t now);

  const std::set<InstanceKey>& keys() const { return keys_; }

  enum class Next { kWait, kMoveOffClash, kFail };
  struct Look {
    Next next = Next::kWait;
    Status error = Status::Ok();  // kFail: why
  };
  // One instance as the supervisor shows it (null: no longer supervised).
  // `wants_port`: registered when settled; `registered`: the registry has it.
  Look See(const InstanceKey& key, const ProcStatus* p, bool wants_port, bool registered, const ProgressFn& progress,
           const std::string& advertise);
  // The caller moved `key` to another port: it starts over.
  void Moved(const InstanceKey& key, int64_t now);
  // After a look at every instance: Ok once all are registered, an error
  // once the deploy gives up, nothing while it waits.
  std::optional<Status> Verdict(int64_t now, const DeployRun& run) const;

 private:
  const std::set<InstanceKey> keys_;
  std::set<InstanceKey> fresh_, healthy_, registered_;
  const int64_t ready_timeout_ms_, min_uptime_ms_;
  int64_t deadline_;
};

// A failure to start, with the last lines the instance `key` wrote to stderr
// (at most kStderrTailLines of `lines`, each cut at kStderrTailChars), so that
// `skyport deploy` shows why an app crashed without a trip to `skyport logs`.
inline constexpr size_t kStderrTailLines = 10;
inline constexpr size_t kStderrTailChars = 300;
Status WithStderrTail(const Status& failure, const InstanceKey& key, const std::vector<LogLine>& lines);

}  // namespace skyport::drone
