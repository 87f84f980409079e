#include "registry/sqlite_backend.h"

#include <optional>

#include "registry/metrics.h"

namespace skyport::registry {
namespace {

std::optional<int64_t> Expected(bool has, int64_t v) { return has ? std::optional<int64_t>(v) : std::nullopt; }

}  // namespace

void SqliteBackend::Grant(const v1::GrantRequest& req, v1::GrantResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now& now) {
        auto r = st.Grant(req.ttl_seconds(), now.mono_ms, ch);
        if (r.ok()) *resp = *r;
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::KeepAlive(const v1::KeepAliveRequest& req, v1::KeepAliveResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes&, const Now& now) {
        auto r = st.KeepAlive(req.lease_id(), now.mono_ms);
        if (r.ok()) resp->set_ttl_seconds(*r);
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::Revoke(const v1::RevokeRequest& req, v1::RevokeResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now&) {
        auto r = st.Revoke(req.lease_id(), ch);
        if (r.ok()) {
          resp->set_removed(*r);
          resp->set_revision(st.revision());
        }
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::Allocate(const v1::AllocateRequest& req, v1::AllocateResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now& now) {
        auto r = st.Allocate(req, now.random, ch);
        if (r.ok()) {
          resp->set_port(*r);
          resp->set_revision(st.revision());
        }
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::ReleasePort(const v1::ReleasePortRequest& req, v1::ReleasePortResponse*, Done done) {
  owner_->Submit(
      [&req](RegistryState& st, Changes& ch, const Now&) {
        return st.ReleasePort(req.host(), req.port(), req.lease_id(), ch);
      },
      std::move(done));
}

void SqliteBackend::Register(const v1::RegisterRequest& req, v1::RegisterResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now& now) {
        auto r = st.Register(req.endpoint(), now.wall_ms, ch);
        if (r.ok()) {
          resp->set_id(*r);
          resp->set_revision(st.revision());
        }
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::Deregister(const v1::DeregisterRequest& req, v1::DeregisterResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now&) {
        Status s = st.Deregister(req.id(), ch);
        if (s.ok()) resp->set_revision(st.revision());
        return s;
      },
      std::move(done));
}

void SqliteBackend::Query(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes&, const Now&) {
        auto r = st.Query(req.app(), req.commit_prefix(), req.role(), req.lease_id());
        if (!r.ok()) return r.status();
        for (auto& ep : *r) *resp->add_endpoints() = std::move(ep);
        resp->set_revision(st.revision());
        return Status::Ok();
      },
      std::move(done));
}

void SqliteBackend::Show(const v1::ShowRequest&, v1::ShowResponse* resp, Done done) {
  owner_->Submit(
      [resp](RegistryState& st, Changes&, const Now&) {
        auto r = st.Query("", "", "");
        for (auto& ep : *r) *resp->add_endpoints() = std::move(ep);
        for (const auto& [app, route] : st.routes()) *resp->add_routes() = route;
        resp->set_revision(st.revision());
        return Status::Ok();
      },
      std::move(done));
}

void SqliteBackend::GetRoute(const v1::GetRouteRequest& req, v1::RouteConfig* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes&, const Now&) {
        auto r = st.GetRoute(req.app());
        if (r.ok()) *resp = *r;
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::PutRoute(const v1::PutRouteRequest& req, v1::PutRouteResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now&) {
        auto r = st.PutRoute(req.route(), Expected(req.has_expected_revision(), req.expected_revision()), ch);
        if (r.ok()) resp->set_revision(*r);
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::DeleteRoute(const v1::DeleteRouteRequest& req, v1::DeleteRouteResponse* resp, Done done) {
  owner_->Submit(
      [&req, resp](RegistryState& st, Changes& ch, const Now&) {
        auto r = st.DeleteRoute(req.app(), Expected(req.has_expected_revision(), req.expected_revision()), ch);
        if (r.ok()) resp->set_revision(*r);
        return r.status();
      },
      std::move(done));
}

void SqliteBackend::Watch(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app) {
  owner_->AddWatcher(std::move(sink), from_revision, std::move(app));
}

std::string SqliteBackend::Metrics() const { return RenderMetrics(owner_->Stats()); }

}  // namespace skyport::registry
