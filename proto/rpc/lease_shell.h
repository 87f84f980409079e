// The I/O half of a registry lease holder: LeaseShell asks the LeaseKeeper
// (core/lease_keeper.h) what is due, makes that one call through LeaseCalls
// and reports the answer back. The holders (drone/registry_link.h, the
// router's RegistryPresence, the CLI's `register -- CMD`) own the thread or
// loop, the entries and the log lines; they read what happened from the
// LeaseTurn. Not thread-safe: one loop drives it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ids.h"
#include "core/lease_keeper.h"
#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::rpc {

// The registry calls a lease holder makes (rpc/lease_calls.h over gRPC;
// tests use a fake).
class LeaseCalls {
 public:
  virtual ~LeaseCalls() = default;
  virtual Result<uint64_t> Grant(uint32_t ttl_seconds) = 0;  // the lease id
  virtual Status KeepAlive(uint64_t lease) = 0;
  virtual Result<uint64_t> Register(const v1::Endpoint& endpoint) = 0;  // the entry id
  // Removes the lease with its entries and ports; the count of entries removed.
  virtual Result<uint32_t> Revoke(uint64_t lease) = 0;
  // The entries the registry holds under the lease (Query by lease_id).
  virtual Result<std::vector<v1::Endpoint>> Entries(uint64_t lease) = 0;
};

// One step: which call was made and how it went.
struct LeaseTurn {
  LeaseStep step = LeaseStep::kWait;  // kWait: no call was made
  Status status;                      // the call's answer
  LeaseOutcome outcome = LeaseOutcome::kOk;
  uint64_t lease = 0;         // the lease the call was for (the new one after a Grant)
  uint64_t entry_id = 0;      // kRegister, kOk: the registry's id for the entry
  std::vector<uint64_t> held; // kAudit, kOk: the ids of the entries under the lease
  std::vector<v1::Endpoint> entries;  // kAudit, kOk: those entries (what each holds)
  int failures_before = 0;    // consecutive failures before this call (> 0 and kOk: recovered)
};

class LeaseShell {
 public:
  // `lease` != 0: already granted at `now` (see LeaseKeeper).
  LeaseShell(LeaseCalls* calls, Random* random, uint32_t ttl_seconds, LeaseTiming timing, uint64_t lease = 0,
             int64_t now = 0);

  // Makes the call that is due at `now`, if any. `to_register` (null:
  // nothing to register) is registered under the lease when its turn comes.
  LeaseTurn Step(int64_t now, const v1::Endpoint* to_register);
  // The caller's own call found the registry away (see LeaseKeeper::OnFailure).
  void Failed(int64_t now);

  const LeaseKeeper& keeper() const { return keeper_; }
  uint64_t lease() const { return keeper_.lease(); }

 private:
  LeaseCalls* calls_;
  Random* random_;
  uint32_t ttl_seconds_;
  LeaseKeeper keeper_;
};

}  // namespace skyport::rpc
