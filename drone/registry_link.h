// The drone's side of the registry: one lease for the whole drone, kept
// alive by a thread with rpc::LeaseShell (core/lease_keeper.h says when to
// grant, keep alive, register and back off); the endpoints the drone wants
// registered are registered (and re-registered after the lease or the
// registry was lost) by that thread; deregistrations and port releases are
// queued to it and sent at once, so callers (the supervisor's thread) never
// wait on the network. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "drone/supervisor.h"
#include "rpc/failover.h"
#include "rpc/lease_calls.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::drone {

class RegistryLink {
 public:
  // `registries`: the drone's --registry list (rpc/failover.h: which calls
  // move on to the next registry, and why).
  RegistryLink(std::shared_ptr<rpc::AddressPool> registries, std::string token, uint32_t ttl_s);
  ~RegistryLink();

  // Revokes `stale_lease` (a previous run's, 0 = none), then starts the thread.
  // Returns how many entries the revoke removed.
  int64_t Start(uint64_t stale_lease);
  // Deregisters everything and revokes the lease.
  void Shutdown();

  // A port on `host` for the instance, under the drone's lease (waits up to
  // `timeout_ms` for a lease), never one of `avoid` (ports found taken by a
  // process outside the cluster).
  Result<uint32_t> Allocate(const std::string& host, const InstanceKey& key, int64_t timeout_ms,
                            const std::vector<uint32_t>& avoid = {});
  // Wants `ep` registered (done by the thread, at once if possible).
  void WantRegistered(const InstanceKey& key, v1::Endpoint ep);
  // Stops wanting it registered; the entry is removed right away by the
  // thread (retried while the registry is unreachable). Never blocks.
  void Deregister(const InstanceKey& key);
  // Deregisters `key` and waits until the registry has removed the entry (or
  // it was never registered, or the lease is gone), at most `timeout_ms`.
  // Routers stop sending to an instance only once its entry is gone, so a stop
  // drains from there, not from when the removal was queued. False on timeout.
  bool DeregisterAndWait(const InstanceKey& key, int64_t timeout_ms);
  // Gives back an instance's port, the same way (the lease frees it anyway).
  void ReleasePort(const std::string& host, uint32_t port);
  bool IsRegistered(const InstanceKey& key) const;
  // True from WantRegistered until Deregister (registered or not yet).
  bool IsWanted(const InstanceKey& key) const;
  uint64_t lease() const;

 private:
  struct Want {
    v1::Endpoint ep;
    uint64_t id = 0;   // the entry at ep's host:port under the current lease (0: none)
    uint64_t gen = 0;  // which WantRegistered call this is: an answer for an older one does not count
    uint64_t registered_gen = 0;  // which of them the registry holds: registered when == gen
    bool Pending() const { return registered_gen != gen; }
  };
  void Loop();
  // The registry lost the lease: its entries went with it. Takes mu_.
  void LoseLease();
  // Records entry `id`, registered as `sent` under `lease` for the want of
  // generation `gen` (drone/registration.h says what counts). Takes mu_.
  void Registered(const InstanceKey& key, const v1::Endpoint& sent, uint64_t gen, uint64_t lease, uint64_t id);
  // An audit of `lease` found `held` (the entries under it): entries the
  // registry lost are registered again, entries it holds that are not ours
  // are removed, ours that hold older content than we registered are
  // registered again over it. Takes mu_.
  void Audited(uint64_t lease, const std::vector<v1::Endpoint>& held);
  // Stops wanting `key`; queues its entry's removal if it was registered and
  // returns that removal's generation (0: nothing queued). Holds mu_.
  uint64_t QueueDeregisterLocked(const InstanceKey& key);
  // Sends the queued deregistrations and releases; keeps the ones that failed
  // for a reason worth retrying. Returns false if the registry was unreachable.
  bool FlushQueued(uint64_t lease);
  // The drone's own calls wait for the registry to come back (`wait_for_peer`,
  // rpc/call.h), as the lease calls do (rpc/lease_calls.h).
  grpc::Status Call(rpc::Retry retry, std::function<grpc::Status(v1::Registry::Stub&, grpc::ClientContext&)> fn,
                    int64_t timeout_ms = 3000) const;

  std::shared_ptr<rpc::AddressPool> registries_;  // the drone's own calls (allocate, deregister, release)
  std::string token_;
  uint32_t ttl_s_;
  rpc::GrpcLeaseCalls calls_;  // grant, keep alive, register, revoke

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t lease_ = 0;                 // guarded by mu_
  std::map<InstanceKey, Want> wants_;  // guarded by mu_
  std::vector<uint64_t> deregister_;   // entry ids to remove; guarded by mu_
  std::vector<std::pair<std::string, uint32_t>> release_;  // host, port; guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  uint64_t want_gen_ = 0;              // guarded by mu_
  uint64_t queued_gen_ = 0;            // deregistrations queued so far; guarded by mu_
  uint64_t acked_gen_ = 0;             // of those, how many the registry has acknowledged; guarded by mu_
  std::thread thread_;
};

}  // namespace skyport::drone
