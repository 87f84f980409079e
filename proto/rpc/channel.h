// Channels and server credentials, plain or TLS.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace skyport::rpc {

struct TlsFiles {
  std::string cert;  // PEM certificate chain (servers; clients for mTLS)
  std::string key;   // PEM private key
  std::string ca;    // PEM roots to verify the peer (clients; servers for mTLS)
};

// TLS when `tls.cert` is set, else insecure (for loopback and private nets).
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& tls);
// TLS when `tls.ca` is set (or `use_tls`), else insecure.
Result<std::shared_ptr<grpc::Channel>> Dial(const std::string& target, const TlsFiles& tls);

}  // namespace skyport::rpc
