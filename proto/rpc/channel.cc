#include "rpc/channel.h"

#include <fstream>
#include <sstream>

#include "core/exclusive.h"

namespace skyport::rpc {

Result<std::string> ReadPem(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(what + ": cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& tls) {
  if (tls.cert.empty()) return grpc::InsecureServerCredentials();
  auto cert = ReadPem("tls-cert", tls.cert);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("tls-key", tls.key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions opts;
  opts.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.ca.empty()) {
    auto ca = ReadPem("tls-ca", tls.ca);
    if (!ca.ok()) return ca.status();
    opts.pem_root_certs = *ca;
    opts.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(opts);
}

void ConfigureServer(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
}

Status ListenFailure(const std::string& address) {
  if (Status s = ProbeListen(address); !s.ok()) return s;
  return Status::Unavailable("cannot listen on " + address + " (see the gRPC error above)");
}

Result<StartedServer> StartServer(const std::string& listen, const std::shared_ptr<grpc::ServerCredentials>& creds,
                                  std::initializer_list<grpc::Service*> services, int max_receive_bytes,
                                  int max_send_bytes) {
  if (Status s = ProbeListen(listen); !s.ok()) return s;
  grpc::ServerBuilder builder;
  StartedServer out;
  builder.AddListeningPort(listen, creds, &out.port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(max_receive_bytes);
  if (max_send_bytes >= 0) builder.SetMaxSendMessageSize(max_send_bytes);
  ConfigureServer(builder);
  out.server = builder.BuildAndStart();
  if (!out.server || out.port == 0) return ListenFailure(listen);
  return out;
}

grpc::ChannelArguments ReconnectingChannelArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC's defaults (1 s initial, 120 s max, 20 s connect timeout, 30 s
  // between DNS resolutions) would leave a daemon blind for up to two
  // minutes after its peer is back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);  // gRPC's name for the connect timeout
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, kMinResolveIntervalMs);
  return args;
}

Result<std::shared_ptr<grpc::Channel>> Dial(const std::string& target, const TlsFiles& tls, int max_receive_bytes) {
  grpc::ChannelArguments args = ReconnectingChannelArguments();
  if (max_receive_bytes > 0) args.SetMaxReceiveMessageSize(max_receive_bytes);
  if (tls.ca.empty()) return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions opts;
  auto ca = ReadPem("tls-ca", tls.ca);
  if (!ca.ok()) return ca.status();
  opts.pem_root_certs = *ca;
  if (!tls.cert.empty()) {
    auto cert = ReadPem("tls-cert", tls.cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("tls-key", tls.key);
    if (!key.ok()) return key.status();
    opts.pem_cert_chain = *cert;
    opts.pem_private_key = *key;
  }
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(opts), args);
}

}  // namespace skyport::rpc
