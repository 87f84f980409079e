// Channels and server credentials, plain or TLS.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "core/daemon.h"
#include "core/status.h"

namespace skyport::rpc {

using TlsFiles = skyport::TlsFiles;  // PEM paths, see core/daemon.h

// TLS when `tls.cert` is set, else insecure (for loopback and private nets).
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& tls);
// Server settings every daemon shares: keepalive pings both ways, so dead
// peers (a drone, a watcher) are noticed and clients' pings are welcome.
void ConfigureServer(grpc::ServerBuilder& builder);
// TLS when `tls.ca` is set, else insecure.
Result<std::shared_ptr<grpc::Channel>> Dial(const std::string& target, const TlsFiles& tls);

}  // namespace skyport::rpc
