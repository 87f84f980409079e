// HubInfo: what this hub says about itself for `skyport status` — its
// version, whether it leads, and the hubs of its election. Every hub answers
// (a standby too: this is not a command); the token is checked.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hub/git/repo_store.h"
#include "hub/ha/gate.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::hub {

struct InfoOptions {
  std::string token;
  const LeaderGate* gate = nullptr;  // null: a single hub
  std::string member;                // several hubs: this hub's member id
  // Several hubs: the gRPC addresses of every hub in the election (etcd);
  // null or an error: none listed.
  std::function<Result<std::vector<std::string>>()> members;
  int64_t started_unix_ms = 0;
};

class InfoService final : public v1::HubInfo::Service {
 public:
  InfoService(RepoStore* repos, InfoOptions o) : repos_(repos), o_(std::move(o)) {}
  grpc::Status Info(grpc::ServerContext*, const v1::HubInfoRequest*, v1::HubInfoResponse*) override;

 private:
  RepoStore* repos_;
  InfoOptions o_;
};

}  // namespace skyport::hub
