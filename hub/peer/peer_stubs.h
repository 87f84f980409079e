// Channels to the other hubs' HubPeer services, one per address, kept while
// the address is in use (at most kMaxPeerChannels; beyond it the oldest go).
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/daemon.h"
#include "core/status.h"
#include "skyport/v1/hub_peer.grpc.pb.h"

namespace skyport::hub::peer {

inline constexpr size_t kMaxPeerChannels = 64;
// One HubPeer message: a Refs reply is at most 8 MiB, a pack chunk 256 KiB.
inline constexpr int kMaxPeerMessageBytes = 16 << 20;
inline constexpr size_t kPeerChunkBytes = 256 * 1024;

class PeerStubs {
 public:
  explicit PeerStubs(TlsFiles tls) : tls_(std::move(tls)) {}
  Result<std::shared_ptr<v1::HubPeer::Stub>> Get(const std::string& address);

 private:
  const TlsFiles tls_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<v1::HubPeer::Stub>> stubs_;  // guarded by mu_
};

}  // namespace skyport::hub::peer
