#include "hub/peer/peer_stubs.h"

#include "rpc/channel.h"

namespace skyport::hub::peer {

Result<std::shared_ptr<v1::HubPeer::Stub>> PeerStubs::Get(const std::string& address) {
  std::lock_guard lock(mu_);
  if (auto it = stubs_.find(address); it != stubs_.end()) return it->second;
  auto channel = rpc::Dial(address, tls_, kMaxPeerMessageBytes);
  if (!channel.ok()) return channel.status();
  if (stubs_.size() >= kMaxPeerChannels) stubs_.clear();  // hubs come and go rarely; start over
  auto stub = std::shared_ptr<v1::HubPeer::Stub>(v1::HubPeer::NewStub(*channel));
  stubs_[address] = stub;
  return stub;
}

}  // namespace skyport::hub::peer
