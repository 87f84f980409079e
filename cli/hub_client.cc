#include "cli/hub_client.h"

#include <chrono>

#include <fmt/format.h>

#include "rpc/call.h"
#include "skyport/v1/hub.grpc.pb.h"
#include "skyport/v1/router.grpc.pb.h"

namespace skyport::cli {

struct HubClient::Impl {
  std::string token;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Hub::Stub> stub;
  std::unique_ptr<v1::StatsSink::Stub> stats_stub;  // same channel
  std::unique_ptr<v1::Flights::Stub> flights_stub;  // same channel

  std::mutex mu;
  grpc::ClientContext* active = nullptr;  // the streaming call Cancel() reaches
  bool cancelled = false;

  void Prepare(grpc::ClientContext& ctx, int64_t timeout_ms) const { rpc::PrepareContext(ctx, token, timeout_ms); }

  template <class Resp, class Req, class Method>
  Result<Resp> Unary(Method method, const Req& req, int64_t timeout_ms) {
    return rpc::UnaryCall<Resp>(*stub, method, req, token, timeout_ms);
  }

  // Makes `ctx` the target of Cancel() while a stream runs; false if Cancel()
  // came first.
  bool Activate(grpc::ClientContext* ctx) {
    std::lock_guard lock(mu);
    active = ctx;
    return !cancelled;
  }
  void Deactivate() {
    std::lock_guard lock(mu);
    active = nullptr;
  }

  // Reads a server stream to its end; `on_message` false cancels it.
  template <class Msg, class Reader, class OnMessage>
  Status Drain(grpc::ClientContext& ctx, Reader& reader, OnMessage&& on_message) {
    Msg msg;
    while (reader->Read(&msg)) {
      if (!on_message(msg)) {
        ctx.TryCancel();
        while (reader->Read(&msg)) {
        }  // Finish needs the stream drained
        break;
      }
    }
    Status s = rpc::FromGrpc(reader->Finish());
    Deactivate();
    return s;
  }
};

HubClient::HubClient(std::unique_ptr<Impl> impl, std::string target, int64_t timeout_ms)
    : impl_(std::move(impl)), target_(std::move(target)), timeout_ms_(timeout_ms) {}
HubClient::~HubClient() = default;

Result<std::unique_ptr<HubClient>> HubClient::Connect(const ConnectOptions& opts) {
  auto channel = rpc::Dial(opts.target, opts.tls);
  if (!channel.ok()) return channel.status();
  auto impl = std::make_unique<Impl>();
  impl->token = opts.token;
  impl->channel = *channel;
  impl->stub = v1::Hub::NewStub(*channel);
  impl->stats_stub = v1::StatsSink::NewStub(*channel);
  impl->flights_stub = v1::Flights::NewStub(*channel);
  return std::unique_ptr<HubClient>(new HubClient(std::move(impl), opts.target, opts.timeout_ms));
}

Status HubClient::WaitConnected() {
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms_);
  if (impl_->channel->WaitForConnected(deadline)) return Status::Ok();
  return Status::Unavailable(fmt::format("no connection to {} within {:g} s", target_, timeout_ms_ / 1000.0));
}

Status HubClient::Deploy(const v1::DeployRequest& req,
                         const std::function<void(const v1::DeployProgress&)>& on_progress) {
  grpc::ClientContext ctx;
  impl_->Prepare(ctx, 0);
  if (!impl_->Activate(&ctx)) return Status(Code::kCancelled, "cancelled");
  auto reader = impl_->stub->Deploy(&ctx, req);
  return impl_->Drain<v1::DeployProgress>(ctx, reader, [&](const v1::DeployProgress& p) {
    on_progress(p);
    return true;
  });
}

Result<v1::StopResponse> HubClient::Stop(const v1::StopRequest& req) {
  return impl_->Unary<v1::StopResponse>(&v1::Hub::Stub::Stop, req, 0);
}

Result<v1::PsResponse> HubClient::Ps(const std::string& app) {
  v1::PsRequest req;
  req.set_app(app);
  return impl_->Unary<v1::PsResponse>(&v1::Hub::Stub::Ps, req, timeout_ms_);
}

Result<v1::DronesResponse> HubClient::Drones() {
  return impl_->Unary<v1::DronesResponse>(&v1::Hub::Stub::Drones, v1::DronesRequest(), timeout_ms_);
}

Result<v1::StatsReport> HubClient::QueryStats(const v1::StatsQuery& q) {
  return rpc::UnaryCall<v1::StatsReport>(*impl_->stats_stub, &v1::StatsSink::Stub::Query, q, impl_->token,
                                         timeout_ms_);
}

Status HubClient::Logs(const v1::LogsRequest& req, const std::function<bool(const v1::LogLine&)>& on_line,
                       int64_t timeout_ms) {
  grpc::ClientContext ctx;
  impl_->Prepare(ctx, timeout_ms);
  if (!impl_->Activate(&ctx)) return Status(Code::kCancelled, "cancelled");
  auto reader = impl_->stub->Logs(&ctx, req);
  return impl_->Drain<v1::LogLine>(ctx, reader, on_line);
}

void HubClient::Cancel() {
  std::lock_guard lock(impl_->mu);
  impl_->cancelled = true;
  if (impl_->active) impl_->active->TryCancel();
}

Result<v1::FlightStatus> HubClient::FlightStart(const std::string& spec_json) {
  v1::FlightStartRequest req;
  req.set_spec_json(spec_json);
  return rpc::UnaryCall<v1::FlightStatus>(*impl_->flights_stub, &v1::Flights::Stub::Start, req, impl_->token,
                                          timeout_ms_);
}

Result<v1::FlightStatus> HubClient::FlightKill(const std::string& name, const std::string& reason) {
  v1::FlightKillRequest req;
  req.set_name(name);
  req.set_reason(reason);
  return rpc::UnaryCall<v1::FlightStatus>(*impl_->flights_stub, &v1::Flights::Stub::Kill, req, impl_->token,
                                          timeout_ms_);
}

Result<v1::FlightListResponse> HubClient::FlightList(bool all) {
  v1::FlightListRequest req;
  req.set_all(all);
  return rpc::UnaryCall<v1::FlightListResponse>(*impl_->flights_stub, &v1::Flights::Stub::List, req, impl_->token,
                                                timeout_ms_);
}

Result<v1::FlightStatus> HubClient::FlightStatus(const std::string& name) {
  v1::FlightStatusRequest req;
  req.set_name(name);
  return rpc::UnaryCall<v1::FlightStatus>(*impl_->flights_stub, &v1::Flights::Stub::Status, req, impl_->token,
                                          timeout_ms_);
}

Result<v1::FlightLogResponse> HubClient::FlightLog(const std::string& name) {
  v1::FlightLogRequest req;
  req.set_name(name);
  return rpc::UnaryCall<v1::FlightLogResponse>(*impl_->flights_stub, &v1::Flights::Stub::Log, req, impl_->token,
                                               timeout_ms_);
}

}  // namespace skyport::cli
