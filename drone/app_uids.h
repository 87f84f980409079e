// One uid (and gid) per app, from an operator-given range (--app-uids LO-HI),
// like systemd's DynamicUser=: apps of one drone cannot read or write each
// other's checkouts, read each other's /proc/PID/environ (their `--env`
// secrets) or signal each other, and the drone can tell their processes apart
// by uid. Assignments are kept in DATA/app-uids.json so an app keeps its uid
// (and its files' owner) across drone restarts. Thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "drone/child_setup.h"

namespace skyport::drone {

struct UidRange {
  uid_t lo = 0, hi = 0;  // inclusive
};
// "LO-HI": 1 <= LO <= HI, at most 65536 uids, never 0 or 65534 (nobody).
Result<UidRange> ParseUidRange(const std::string& text);

// Pure: the uid `app` gets given the current assignments; INVALID when the
// range is used up. `taken(uid)`: the uid belongs to someone outside (a
// user of the machine), never handed out.
Result<uid_t> PickUid(const std::map<std::string, uid_t>& assigned, const std::string& app, UidRange range,
                      const std::function<bool(uid_t)>& taken);

class AppUids {
 public:
  // Loads `path` (missing: none assigned yet).
  static Result<std::unique_ptr<AppUids>> Open(std::string path, UidRange range);
  // The app's user (name "app:APP", uid = gid, no supplementary groups),
  // assigned and saved on first use.
  Result<AppUser> For(const std::string& app);
  UidRange range() const { return range_; }

 private:
  AppUids(std::string path, UidRange range) : path_(std::move(path)), range_(range) {}
  std::string path_;
  UidRange range_;
  std::mutex mu_;
  std::map<std::string, uid_t> assigned_;  // guarded by mu_
};

}  // namespace skyport::drone
