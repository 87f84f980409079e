#include "registry/migrate.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "core/config.h"
#include "core/exclusive.h"
#include "registry/etcd_keys.h"
#include "registry/etcd_plans.h"
#include "registry/migrate_data.h"
#include "registry/store.h"
#include "rpc/etcd_client.h"
#include "rpc/etcd_endpoints.h"
#include "rpc/etcd_options.h"

namespace skyport::registry {
namespace {

// One side of the migration.
class Side {
 public:
  virtual ~Side() = default;
  virtual Result<MigrationData> Read() = 0;
  virtual Result<size_t> CountExisting() = 0;  // registry records already there
  virtual Status Clear() = 0;
  virtual Status Write(const MigrationData& d) = 0;
  std::string name;
};

class SqliteSide final : public Side {
 public:
  static Result<std::unique_ptr<SqliteSide>> Open(const std::string& dir) {
    auto lock = DataDirLock::Acquire(dir);  // no registry may run on it meanwhile
    if (!lock.ok()) return lock.status();
    auto side = std::make_unique<SqliteSide>();
    side->dir_ = dir;
    side->lock_ = std::move(*lock);
    side->name = "sqlite:" + dir;
    return side;
  }
  Result<MigrationData> Read() override {
    auto store = Store::Open(dir_);
    if (!store.ok()) return store.status();
    auto p = (*store)->Load(1);
    if (!p.ok()) return p.status();
    return Normalize(*p);
  }
  Result<size_t> CountExisting() override {
    if (!std::filesystem::exists(dir_ + "/registry.db")) return size_t{0};
    auto d = Read();
    if (!d.ok()) return d.status();
    return d->size() + (d->revision > 0 ? 1 : 0);
  }
  Status Clear() override {
    std::error_code ec;
    for (const char* f : {"/registry.db", "/registry.db-wal", "/registry.db-shm"})
      if (std::filesystem::remove(dir_ + f, ec); ec)
        return Status::Internal(fmt::format("remove {}{}: {}", dir_, f, ec.message()));
    return Status::Ok();
  }
  Status Write(const MigrationData& d) override {
    auto store = Store::Open(dir_);
    if (!store.ok()) return store.status();
    Persisted p;
    p.revision = d.revision;
    for (const auto& [id, ttl] : d.leases) p.leases.emplace_back(id, ttl);
    for (const auto& [k, a] : d.allocations) p.allocations.push_back(a);
    for (const auto& [id, ep] : d.endpoints) p.endpoints.push_back(ep);
    for (const auto& [app, r] : d.routes) p.routes.push_back(r);
    StateOptions so;
    so.port_lo = 1;
    so.port_hi = 65535;
    RegistryState st(so);
    st.Restore(std::move(p), 0, 0);
    Changes ch, answering;  // every record: the store writes each one's current value
    for (const auto& [id, ttl] : d.leases) ch.leases.insert(id);
    for (const auto& [k, a] : d.allocations) (d.answering.count(k) ? answering : ch).allocations.insert(k);
    for (const auto& [id, ep] : d.endpoints) ch.endpoints.insert(id);
    for (const auto& [app, r] : d.routes) ch.routes.insert(app);
    // The rows that answer a retried Allocate go last: the store lists its
    // rows in the order they were written.
    if (Status s = (*store)->Commit(ch, st); !s.ok()) return s;
    return (*store)->Commit(answering, st);
  }

 private:
  std::string dir_;
  std::unique_ptr<DataDirLock> lock_;
};

class EtcdSide final : public Side {
 public:
  static Result<std::unique_ptr<EtcdSide>> Open(const std::string& urls, EtcdFlags flags) {
    flags.endpoints = urls;
    auto settings = etcd::SettingsFromFlags(flags, ProcessEnv());
    if (!settings.ok()) return settings.status();
    auto client = etcd::Client::Create(settings->options);
    if (!client.ok()) return client.status();
    auto side = std::make_unique<EtcdSide>(std::move(*client), settings->prefix);
    side->name = "etcd:" + urls;
    return side;
  }
  EtcdSide(std::shared_ptr<etcd::Client> c, const std::string& prefix) : client_(std::move(c)), keys_(prefix) {}

  Result<MigrationData> Read() override {
    Persisted p;
    std::map<PortKey, std::string> indexed;  // the allocations identity indexes name, as they name them
    const std::string end = etcd::PrefixEnd(keys_.root());
    std::string from = keys_.root();
    for (;;) {
      etcdserverpb::RangeRequest r;
      r.set_key(from);
      r.set_range_end(end);
      r.set_limit(2000);
      r.set_revision(p.revision);
      auto got = client_->RangeSync(r);
      if (!got.ok()) return got.status();
      if (p.revision == 0) p.revision = got->header().revision();
      for (const auto& kv : got->kvs()) {
        switch (keys_.Parse(kv.key()).kind) {
          case KeyKind::kLease: {
            auto l = DecodeLease(keys_, kv);
            if (!l.ok()) return l.status();
            p.leases.emplace_back(l->lease_id(), l->ttl_seconds());
            break;
          }
          case KeyKind::kEndpoint: {
            auto ep = DecodeEndpoint(keys_, kv);
            if (!ep.ok()) return ep.status();
            p.endpoints.push_back(std::move(*ep));
            break;
          }
          case KeyKind::kPort: {
            auto a = DecodeAllocation(keys_, kv);
            if (!a.ok()) return a.status();
            p.allocations.push_back(std::move(*a));
            break;
          }
          case KeyKind::kRoute: {
            auto rc = DecodeRoute(keys_, kv);
            if (!rc.ok()) return rc.status();
            p.routes.push_back(std::move(*rc));
            break;
          }
          case KeyKind::kUnregistered: {
            // Derived data: which allocation answers its identity (listed
            // last below); one that does not decode names none.
            if (auto a = DecodeUnregistered(keys_, kv); a.ok()) indexed[{a->host, a->port}] = EncodeAllocation(*a);
            break;
          }
          case KeyKind::kOther:
            return Status::DataLoss(fmt::format("etcd: key \"{}\" is not one of the registry's", kv.key()));
        }
      }
      if (!got->more() || got->kvs().empty()) break;
      from = got->kvs(got->kvs_size() - 1).key() + std::string(1, '\0');
    }
    std::stable_partition(p.allocations.begin(), p.allocations.end(), [&](const Allocation& a) {
      auto it = indexed.find({a.host, a.port});
      return it == indexed.end() || it->second != EncodeAllocation(a);
    });
    return Normalize(p);
  }
  Result<size_t> CountExisting() override {
    etcdserverpb::RangeRequest r = RangePrefix(keys_.root(), 0, 0);
    r.set_count_only(true);
    auto got = client_->RangeSync(r);
    if (!got.ok()) return got.status();
    return static_cast<size_t>(got->count());
  }
  Status Clear() override {
    // Revoking the leases drops what they hold; then the rest (routes).
    etcdserverpb::RangeRequest r = RangePrefix(keys_.LeasePrefix(), 0, 0);
    r.set_keys_only(true);
    auto got = client_->RangeSync(r);
    if (!got.ok()) return got.status();
    for (const auto& kv : got->kvs()) {
      etcdserverpb::LeaseRevokeRequest rv;
      rv.set_id(static_cast<int64_t>(keys_.Parse(kv.key()).id));
      if (auto s = client_->LeaseRevokeSync(rv); !s.ok() && s.status().code() != Code::kNotFound) return s.status();
    }
    etcdserverpb::DeleteRangeRequest d;
    d.set_key(keys_.root());
    d.set_range_end(etcd::PrefixEnd(keys_.root()));
    return client_->DeleteRangeSync(d).status();
  }
  Status Write(const MigrationData& d) override {
    etcdserverpb::TxnRequest batch;
    auto put = [&](const std::string& key, std::string value, uint64_t lease) -> Status {
      auto* p = batch.add_success()->mutable_request_put();
      p->set_key(key);
      p->set_value(std::move(value));
      p->set_lease(static_cast<int64_t>(lease));
      return batch.success_size() >= 100 ? Flush(batch) : Status::Ok();
    };
    for (const auto& [id, ttl] : d.leases) {
      if (id > kMaxId) return Status::InvalidArgument(fmt::format("lease {}: id above 2^53", id));
      etcdserverpb::LeaseGrantRequest g;
      g.set_id(static_cast<int64_t>(id));
      g.set_ttl(EtcdTtl(ttl));
      if (auto s = client_->LeaseGrantSync(g); !s.ok()) return s.status();
      if (Status s = put(keys_.Lease(id), EncodeLease(id, ttl), id); !s.ok()) return s;
    }
    for (const auto& [k, a] : d.allocations) {
      if (Status s = put(keys_.Port(a.host, a.port), EncodeAllocation(a), a.lease_id); !s.ok()) return s;
      if (!d.answering.count(k)) continue;  // one per identity: no key twice in a batch
      if (Status s = put(keys_.Unregistered(a), EncodeAllocation(a), a.lease_id); !s.ok()) return s;
    }
    for (const auto& [id, ep] : d.endpoints) {
      if (id > kMaxId) return Status::InvalidArgument(fmt::format("endpoint {}: id above 2^53", id));
      if (Status s = put(keys_.Endpoint(id), EncodeEndpoint(ep), ep.lease_id()); !s.ok()) return s;
    }
    for (const auto& [app, r] : d.routes)
      if (Status s = put(keys_.Route(app), EncodeRoute(r), 0); !s.ok()) return s;
    return Flush(batch);
  }

 private:
  Status Flush(etcdserverpb::TxnRequest& batch) {
    if (batch.success_size() == 0) return Status::Ok();
    auto r = client_->TxnSync(batch);
    batch.Clear();
    return r.status();
  }
  std::shared_ptr<etcd::Client> client_;
  EtcdKeys keys_;
};

Result<std::unique_ptr<Side>> OpenSide(const std::string& spec, const MigrateOptions& o) {
  if (spec.rfind("sqlite:", 0) == 0 && spec.size() > 7) {
    auto s = SqliteSide::Open(spec.substr(7));
    if (!s.ok()) return s.status();
    return std::unique_ptr<Side>(std::move(*s));
  }
  if (spec.rfind("etcd:", 0) == 0 && spec.size() > 5) {
    auto s = EtcdSide::Open(spec.substr(5), o.etcd);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Side>(std::move(*s));
  }
  return Status::InvalidArgument(fmt::format("\"{}\" is not sqlite:DIR or etcd:URL[,URL...]", spec));
}

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "skyport-registry migrate: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int RunMigrate(const MigrateOptions& o) {
  const bool from_sqlite = o.from.rfind("sqlite:", 0) == 0, to_sqlite = o.to.rfind("sqlite:", 0) == 0;
  if (from_sqlite == to_sqlite) {
    std::fprintf(stderr, "skyport-registry migrate: --from and --to must be one sqlite:DIR and one etcd:URLS\n");
    return 2;
  }
  auto src = OpenSide(o.from, o);
  if (!src.ok()) return Fail("--from", src.status());
  auto dst = OpenSide(o.to, o);
  if (!dst.ok()) return Fail("--to", dst.status());
  auto data = (*src)->Read();
  if (!data.ok()) return Fail("read " + (*src)->name, data.status());
  auto existing = (*dst)->CountExisting();
  if (!existing.ok()) return Fail("read " + (*dst)->name, existing.status());
  if (*existing > 0) {
    if (!o.force) {
      std::fprintf(stderr,
                   "skyport-registry migrate: %s already holds registry data (%zu records); nothing written "
                   "(--force replaces it)\n",
                   (*dst)->name.c_str(), *existing);
      return 1;
    }
    if (Status s = (*dst)->Clear(); !s.ok()) return Fail("clear " + (*dst)->name, s);
  }
  if (Status s = (*dst)->Write(*data); !s.ok()) return Fail("write " + (*dst)->name, s);
  auto back = (*dst)->Read();
  if (!back.ok()) return Fail("read back " + (*dst)->name, back.status());
  if (std::string diff = FirstDifference(*data, *back); !diff.empty()) {
    std::fprintf(stderr, "skyport-registry migrate: %s differs from %s after the copy: %s\n", (*dst)->name.c_str(),
                 (*src)->name.c_str(), diff.c_str());
    return 1;
  }
  std::printf("migrated %zu leases, %zu allocations, %zu endpoints, %zu routes from %s to %s; read back: equal\n",
              data->leases.size(), data->allocations.size(), data->endpoints.size(), data->routes.size(),
              (*src)->name.c_str(), (*dst)->name.c_str());
  return 0;
}

}  // namespace skyport::registry
