#include "registry/daemon.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <optional>


#include <fmt/format.h>

#include "core/config.h"
#include "core/exclusive.h"
#include "core/files.h"
#include "core/http_admin.h"
#include "core/log.h"
#include "registry/etcd_backend.h"
#include "registry/service.h"
#include "registry/sqlite_backend.h"
#include "rpc/channel.h"
#include "rpc/etcd_options.h"

namespace skyport::registry {
namespace {

Result<std::pair<uint32_t, uint32_t>> ParseRange(const std::string& s) {
  unsigned lo = 0, hi = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%u-%u%c", &lo, &hi, &extra) != 2 || lo < 1 || hi > 65535 || lo > hi)
    return Status::InvalidArgument(fmt::format("port-range: \"{}\" must be LO-HI within 1-65535", s));
  return std::make_pair(static_cast<uint32_t>(lo), static_cast<uint32_t>(hi));
}

}  // namespace

int RunDaemon(const DaemonOptions& o) {
  auto token = StartDaemon("registry", o.common);
  if (!token.ok()) return FailStart(token.status());
  auto range = ParseRange(o.port_range);
  if (!range.ok()) return FailStart(range.status());
  if (o.history < 1) return FailStart(Status::InvalidArgument("history: must be >= 1"));
  if (o.watch_window < 0 || o.watch_window > 10'000'000)
    return FailStart(Status::InvalidArgument("watch-window: must be in 0..10000000"));
  if (o.sync != "full" && o.sync != "normal")
    return FailStart(Status::InvalidArgument(fmt::format("sync: \"{}\" is not one of full|normal", o.sync)));
  if (o.lease_grace_s < 0) return FailStart(Status::InvalidArgument("lease-grace: must be >= 0"));

  if (o.store != "sqlite" && o.store != "etcd")
    return FailStart(Status::InvalidArgument(fmt::format("store: \"{}\" is not one of sqlite|etcd", o.store)));
  if (o.store == "sqlite" && o.data_dir.empty())
    return FailStart(Status::InvalidArgument("data: required with --store sqlite"));
  if (o.store == "etcd" && !o.data_dir.empty())
    return FailStart(Status::InvalidArgument("data: not used with --store etcd (the state lives in etcd)"));

  StopSignals stop_signals;  // before any thread starts

  SystemRandom random;
  std::unique_ptr<DataDirLock> lock;
  std::unique_ptr<SqliteBackend> sqlite;
  std::unique_ptr<EtcdBackend> etcd_backend;
  Backend* backend = nullptr;
  if (o.store == "sqlite") {
    // One registry per data dir: before the database is opened.
    auto l = DataDirLock::Acquire(o.data_dir);
    if (!l.ok()) return FailStart(l.status());
    lock = std::move(*l);
    StateOwnerOptions oo;
    oo.state.port_lo = range->first;
    oo.state.port_hi = range->second;
    oo.state.history = o.history;
    oo.data_dir = o.data_dir;
    oo.fsync = o.sync == "full";
    oo.lease_grace_ms = int64_t{o.lease_grace_s} * 1000;
    auto owner = StateOwner::Start(oo, SystemClock::Get(), &random);
    if (!owner.ok()) return FailStart(owner.status());
    sqlite = std::make_unique<SqliteBackend>(std::move(*owner));
    backend = sqlite.get();
  } else {
    // Many registries share one etcd: no data dir, no lock, no history of our own.
    auto settings = etcd::SettingsFromFlags(o.etcd, ProcessEnv());
    if (!settings.ok()) return FailStart(settings.status());
    auto client = etcd::Client::Create(settings->options);
    if (!client.ok()) return FailStart(client.status());
    EtcdBackendOptions eo;
    eo.prefix = settings->prefix;
    eo.port_lo = range->first;
    eo.port_hi = range->second;
    eo.lease_sweep_ms = int64_t{o.lease_sweep_s} * 1000;
    eo.watch_window = static_cast<size_t>(o.watch_window);
    eo.batch.max_wait_ms = settings->options.request_timeout_ms;  // a write waits no longer than one would take
    etcd_backend = std::make_unique<EtcdBackend>(std::move(*client), eo, SystemClock::Get(), &random);
    backend = etcd_backend.get();
  }

  auto creds = rpc::ServerCredentials(o.common.tls);
  if (!creds.ok()) return FailStart(creds.status());
  RegistryService service(backend, *token);
  service.set_info(o.store, SystemClock::Get()->WallMs());
  auto started = rpc::StartServer(o.listen, *creds, {&service}, 4 << 20, 64 << 20);
  if (!started.ok()) return FailStart(started.status());
  auto& [server, port] = *started;

  std::unique_ptr<AdminServer> admin;
  if (!o.metrics_listen.empty()) {
    auto aopts = AdminOptionsFromFlagsAndEnv(o.admin, "");
    if (!aopts.ok()) return FailStart(aopts.status());
    Backend* b = backend;
    const RegistryService* svc = &service;
    auto a = AdminServer::Start(o.metrics_listen,
                                {{"/metrics", [b, svc](const AdminRequest&) {
                                    return AdminResponse{200, "text/plain; version=0.0.4",
                                                         b->Metrics() + svc->MetricsText()};
                                  }},
                                 {"/healthz",
                                  [](const AdminRequest&) { return AdminResponse{200, "text/plain", "ok\n"}; }}},
                                *aopts);
    if (!a.ok()) return FailStart(a.status());
    admin = std::move(*a);
  }
  if (!o.port_file.empty())
    if (Status s = WriteFileAtomic(o.port_file, fmt::format("{}\n", port)); !s.ok()) return FailStart(s);
  log::Info("listening", {{"address", o.listen},
                          {"store", o.store},
                          {"port", port},
                          {"tls", !o.common.tls.cert.empty()},
                          {"metrics_port", admin ? admin->port() : 0},
                          {"data", o.data_dir},
                          {"etcd_endpoints", o.store == "etcd" ? o.etcd.endpoints : std::string()},
                          {"port_range", o.port_range}});

  log::Info("stopping", {{"signal", stop_signals.Wait()}});
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (sqlite) sqlite->Stop();
  etcd_backend.reset();  // waits for its calls in flight
  return 0;
}

}  // namespace skyport::registry
