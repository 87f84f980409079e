// Channels and server credentials, plain or TLS.
#pragma once

#include <grpcpp/grpcpp.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "core/daemon.h"
#include "core/status.h"

namespace skyport::rpc {

using TlsFiles = skyport::TlsFiles;  // PEM paths, see core/daemon.h

// TLS when `tls.cert` is set, else insecure (for loopback and private nets).
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& tls);
// Server settings every daemon shares: keepalive pings both ways, so dead
// peers (a drone, a watcher) are noticed and clients' pings are welcome; and
// no SO_REUSEPORT (gRPC's default), so that a second daemon cannot listen
// beside the first on the same address (core/exclusive.h).
void ConfigureServer(grpc::ServerBuilder& builder);
// Why BuildAndStart could not listen on `address`: "address … is in use
// (another skyport-hub?)" when it is taken, else the bind error.
Status ListenFailure(const std::string& address);
// One daemon's gRPC server: the twin-family probe (core/exclusive.h
// ProbeListen: gRPC binds only what it is given), `services`, the message size
// limits and ConfigureServer. The started server and its bound port, or why it
// could not listen.
struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};
Result<StartedServer> StartServer(const std::string& listen, const std::shared_ptr<grpc::ServerCredentials>& creds,
                                  std::initializer_list<grpc::Service*> services, int max_receive_bytes,
                                  int max_send_bytes = -1);
// TLS when `tls.ca` is set, else insecure. The channel reconnects by itself
// with a bounded backoff (kMaxReconnectBackoffMs, +-20 % jitter; each
// attempt gives up after kConnectTimeoutMs; names are resolved again at most
// every kMinResolveIntervalMs), so that a peer back after an outage of any
// length is reached again within a second. `max_receive_bytes` > 0 raises
// gRPC's 4 MiB limit on one received message (a Watch delta carries a whole
// revision: revoking a lease that holds 100k entries is one ~10 MB message).
Result<std::shared_ptr<grpc::Channel>> Dial(const std::string& target, const TlsFiles& tls,
                                            int max_receive_bytes = 0);
// What a registry client takes in one message: the registry sends one
// revision in one Watch message and `Show` whole, and a lease revoked with
// its 100k entries is ~10 MB. 256 MiB: about 2.5 million entries.
inline constexpr int kMaxRegistryMessageBytes = 256 << 20;
// The channel arguments Dial uses (keepalive pings, the bounded reconnect
// backoff above), for channels that add their own (the etcd client).
grpc::ChannelArguments ReconnectingChannelArguments();
// A PEM file's contents; `what` names the flag in the error.
Result<std::string> ReadPem(const std::string& what, const std::string& path);
inline constexpr int kInitialReconnectBackoffMs = 100;
inline constexpr int kMaxReconnectBackoffMs = 500;
inline constexpr int kConnectTimeoutMs = 1000;
inline constexpr int kMinResolveIntervalMs = 1000;

}  // namespace skyport::rpc
