// `skyport registry register ... -- CMD`: run CMD on an allocated port and
// keep it registered for exactly as long as it runs.
//
// Promises:
//  - CMD runs in its own process group with PORT and SKYPORT_APP/COMMIT/
//    ROLE/INSTANCE set; it and its group die with us, even on kill -9 (see
//    SpawnInGroup and SpawnGroupGuardian in process.h).
//  - The entry is registered (with CMD's pid) once host:port accepts TCP
//    connections, or at once with wait_ready=false.
//  - The lease is kept alive every ttl/3; if the registry forgets it
//    (KeepAlive NOT_FOUND), a new lease is granted and the entry registered
//    again; UNAVAILABLE and other failures are retried with backoff for as
//    long as CMD runs.
//  - When CMD exits, the lease is revoked and CMD's exit code (128+signal if
//    it was killed) is returned. On SIGINT/SIGTERM/SIGHUP, CMD's group gets
//    SIGTERM, then SIGKILL after 5 s (or at a second signal), then the same.
//  - If CMD is not ready within ready_timeout_ms, it is killed, the lease is
//    revoked and 1 is returned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/registry_client.h"

namespace skyport::cli {

struct SuperviseSpec {
  v1::Endpoint endpoint;  // everything but id, pid, lease_id (port decided already)
  uint64_t lease_id = 0;  // granted by the caller (the port may be allocated under it)
  uint32_t ttl_seconds = 10;
  std::vector<std::string> command;
  bool wait_ready = true;
  int64_t ready_timeout_ms = 30'000;
  bool json = false;
  std::string registry;  // for hints in messages
};

// Blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in the calling thread; call it
// before the first RPC so that gRPC's threads inherit the mask and the
// supervisor alone receives these signals (with sigtimedwait).
void BlockSupervisorSignals();

// Runs CMD to the end; returns the process exit code.
int Supervise(RegistryClient& client, const SuperviseSpec& spec);

}  // namespace skyport::cli
