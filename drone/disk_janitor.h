// The drone's disk janitor: on its own thread, every `interval_ms`, deletes
// the checkouts and logs of commits that nothing runs any more once the
// retention expired (the choice is drone/retention.h). A commit that runs
// (any instance state: a crash-looping or failed one too) or whose deploy or
// stop is under way (its deployment lock is held) is never touched; the lock
// is held while its files go, so a deploy of it waits for that. Each pass
// looks at no more than `max_scan` directories and deletes at most the
// policy's max_per_pass commits; what it removed is logged and counted
// (skyport_drone_gc_*).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "drone/retention.h"

namespace skyport::drone {

struct DiskJanitorOptions {
  std::string data_dir;
  RetentionPolicy policy;
  int64_t interval_ms = 10 * 60 * 1000;
  size_t max_scan = 10'000;
};

struct JanitorPass {
  size_t commits = 0;
  size_t checkouts = 0;
  size_t log_dirs = 0;
  uint64_t bytes = 0;
};

class DiskJanitor {
 public:
  using InUse = std::function<std::set<CommitKey>()>;
  using LockOf = std::function<std::mutex&(const std::string& app, const std::string& commit)>;
  DiskJanitor(DiskJanitorOptions o, InUse in_use, LockOf lock_of);
  ~DiskJanitor();  // stops the thread
  DiskJanitor(const DiskJanitor&) = delete;
  DiskJanitor& operator=(const DiskJanitor&) = delete;

  void Start();
  // One pass at `now_unix_ms` (the thread passes the wall clock).
  JanitorPass RunPass(int64_t now_unix_ms);

 private:
  void Loop();

  const DiskJanitorOptions o_;
  const InUse in_use_;
  const LockOf lock_of_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace skyport::drone
