// A daemon owns its listening addresses and its data dir alone: a second
// copy started by mistake must fail to start and say why, never run beside
// the first (a split brain: the kernel would share clients between two
// registries, two hubs would write one database).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport {

// The error for a failed bind/listen of `address` with errno `err`:
// UNAVAILABLE "address 127.0.0.1:6000 is in use (another skyport-registry?)"
// for EADDRINUSE (the program name is this process's), else
// "cannot listen on ADDRESS: <strerror>".
Status ListenError(std::string_view address, int err);

// Binds a plain TCP socket to `address` (HOST:PORT, numeric or resolvable
// host; SO_REUSEADDR so that TIME_WAIT leftovers of our own last run do not
// count, and never SO_REUSEPORT) and closes it. OK when nothing listens
// there now; else ListenError. Port 0 is always OK. For listeners that
// themselves use SO_REUSEPORT (a group another process could join) and to
// explain why a library's bind failed. For a loopback or wildcard address the
// other family's loopback or wildcard on the same port must be free too
// (127.0.0.1 <-> [::1], 0.0.0.0 <-> [::]): "localhost:P" reaches both, so a
// second daemon there would share the clients; hosts without IPv6 skip it.
Status ProbeListen(const std::string& address);

// An exclusive lock on DIR/LOCK (flock, as etcd, Consul and Prometheus
// lock their data dirs), held until destroyed or the process dies — kill -9
// included, so there is never a stale lock to clean up. The file holds the
// owner's pid, for the message a second daemon prints:
// FAILED_PRECONDITION "data dir D is in use by pid N (another
// skyport-hub?): stop it, or give this one another --data". The descriptor
// is close-on-exec: children the daemon spawns do not keep the lock.
class DataDirLock {
 public:
  // Creates `dir` (and parents) when missing.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  DataDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace skyport
