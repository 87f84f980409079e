// What the Supervisor publishes to other threads: each instance's latest
// status, the tail of its output (kept a while after it stopped), and the
// log subscribers. The owner thread writes; any thread reads. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "drone/log_file.h"
#include "drone/supervisor.h"

namespace skyport::drone {

class InstanceBoard {
 public:
  InstanceBoard(size_t tail_lines, size_t kept_stopped_tails)
      : tail_lines_(tail_lines), kept_stopped_tails_(kept_stopped_tails) {}

  // A new instance (kStarting, no pid); false if `key` is already on the board.
  bool Add(const InstanceKey& key, uint32_t port);
  bool Has(const InstanceKey& key) const;
  void Set(const ProcStatus& status);
  std::vector<ProcStatus> List() const;
  // Off the list; its tail joins the stopped ones (the oldest beyond the bound goes).
  void Retire(const InstanceKey& key);

  // New lines of `key`'s `stream`: into its tail, and queued for the subscribers.
  void AddLines(const InstanceKey& key, const char* stream, std::vector<std::string>& lines, int64_t unix_ms);
  // Supervisor::Tail.
  std::vector<LogLine> Tail(const std::string& app, const std::string& commit, const std::string& role,
                            size_t n) const;

  uint64_t Subscribe(std::function<void(const LogLine&)> on_log);
  void Unsubscribe(uint64_t id);
  // The queued lines to every subscriber (called with no other lock held).
  void DeliverLines();

 private:
  const size_t tail_lines_;
  const size_t kept_stopped_tails_;
  mutable std::mutex mu_;
  std::map<InstanceKey, ProcStatus> statuses_;                            // guarded by mu_
  std::map<InstanceKey, TailRing<LogLine>> tails_;                        // guarded by mu_
  std::deque<std::pair<InstanceKey, TailRing<LogLine>>> stopped_tails_;   // newest last; guarded by mu_
  std::vector<LogLine> pending_logs_;                                     // guarded by mu_

  std::mutex subs_mu_;  // held while callbacks run, so Unsubscribe waits for them
  std::map<uint64_t, std::function<void(const LogLine&)>> subs_;  // guarded by subs_mu_
  uint64_t next_sub_ = 0;                                          // guarded by subs_mu_
};

}  // namespace skyport::drone
