#include "cli/hub_client.h"

#include <chrono>

#include <fmt/format.h>

#include "rpc/call.h"
#include "rpc/failover.h"
#include "skyport/v1/hub.grpc.pb.h"
#include "skyport/v1/router.grpc.pb.h"

namespace skyport::cli {

struct HubClient::Impl {
  std::string token;
  std::shared_ptr<rpc::AddressPool> pool;
  int64_t connect_timeout_ms = 0;  // the --timeout: how long a write waits for each hub's connection

  std::mutex mu;
  grpc::ClientContext* active = nullptr;  // the streaming call Cancel() reaches
  bool cancelled = false;

  // One unary call over the address list, following the leader (rpc/leader.h).
  template <class Resp, class StubOf, class Method, class Req>
  Result<Resp> Unary(StubOf stub_of, Method method, const Req& req, int64_t timeout_ms, rpc::Retry retry,
                     std::string& by) {
    Resp resp;
    rpc::FailoverOptions fo{timeout_ms, false, retry};
    fo.connect_timeout_ms = connect_timeout_ms;  // for Stop, which has no deadline
    auto answer = rpc::CallWithFailover(*pool, token, fo,
                                        [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
                                          resp.Clear();
                                          auto stub = stub_of(ch);
                                          return ((*stub).*method)(&ctx, req, &resp);
                                        });
    by = answer.by;
    if (!answer.status.ok()) return answer.status;
    return resp;
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

  // Reads a server stream to its end (rpc::ReadStream); `started` once a
  // message came.
  template <class Msg, class Reader, class OnMessage>
  grpc::Status Drain(grpc::ClientContext& ctx, Reader& reader, bool& started, OnMessage&& on_message) {
    grpc::Status s = rpc::ReadStream<Msg>(ctx, *reader, [&](const Msg& msg) {
      started = true;
      return on_message(msg);
    });
    Deactivate();
    return s;
  }

  // One server-streaming Hub call over the address list: `by` names the hub
  // answering before `on_message` sees its first message; false from it ends
  // the stream.
  template <class Msg, class Method, class Req, class OnMessage>
  Status Stream(Method method, const Req& req, const rpc::FailoverOptions& fo, std::string& by,
                OnMessage&& on_message) {
    auto answer = rpc::StreamWithFailover(
        *pool, token, fo,
        [&](const std::string& address, const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx,
            bool& started) {
          if (!Activate(&ctx)) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
          auto stub = v1::Hub::NewStub(ch);
          auto reader = ((*stub).*method)(&ctx, req);
          return Drain<Msg>(ctx, reader, started, [&](const Msg& msg) {
            by = address;
            return on_message(msg);
          });
        });
    by = answer.by;
    return answer.status;
  }
};

namespace {

auto HubStub = [](const std::shared_ptr<grpc::Channel>& ch) { return v1::Hub::NewStub(ch); };
auto FlightsStub = [](const std::shared_ptr<grpc::Channel>& ch) { return v1::Flights::NewStub(ch); };
auto StatsStub = [](const std::shared_ptr<grpc::Channel>& ch) { return v1::StatsSink::NewStub(ch); };
auto AppsStub = [](const std::shared_ptr<grpc::Channel>& ch) { return v1::Apps::NewStub(ch); };

}  // namespace

HubClient::HubClient(std::unique_ptr<Impl> impl, std::string target, int64_t timeout_ms)
    : impl_(std::move(impl)), target_(std::move(target)), timeout_ms_(timeout_ms) {}
HubClient::~HubClient() = default;

Result<std::unique_ptr<HubClient>> HubClient::Connect(const ConnectOptions& opts) {
  auto pool = rpc::AddressPool::Create("hub", opts.target, opts.tls, /*log_changes=*/false);
  if (!pool.ok()) return pool.status();
  auto impl = std::make_unique<Impl>();
  impl->token = opts.token;
  impl->pool = *pool;
  impl->connect_timeout_ms = opts.timeout_ms;
  return std::unique_ptr<HubClient>(new HubClient(std::move(impl), opts.target, opts.timeout_ms));
}

Status HubClient::WaitConnected() {
  // With a list, each call connects to its address first (rpc/failover.h),
  // bounded by the same timeout.
  if (impl_->pool->listed_count() > 1) return Status::Ok();
  auto channel = impl_->pool->Channel(target_);
  if (!channel.ok()) return channel.status();
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms_);
  if ((*channel)->WaitForConnected(deadline)) return Status::Ok();
  return Status::Unavailable(fmt::format("no connection to {} within {:g} s", target_, timeout_ms_ / 1000.0));
}

Status HubClient::Deploy(const v1::DeployRequest& req,
                         const std::function<void(const v1::DeployProgress&)>& on_progress) {
  rpc::FailoverOptions fo{0, false, rpc::Retry::kIfUnsent};
  fo.connect_timeout_ms = impl_->connect_timeout_ms;
  return impl_->Stream<v1::DeployProgress>(&v1::Hub::Stub::Deploy, req, fo, answered_by_,
                                           [&](const v1::DeployProgress& p) {
                                             on_progress(p);
                                             return true;
                                           });
}

Result<v1::StopResponse> HubClient::Stop(const v1::StopRequest& req) {
  return impl_->Unary<v1::StopResponse>(HubStub, &v1::Hub::Stub::Stop, req, 0, rpc::Retry::kIfUnsent,
                                        answered_by_);
}

Result<v1::PsResponse> HubClient::Ps(const std::string& app) {
  v1::PsRequest req;
  req.set_app(app);
  return impl_->Unary<v1::PsResponse>(HubStub, &v1::Hub::Stub::Ps, req, timeout_ms_, rpc::Retry::kSafe,
                                      answered_by_);
}

Result<v1::DronesResponse> HubClient::Drones() {
  return impl_->Unary<v1::DronesResponse>(HubStub, &v1::Hub::Stub::Drones, v1::DronesRequest(), timeout_ms_,
                                          rpc::Retry::kSafe, answered_by_);
}

Result<v1::AppSettingsResponse> HubClient::AppSet(const v1::AppSetRequest& req) {
  // Idempotent: setting the same value twice is the same as once.
  return impl_->Unary<v1::AppSettingsResponse>(HubStub, &v1::Hub::Stub::AppSet, req, timeout_ms_, rpc::Retry::kSafe,
                                               answered_by_);
}

Result<v1::StatsReport> HubClient::QueryStats(const v1::StatsQuery& q) {
  return impl_->Unary<v1::StatsReport>(StatsStub, &v1::StatsSink::Stub::Query, q, timeout_ms_, rpc::Retry::kSafe,
                                       answered_by_);
}

Status HubClient::Logs(const v1::LogsRequest& req, const std::function<bool(const v1::LogLine&)>& on_line,
                       int64_t timeout_ms) {
  return impl_->Stream<v1::LogLine>(&v1::Hub::Stub::Logs, req,
                                    rpc::FailoverOptions{timeout_ms, false, rpc::Retry::kSafe}, answered_by_,
                                    on_line);
}

// ---- config vars
Result<v1::AppConfig> HubClient::ConfigGet(const std::string& app, bool reveal) {
  v1::ConfigGetRequest req;
  req.set_app(app);
  req.set_reveal(reveal);
  return impl_->Unary<v1::AppConfig>(HubStub, &v1::Hub::Stub::ConfigGet, req, timeout_ms_, rpc::Retry::kSafe,
                                     answered_by_);
}

Status HubClient::ConfigChange(const v1::ConfigChangeRequest& req,
                               const std::function<void(const v1::ConfigChangeEvent&)>& on_event) {
  rpc::FailoverOptions fo{0, false, rpc::Retry::kIfUnsent};
  fo.connect_timeout_ms = impl_->connect_timeout_ms;
  return impl_->Stream<v1::ConfigChangeEvent>(&v1::Hub::Stub::ConfigChange, req, fo, answered_by_,
                                              [&](const v1::ConfigChangeEvent& e) {
                                                on_event(e);
                                                return true;
                                              });
}

void HubClient::Cancel() {
  std::lock_guard lock(impl_->mu);
  impl_->cancelled = true;
  if (impl_->active) impl_->active->TryCancel();
}

Result<v1::FlightStatus> HubClient::FlightStart(const std::string& spec_json) {
  v1::FlightStartRequest req;
  req.set_spec_json(spec_json);
  return impl_->Unary<v1::FlightStatus>(FlightsStub, &v1::Flights::Stub::Start, req, timeout_ms_,
                                        rpc::Retry::kIfUnsent, answered_by_);
}

Result<v1::FlightStatus> HubClient::FlightKill(const std::string& name, const std::string& reason) {
  v1::FlightKillRequest req;
  req.set_name(name);
  req.set_reason(reason);
  return impl_->Unary<v1::FlightStatus>(FlightsStub, &v1::Flights::Stub::Kill, req, timeout_ms_,
                                        rpc::Retry::kIfUnsent, answered_by_);
}

Result<v1::FlightListResponse> HubClient::FlightList(bool all) {
  v1::FlightListRequest req;
  req.set_all(all);
  return impl_->Unary<v1::FlightListResponse>(FlightsStub, &v1::Flights::Stub::List, req, timeout_ms_,
                                              rpc::Retry::kSafe, answered_by_);
}

Result<v1::FlightStatus> HubClient::FlightStatus(const std::string& name) {
  v1::FlightStatusRequest req;
  req.set_name(name);
  return impl_->Unary<v1::FlightStatus>(FlightsStub, &v1::Flights::Stub::Status, req, timeout_ms_,
                                        rpc::Retry::kSafe, answered_by_);
}

Result<v1::FlightLogResponse> HubClient::FlightLog(const std::string& name) {
  v1::FlightLogRequest req;
  req.set_name(name);
  return impl_->Unary<v1::FlightLogResponse>(FlightsStub, &v1::Flights::Stub::Log, req, timeout_ms_,
                                             rpc::Retry::kSafe, answered_by_);
}

// ---- releases, rollback and the apps overview (issue 16)

Result<v1::ReleasesResponse> HubClient::Releases(const std::string& app) {
  v1::ReleasesRequest req;
  req.set_app(app);
  return impl_->Unary<v1::ReleasesResponse>(AppsStub, &v1::Apps::Stub::Releases, req, timeout_ms_, rpc::Retry::kSafe,
                                            answered_by_);
}

Result<v1::RollbackResponse> HubClient::Rollback(const v1::RollbackRequest& req) {
  return impl_->Unary<v1::RollbackResponse>(AppsStub, &v1::Apps::Stub::Rollback, req, 0, rpc::Retry::kIfUnsent,
                                            answered_by_);
}

Result<v1::AppsResponse> HubClient::Apps() {
  return impl_->Unary<v1::AppsResponse>(AppsStub, &v1::Apps::Stub::List, v1::AppsRequest(), timeout_ms_,
                                        rpc::Retry::kSafe, answered_by_);
}

Result<v1::DestroyResponse> HubClient::Destroy(const v1::DestroyRequest& req) {
  return impl_->Unary<v1::DestroyResponse>(AppsStub, &v1::Apps::Stub::Destroy, req, 0, rpc::Retry::kIfUnsent,
                                           answered_by_);
}

}  // namespace skyport::cli
