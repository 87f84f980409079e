// The HubPeer gRPC service (proto/skyport/v1/hub_peer.proto): what hubs on
// etcd ask each other about git repositories.
//
// What it promises:
// - Every call checks the cluster token first (constant time, rpc/auth.h);
//   a call without it, or with another, is UNAUTHENTICATED and counted.
// - Replicate (a standby, from the leader): taken only from the leader this
//   hub knows (the header names its member id) and never while this hub
//   leads; checked and applied like a client's push (hub/peer/replica_apply.h:
//   PushLimits, fsck, connectivity, refs by compare-and-swap). A push it
//   cannot apply because it is out of sync calls `out_of_sync` (the hub
//   catches up) and answers FAILED_PRECONDITION. Nothing is applied once the
//   sender gave up (its deadline passed or it cancelled).
// - Refs (any hub): every app's refs, each app read under its write lock.
// - FetchPack (any hub): a pack of wants minus haves (hub/git/repo_store.h
//   PackReachable), at most PushLimits' pack bytes.
// - Bounds: Replicate and FetchPack need a deadline of at most
//   kMaxPeerCallSeconds (a peer cannot hold a call open forever), at most
//   `max_calls` of them at once
//   (RESOURCE_EXHAUSTED beyond, counted), a pack of at most the push bound,
//   at most max_refs updates, replies of at most kMaxRefsReplyBytes. The app's
//   write lock is taken only once a whole pack was received and indexed.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "core/log_limiter.h"
#include "hub/git/git_http.h"
#include "hub/git/repo_store.h"
#include "skyport/v1/hub_peer.grpc.pb.h"

namespace skyport::hub::peer {

inline constexpr size_t kMaxRefsReplyBytes = 8u << 20;
inline constexpr size_t kMaxWantsOrHaves = 10'000;
inline constexpr int kMaxPeerCallSeconds = 3600 + 60;  // --git-replication-timeout is at most 3600 s

struct PeerServiceOptions {
  std::string token;
  PushLimits limits;
  int max_calls = 4;
  std::function<bool()> leading;                   // this hub leads now
  std::function<std::string()> leader_member;      // the leader's member id as known ("" = none)
  std::function<void(const std::string& why)> out_of_sync;
};

class HubPeerService final : public v1::HubPeer::Service {
 public:
  HubPeerService(RepoStore* repos, PeerServiceOptions o) : repos_(repos), o_(std::move(o)) {}
  grpc::Status Replicate(grpc::ServerContext*, grpc::ServerReader<v1::ReplicaChunk>*, v1::ReplicaAck*) override;
  grpc::Status Refs(grpc::ServerContext*, const v1::RefsRequest*, v1::RefsResponse*) override;
  grpc::Status FetchPack(grpc::ServerContext*, const v1::FetchPackRequest*, grpc::ServerWriter<v1::PackChunk>*) override;

  // skyport_hub_git_replica_applied_total, skyport_hub_git_replica_refused_total{cause},
  // skyport_hub_peer_unauthenticated_total, skyport_hub_peer_busy_total, skyport_hub_peer_packs_served_total.
  std::string MetricsText() const;

 private:
  grpc::Status Authenticate(const grpc::ServerContext& ctx);
  grpc::Status Refuse(const char* cause, grpc::Status s, const std::string& app);
  // OK, or RESOURCE_EXHAUSTED (too many calls) / INVALID_ARGUMENT (no bounded deadline), counted.
  grpc::Status Admit(const grpc::ServerContext& ctx);

  RepoStore* repos_;
  const PeerServiceOptions o_;
  std::atomic<int> calls_{0};
  std::atomic<uint64_t> applied_{0}, unauthenticated_{0}, busy_{0}, packs_served_{0};
  std::atomic<uint64_t> refused_leader_{0}, refused_sync_{0}, refused_checks_{0}, refused_other_{0};
  std::mutex log_mu_;
  LogLimiter log_limit_;  // guarded by log_mu_
};

}  // namespace skyport::hub::peer
