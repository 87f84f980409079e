#include "hub/daemon.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "core/exclusive.h"
#include "core/files.h"
#include "core/http_admin.h"
#include "core/log.h"
#include "hub/flight_service.h"
#include "hub/git_http.h"
#include "hub/service.h"
#include "hub/stats_service.h"
#include "hub/tower_io.h"
#include "rpc/channel.h"

namespace skyport::hub {
namespace {

std::string Metrics(const Hub& hub, ControlTower& tower) {
  size_t connected = 0, processes = 0;
  auto drones = hub.Drones();
  for (const auto& d : drones) {
    connected += d.connected() ? 1 : 0;
    processes += static_cast<size_t>(d.processes_size());
  }
  return fmt::format(
      "# HELP skyport_hub_drones_connected Drones attached now.\n# TYPE skyport_hub_drones_connected gauge\n"
      "skyport_hub_drones_connected {}\n"
      "# HELP skyport_hub_drones_known Drones seen since start.\n# TYPE skyport_hub_drones_known gauge\n"
      "skyport_hub_drones_known {}\n"
      "# HELP skyport_hub_deployments Desired deployments.\n# TYPE skyport_hub_deployments gauge\n"
      "skyport_hub_deployments {}\n"
      "# HELP skyport_hub_processes Processes the drones report.\n# TYPE skyport_hub_processes gauge\n"
      "skyport_hub_processes {}\n",
      connected, drones.size(), hub.Desired().size(), processes) + tower.Metrics();
}

}  // namespace

int RunDaemon(const DaemonOptions& o) {
  auto token = StartDaemon("hub", o.common);
  if (!token.ok()) return FailStart(token.status());
  if (o.deploy_timeout_s < 1) return FailStart(Status::InvalidArgument("deploy-timeout: must be >= 1"));

  StopSignals stop_signals;  // before any thread starts

  // One hub per data dir: before any database or repository is opened.
  auto lock = DataDirLock::Acquire(o.data_dir);
  if (!lock.ok()) return FailStart(lock.status());

  auto hub = Hub::Open(o.data_dir, SystemClock::Get());
  if (!hub.ok()) return FailStart(hub.status());
  auto repos = RepoStore::Open(o.data_dir + "/repos");
  if (!repos.ok()) return FailStart(repos.status());

  GitHttpOptions go;
  go.listen = o.git_listen;
  go.token = *token;
  go.max_body_bytes = o.git_max_pack_size;
  go.limits.pack.max_pack_bytes = o.git_max_pack_size;
  go.limits.pack.max_object_bytes = o.git_max_object_size;
  go.limits.pack.max_delta_depth = o.git_max_delta_depth;
  go.limits.pack.max_objects = o.git_max_objects;
  go.limits.pack.max_inflate_bytes = o.git_max_inflate_bytes;
  go.limits.max_refs = o.git_max_refs_per_push;
  go.max_concurrent_pushes = o.git_max_concurrent_pushes;
  std::vector<std::string> forced = o.allow_non_ff;
  go.allow_non_ff = [forced](const std::string& app, const std::string&) {
    return std::find(forced.begin(), forced.end(), "*") != forced.end() ||
           std::find(forced.begin(), forced.end(), app) != forced.end();
  };
  go.on_push = [](const PushEvent& e) {
    for (const auto& u : e.updates)
      log::Info("push", {{"app", e.app}, {"ref", u.ref}, {"new", u.new_id.substr(0, 12)}, {"ok", u.ok},
                         {"error", u.error}});
  };
  auto git = GitHttpServer::Start(repos->get(), go);
  if (!git.ok()) return FailStart(git.status());

  auto creds = rpc::ServerCredentials(o.common.tls);
  if (!creds.ok()) return FailStart(creds.status());
  ServiceOptions so;
  so.token = *token;
  so.deploy_timeout_ms = int64_t{o.deploy_timeout_s} * 1000;
  HubService hub_service(hub->get(), repos->get(), so);
  DroneControlService drone_service(hub->get(), repos->get(), *token);
  auto stats = StatsStore::Open(o.data_dir + "/stats.db");
  if (!stats.ok()) return FailStart(stats.status());
  StatsSinkService stats_service(stats->get(), *token);

  auto flight_store = FlightStore::Open(o.data_dir + "/flights.db");
  if (!flight_store.ok()) return FailStart(flight_store.status());
  TowerIoOptions tio;
  tio.registry = o.registry;
  tio.token = *token;
  tio.tls = o.common.tls;
  tio.deploy_timeout_ms = so.deploy_timeout_ms;
  auto tower_io = MakeTowerIo(hub->get(), repos->get(), stats->get(), tio);
  PlanTimings timings;
  timings.gate_interval_ms = o.gate_interval_ms;
  auto tower = ControlTower::Open(flight_store->get(), tower_io.get(), SystemClock::Get(), timings);
  if (!tower.ok()) return FailStart(tower.status());
  FlightService flight_service(tower->get(), *token);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, *creds, &port);
  builder.RegisterService(&hub_service);
  builder.RegisterService(&drone_service);
  builder.RegisterService(&stats_service);
  builder.RegisterService(&flight_service);
  builder.SetMaxReceiveMessageSize(16 << 20);
  rpc::ConfigureServer(builder);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) return FailStart(rpc::ListenFailure(o.listen));

  std::unique_ptr<AdminServer> admin;
  if (!o.metrics_listen.empty()) {
    const char* env_metrics_token = std::getenv("SKYPORT_METRICS_TOKEN");
    auto aopts = AdminOptionsFromFlags(o.admin, "", env_metrics_token ? env_metrics_token : "");
    if (!aopts.ok()) return FailStart(aopts.status());
    Hub* h = hub->get();
    ControlTower* t = tower->get();
    GitHttpServer* g = git->get();
    auto a = AdminServer::Start(o.metrics_listen,
                                {{"/metrics",
                                  [h, t, g](const AdminRequest&) {
                                    return AdminResponse{200, "text/plain; version=0.0.4", Metrics(*h, *t) + g->Metrics()};
                                  }},
                                 {"/healthz",
                                  [](const AdminRequest&) { return AdminResponse{200, "text/plain", "ok\n"}; }}},
                                *aopts);
    if (!a.ok()) return FailStart(a.status());
    admin = std::move(*a);
  }
  if (!o.port_file.empty())
    if (Status s = WriteFileAtomic(o.port_file, fmt::format("{} {}\n", port, (*git)->port())); !s.ok()) return FailStart(s);
  log::Info("listening", {{"grpc_port", port},
                          {"git_port", (*git)->port()},
                          {"metrics_port", admin ? admin->port() : 0},
                          {"tls", !o.common.tls.cert.empty()},
                          {"data", o.data_dir},
                          {"registry", o.registry}});
  log::Info("stopping", {{"signal", stop_signals.Wait()}});
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

}  // namespace skyport::hub
