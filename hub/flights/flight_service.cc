#include "hub/flights/flight_service.h"

#include "core/names.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::hub {
namespace {

constexpr size_t kMaxSpecBytes = 1 << 20;

template <class T>
grpc::Status Fill(Result<T> r, T* out) {
  if (!r.ok()) return rpc::ToGrpc(r.status());
  *out = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status FlightService::Admit(grpc::ServerContext& ctx, ControlTower*& tower) const {
  if (auto s = rpc::CheckToken(ctx, token_); !s.ok()) return s;
  if (auto standby = StandbyCheck(gate_, ctx)) return *standby;
  tower = tower_.load();
  if (tower == nullptr) return {grpc::StatusCode::UNAVAILABLE, "the flight tower is not running yet"};
  return grpc::Status::OK;
}

grpc::Status FlightService::Start(grpc::ServerContext* ctx, const v1::FlightStartRequest* req, v1::FlightStatus* resp) {
  ControlTower* tower = nullptr;
  if (auto s = Admit(*ctx, tower); !s.ok()) return s;
  if (req->spec_json().size() > kMaxSpecBytes)
    return {grpc::StatusCode::INVALID_ARGUMENT, "spec: larger than 1 MiB"};
  return Fill(tower->Start(req->spec_json()), resp);
}

grpc::Status FlightService::Kill(grpc::ServerContext* ctx, const v1::FlightKillRequest* req, v1::FlightStatus* resp) {
  ControlTower* tower = nullptr;
  if (auto s = Admit(*ctx, tower); !s.ok()) return s;
  if (skyport::Status s = ValidateName("name", req->name()); !s.ok()) return rpc::ToGrpc(s);
  if (req->reason().size() > 1024) return {grpc::StatusCode::INVALID_ARGUMENT, "reason: longer than 1024 bytes"};
  return Fill(tower->Kill(req->name(), req->reason()), resp);
}

grpc::Status FlightService::List(grpc::ServerContext* ctx, const v1::FlightListRequest* req,
                                 v1::FlightListResponse* resp) {
  ControlTower* tower = nullptr;
  if (auto s = Admit(*ctx, tower); !s.ok()) return s;
  for (auto& f : tower->List(req->all())) *resp->add_flights() = std::move(f);
  return grpc::Status::OK;
}

grpc::Status FlightService::Status(grpc::ServerContext* ctx, const v1::FlightStatusRequest* req,
                                   v1::FlightStatus* resp) {
  ControlTower* tower = nullptr;
  if (auto s = Admit(*ctx, tower); !s.ok()) return s;
  if (skyport::Status s = ValidateName("name", req->name()); !s.ok()) return rpc::ToGrpc(s);
  return Fill(tower->Get(req->name()), resp);
}

grpc::Status FlightService::Log(grpc::ServerContext* ctx, const v1::FlightLogRequest* req, v1::FlightLogResponse* resp) {
  ControlTower* tower = nullptr;
  if (auto s = Admit(*ctx, tower); !s.ok()) return s;
  if (skyport::Status s = ValidateName("name", req->name()); !s.ok()) return rpc::ToGrpc(s);
  auto log = tower->Log(req->name());
  if (!log.ok()) return rpc::ToGrpc(log.status());
  for (auto& e : log->entries) *resp->add_entries() = std::move(e);
  resp->set_older_left_out(log->older_left_out);
  return grpc::Status::OK;
}

}  // namespace skyport::hub
