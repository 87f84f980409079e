// What the Registry gRPC service asks of the store behind it. Two backends
// keep the same rules and answer with the same statuses: SQLite (one process
// owns the state, sqlite_backend.h) and etcd (the state lives in etcd; any
// number of registries serve it, etcd_backend.h).
//
// Every call is asynchronous: it returns at once and runs `done` exactly once,
// on any thread, when the answer is in `*resp` (or with the error). `req` and
// `resp` belong to the caller and must stay valid until `done` runs; `done`
// must not block. An acknowledged write is durable in the backend.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

// One watcher's outbound queue (implemented by the gRPC stream).
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Queues a message; false once the watcher is gone (it is then dropped).
  virtual bool Push(v1::WatchResponse msg) = 0;
  // Ends the stream with `why` once what is queued is sent (the client
  // resumes from the revision it reached).
  virtual void Close(const Status& why) = 0;
  // False once the watcher is gone (cancelled, cut off or closed).
  virtual bool Open() = 0;
};

class Backend {
 public:
  using Done = std::function<void(const Status&)>;
  virtual ~Backend() = default;

  virtual void Grant(const v1::GrantRequest& req, v1::GrantResponse* resp, Done done) = 0;
  virtual void KeepAlive(const v1::KeepAliveRequest& req, v1::KeepAliveResponse* resp, Done done) = 0;
  virtual void Revoke(const v1::RevokeRequest& req, v1::RevokeResponse* resp, Done done) = 0;
  virtual void Allocate(const v1::AllocateRequest& req, v1::AllocateResponse* resp, Done done) = 0;
  virtual void ReleasePort(const v1::ReleasePortRequest& req, v1::ReleasePortResponse* resp, Done done) = 0;
  // `req.endpoint()` has passed contract::RejectUnknownFields (the service checks).
  virtual void Register(const v1::RegisterRequest& req, v1::RegisterResponse* resp, Done done) = 0;
  virtual void Deregister(const v1::DeregisterRequest& req, v1::DeregisterResponse* resp, Done done) = 0;
  virtual void Query(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done) = 0;
  virtual void Show(const v1::ShowRequest& req, v1::ShowResponse* resp, Done done) = 0;
  virtual void GetRoute(const v1::GetRouteRequest& req, v1::RouteConfig* resp, Done done) = 0;
  virtual void PutRoute(const v1::PutRouteRequest& req, v1::PutRouteResponse* resp, Done done) = 0;
  virtual void DeleteRoute(const v1::DeleteRouteRequest& req, v1::DeleteRouteResponse* resp, Done done) = 0;

  // The watcher gets the events after `from_revision` (first message DELTA
  // with resumed=true), or a chunked snapshot when that is 0, compacted away
  // or ahead of the backend; then every later change to `app` ("" = all), in
  // revision order, until `sink->Push` returns false. `app` and
  // `from_revision` are already validated.
  virtual void Watch(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app) = 0;

  // Which store's revisions Watch counts in (WatchResponse.store_id): equal
  // only between backends that share a history. "" while not known.
  virtual std::string StoreId() const = 0;

  // The backend's counters, Prometheus text (version 0.0.4).
  virtual std::string Metrics() const = 0;
};

}  // namespace skyport::registry
