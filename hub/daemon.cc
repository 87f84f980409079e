#include "hub/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/address_list.h"
#include "core/config.h"
#include "core/exclusive.h"
#include "core/files.h"
#include "core/http_admin.h"
#include "core/log.h"
#include "core/names.h"
#include "core/prom_text.h"
#include "hub/console/console_data.h"
#include "hub/console/console_server.h"
#include "core/timefmt.h"
#include "hub/flights/etcd_flight_store.h"
#include "hub/flights/flight_service.h"
#include "hub/flights/sqlite_flight_store.h"
#include "hub/ha/advertise.h"
#include "hub/ha/desired_store.h"
#include "hub/ha/leadership.h"
#include "hub/git/git_http.h"
#include "hub/peer/catch_up.h"
#include "hub/peer/peer_service.h"
#include "hub/peer/replicator.h"
#include "hub/deploys/operations.h"
#include "hub/deploys/push_deploy.h"
#include "hub/deploys/service.h"
#include "contract/route.h"
#include "hub/deploys/apps_service.h"
#include "hub/ops/info_service.h"
#include "hub/ops/repack.h"
#include "hub/stats/stats_service.h"
#include "hub/flights/tower_io.h"
#include "rpc/channel.h"
#include "rpc/failover.h"
#include "rpc/etcd_options.h"

namespace skyport::hub {
namespace {

std::string Metrics(const Hub& hub, ControlTower* tower) {
  size_t connected = 0, processes = 0;
  auto drones = hub.Drones();
  for (const auto& d : drones) {
    connected += d.connected() ? 1 : 0;
    processes += static_cast<size_t>(d.processes_size());
  }
  PromText out;
  out.Gauge("skyport_hub_drones_connected", "Drones attached now.", connected);
  out.Gauge("skyport_hub_drones_known", "Drones seen since start.", drones.size());
  out.Gauge("skyport_hub_deployments", "Desired deployments.", hub.Desired().size());
  out.Gauge("skyport_hub_processes", "Processes the drones report.", processes);
  return out.Take() + (tower ? tower->Metrics() : "");
}

// Enforces the stats store's retention every `interval_s` (first at start)
// on its own thread; counts what it deleted.
class StatsJanitor {
 public:
  StatsJanitor(StatsStore* store, int64_t user_retention_s, int64_t traffic_retention_s,
               int64_t router_retention_s, int interval_s)
      : store_(store),
        user_s_(user_retention_s),
        traffic_s_(traffic_retention_s),
        router_s_(router_retention_s),
        interval_s_(interval_s) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StatsJanitor() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  std::string MetricsText() const {
    PromText out;
    out.Family("skyport_hub_stats_pruned_rows_total", PromType::kCounter,
               "Stats rows deleted by retention (--stats-retention).");
    out.Sample("skyport_hub_stats_pruned_rows_total", {{"table", "user_events"}}, user_rows_.load());
    out.Sample("skyport_hub_stats_pruned_rows_total", {{"table", "traffic"}}, traffic_rows_.load());
    out.Sample("skyport_hub_stats_pruned_rows_total", {{"table", "routers"}}, routers_.load());
    out.Gauge("skyport_hub_stats_live_bytes", "Bytes of live data in stats.db (--stats-max-mb bounds it).",
              store_->LiveBytes());
    return out.Take();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    do {
      lock.unlock();
      auto r = store_->Prune(static_cast<int64_t>(::time(nullptr)), user_s_, traffic_s_, router_s_);
      if (!r.ok()) {
        log::Warn("stats retention failed; trying again later", {{"error", r.status().message()}});
      } else if (r->user_rows + r->traffic_rows + r->routers > 0) {
        user_rows_ += r->user_rows;
        traffic_rows_ += r->traffic_rows;
        routers_ += r->routers;
        log::Info("stats retention: old rows deleted",
                  {{"user_rows", r->user_rows}, {"traffic_rows", r->traffic_rows}, {"routers", r->routers}});
      }
      lock.lock();
    } while (!cv_.wait_for(lock, std::chrono::seconds(interval_s_), [this] { return stop_; }));
  }

  StatsStore* store_;
  const int64_t user_s_, traffic_s_, router_s_;
  const int interval_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::atomic<uint64_t> user_rows_{0}, traffic_rows_{0}, routers_{0};
  std::thread thread_;
};

// The gate the services are built with, before the election (which needs
// their bound ports) starts: a standby without a leader until then.
class LateGate final : public LeaderGate {
 public:
  void Set(std::shared_ptr<ha::Leadership> l) {
    std::lock_guard lock(mu_);
    l_ = std::move(l);
  }
  // Kept alive by the caller while in use: a service or git thread may ask while the daemon stops.
  std::shared_ptr<ha::Leadership> get() const {
    std::lock_guard lock(mu_);
    return l_;
  }
  bool Leading() const override { auto l = get(); return l != nullptr && l->Leading(); }
  std::string LeaderGrpc() const override { auto l = get(); return l ? l->LeaderGrpc() : ""; }
  std::string LeaderGit() const override { auto l = get(); return l ? l->LeaderGit() : ""; }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<ha::Leadership> l_;  // guarded by mu_
};

std::string RandomMemberId() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
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
  // --store etcd: the election decides whether this hub serves commands; the desired state lives in etcd.
  const bool several_hubs = o.store == "etcd";
  std::shared_ptr<etcd::Client> etcd_client;
  std::string etcd_prefix;
  int64_t leader_ttl_ms = 0;
  LateGate gate;
  const LeaderGate* gate_ptr = several_hubs ? &gate : nullptr;
  // Deposition (or flights or the desired state in etcd moved under us) ends the process: a successor
  // loads what etcd holds.
  std::atomic<bool> deposed{false};
  auto end_leading = [&deposed](const std::string&) {
    deposed = true;
    ::kill(::getpid(), SIGTERM);
  };
  FencedKv fenced;  // leader-only writes to etcd: flights and the desired state
  std::unique_ptr<ha::DesiredStore> desired_store;
  if (several_hubs) {
    auto settings = etcd::SettingsFromFlags(o.etcd, ProcessEnv());
    if (!settings.ok()) return FailStart(settings.status());
    auto ttl = etcd::ParseDurationMs(o.leader_ttl, "leader-ttl");
    if (!ttl.ok()) return FailStart(ttl.status());
    if (*ttl < 1000 || *ttl > 60'000) return FailStart(Status::InvalidArgument("leader-ttl: must be within 1s..60s"));
    leader_ttl_ms = *ttl;
    auto client = etcd::Client::Create(settings->options);
    if (!client.ok()) return FailStart(client.status());
    etcd_client = std::move(*client);
    etcd_prefix = settings->prefix;
    fenced.txn = [&gate](etcdserverpb::TxnRequest t) -> Result<etcdserverpb::TxnResponse> {
      auto l = gate.get();
      if (!l) return Status::FailedPrecondition("this hub is not the leader; nothing written");
      return l->FencedTxn(std::move(t));
    };
    fenced.range = [c = etcd_client](etcdserverpb::RangeRequest r) { return c->RangeSync(std::move(r)); };
    desired_store = std::make_unique<ha::DesiredStore>(fenced, etcd_prefix + "hub/desired", end_leading);
    (*hub)->ReplaceDesired(DesiredState{});  // deployments.json is a single hub's; etcd's is loaded on takeover
    (*hub)->set_desired_store([d = desired_store.get()](const std::string& json) { return d->Save(json); });
  }
  (*hub)->set_reconcile_budget_ms(int64_t{o.deploy_timeout_s} * 1000);
  auto repos = RepoStore::Open(o.data_dir + "/repos");
  if (!repos.ok()) return FailStart(repos.status());
  // Housekeeping: repositories are repacked now and then (hub/ops/repack.h).
  RepackJanitorOptions rjo;
  {
    auto interval = ParseDurationMs(o.repack_interval);
    if (!interval.ok()) return FailStart(Status::InvalidArgument("repack-interval: " + interval.status().message()));
    auto check = ParseDurationMs(o.repack_check_interval);
    if (!check.ok())
      return FailStart(Status::InvalidArgument("repack-check-interval: " + check.status().message()));
    if (*check < 100) return FailStart(Status::InvalidArgument("repack-check-interval: must be at least 100ms"));
    rjo.policy.interval_ms = *interval;
    rjo.policy.after_pushes = static_cast<uint32_t>(o.repack_after_pushes);
    rjo.check_interval_ms = *check;
    rjo.retire_after_ms = std::min<int64_t>(30'000, *check);
  }
  RepackJanitor repacker(repos->get(), rjo, SystemClock::Get());

  std::shared_ptr<rpc::AddressPool> route_registries;  // the stop guard's and deploy on push's (flights dial their own)
  if (!o.registry.empty()) {
    auto pool = rpc::AddressPool::Create("registry", o.registry, o.common.tls);
    if (!pool.ok()) return FailStart(pool.status());
    route_registries = *pool;
  }
  StopGuard stop_guard(route_registries, *token, /*timeout_ms=*/5'000);

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
  go.max_pushes_per_client = o.git_max_pushes_per_client;
  go.idle_timeout_s = o.git_idle_timeout_s;
  go.header_timeout_s = o.git_header_timeout_s;
  go.body_timeout_s = o.git_body_timeout_s;
  go.min_rate = o.git_min_rate;
  go.min_rate_window_s = o.git_min_rate_window_s;
  go.max_connections = o.git_max_connections;
  go.max_connections_per_client = o.git_max_connections_per_client;
  std::vector<std::string> forced = o.allow_non_ff;
  go.allow_non_ff = [forced](const std::string& app, const std::string&) {
    return std::find(forced.begin(), forced.end(), "*") != forced.end() ||
           std::find(forced.begin(), forced.end(), app) != forced.end();
  };
  if (several_hubs)
    go.standby_leader = [&gate]() -> std::optional<std::string> {
      if (gate.Leading()) return std::nullopt;
      return gate.LeaderGit();
    };
  go.on_push = [&repacker](const PushEvent& e) {
    bool landed = false;
    for (const auto& u : e.updates) {
      landed |= u.ok;
      log::Info("push", {{"app", e.app}, {"ref", u.ref}, {"new", u.new_id.substr(0, 12)}, {"ok", u.ok},
                         {"error", u.error}});
    }
    if (landed) repacker.NotePush(e.app);  // housekeeping: a repack after --repack-after-pushes
  };
  go.deploy_on_push = [h = hub->get(), r = repos->get(), guard = &stop_guard,
                       timeout_ms = int64_t{o.deploy_timeout_s} * 1000](const PushEvent& e) -> std::optional<PushDeploy> {
    std::vector<PushedRef> pushed;
    for (const auto& u : e.updates) pushed.push_back({u.ref, u.new_id, u.ok});
    auto trigger = DeployTrigger(h->AppSettingsOf(e.app), pushed);
    if (!trigger) return std::nullopt;
    PushDeploy d;
    d.ref = trigger->ref;
    d.commit = trigger->new_id;
    d.run = [h, r, guard, timeout_ms, app = e.app, ref = trigger->ref, commit = trigger->new_id](
                const std::function<void(const std::string&)>& say, const std::function<bool()>& cancelled) {
      const std::string short_commit = commit.substr(0, 12);
      say(fmt::format("skyport: deploying {} {} ({} moved: deploy on push)", app, short_commit, ref));
      log::Info("deploy on push", {{"app", app}, {"commit", short_commit}, {"ref", ref}});
      OperationHooks hooks;
      hooks.progress = [&say](const v1::DeployProgress& p) { say(PushProgressLine(p)); };
      hooks.cancelled = cancelled;
      const auto attached = h->ConnectedDrones();
      Status s = RunDeploy(h, r,
                           PushDeployRequest(app, commit, h->Desired(), {attached.begin(), attached.end()}),
                           timeout_ms, hooks);
      if (!s.ok()) {
        log::Warn("deploy on push failed", {{"app", app}, {"commit", short_commit}, {"error", s.message()}});
        say("skyport: deploy failed: " + s.message());
        return s;
      }
      say(fmt::format("skyport: deployed {} {}", app, short_commit));
      if (auto route = guard->Route(app); route.ok() && *route)
        if (auto note = contract::DeployedOutsideSplitNote(app, commit, **route)) say("skyport: note: " + *note);
      return s;
    };
    return d;
  };
  // Several hubs: a push is acknowledged once --git-min-copies hubs hold it; a standby mirrors the leader.
  if (!several_hubs && o.git_min_copies > 1)
    return FailStart(Status::InvalidArgument("git-min-copies: more than 1 copy needs several hubs (--store etcd)"));
  const int min_copies = peer::EffectiveMinCopies(o.git_min_copies, several_hubs);
  const std::string member_id = RandomMemberId();
  std::unique_ptr<peer::Replicator> replicator;
  std::unique_ptr<peer::CatchUp> catch_up;
  if (several_hubs) {
    peer::ReplicatorOptions ro;
    ro.token = *token;
    ro.tls = o.common.tls;
    ro.min_copies = min_copies;
    ro.timeout_ms = int64_t{o.git_replication_timeout_s} * 1000;
    replicator = std::make_unique<peer::Replicator>(ro);
    replicator->Run([etcd_client, etcd_prefix] { return ha::Leadership::ListMembers(*etcd_client, etcd_prefix); },
                    member_id);
    if (min_copies > 1) go.replicator = replicator.get();
    peer::CatchUpOptions co;
    co.token = *token;
    co.tls = o.common.tls;
    co.limits = go.limits;
    co.interval_ms = int64_t{o.git_catch_up_interval_s} * 1000;
    co.timeout_ms = std::max<int64_t>(10'000, int64_t{o.git_replication_timeout_s} * 1000);
    catch_up = std::make_unique<peer::CatchUp>(repos->get(), co);
    catch_up->Run([&gate] { return gate.Leading(); },
                  [&gate]() -> std::optional<ha::LeaderRecord> {
                    auto l = gate.get();
                    return l ? l->Leader() : std::nullopt;
                  },
                  member_id);
  }
  auto git = GitHttpServer::Start(repos->get(), go);
  if (!git.ok()) return FailStart(git.status());

  auto creds = rpc::ServerCredentials(o.common.tls);
  if (!creds.ok()) return FailStart(creds.status());
  ServiceOptions so;
  so.token = *token;
  so.deploy_timeout_ms = int64_t{o.deploy_timeout_s} * 1000;
  so.logs_follower_max_bytes = static_cast<size_t>(o.logs_follower_max_kb) << 10;
  so.gate = gate_ptr;
  so.stop_guard = &stop_guard;
  HubService hub_service(hub->get(), repos->get(), so);
  DroneControlService drone_service(hub->get(), repos->get(), *token, gate_ptr);
  StatsStoreLimits store_limits;
  store_limits.max_bytes = static_cast<uint64_t>(o.stats_max_mb) << 20;
  store_limits.max_event_names_per_app = static_cast<size_t>(o.stats_max_event_names);
  store_limits.max_routers = static_cast<size_t>(o.stats_max_routers);
  store_limits.user_cap_percentile = o.stats_user_cap_percentile;
  auto stats = StatsStore::Open(o.data_dir + "/stats.db", /*fsync=*/true, store_limits);
  if (!stats.ok()) return FailStart(stats.status());
  ShipLimits ship_limits;
  ship_limits.max_rows = static_cast<size_t>(o.stats_max_batch_rows);
  ship_limits.max_past_s = int64_t{o.stats_max_age_days} * 86400;
  StatsSinkService stats_service(stats->get(), *token, ship_limits);
  StatsJanitor janitor(stats->get(), int64_t{o.stats_retention_days} * 86400,
                       int64_t{o.stats_traffic_retention_days} * 86400, int64_t{o.stats_router_retention_days} * 86400,
                       o.stats_prune_interval_s);

  std::unique_ptr<FlightStore> flight_store;
  if (several_hubs) {  // flights and their logs in etcd, written through the leader fence
    flight_store = std::make_unique<EtcdFlightStore>(fenced, EtcdFlightStoreOptions{etcd_prefix, member_id, end_leading});
  } else {
    auto sqlite = SqliteFlightStore::Open(o.data_dir + "/flights.db");
    if (!sqlite.ok()) return FailStart(sqlite.status());
    flight_store = std::move(*sqlite);
  }
  if (!o.registry.empty())
    if (auto registries = ParseAddressList("registry", o.registry); !registries.ok())
      return FailStart(registries.status());
  TowerIoOptions tio;
  tio.registry = o.registry;
  tio.token = *token;
  tio.tls = o.common.tls;
  tio.deploy_timeout_ms = so.deploy_timeout_ms;
  if (several_hubs)
    tio.leading = [&gate] {
      auto l = gate.get();
      return l && l->Elected();
    };
  auto tower_io = MakeTowerIo(hub->get(), repos->get(), stats->get(), tio);
  PlanTimings timings;
  timings.gate_interval_ms = o.gate_interval_ms;
  // The tower is leader-only work: a standby opens it when it takes over.
  std::unique_ptr<ControlTower> tower;
  FlightService flight_service(nullptr, *token, gate_ptr);
  auto open_tower = [&]() -> Status {
    if (tower) return Status::Ok();
    TowerLimits limits;
    limits.max_active = static_cast<size_t>(o.max_flights);
    auto t = ControlTower::Open(flight_store.get(), tower_io.get(), SystemClock::Get(), timings, limits);
    if (!t.ok()) return t.status();
    tower = std::move(*t);
    flight_service.set_tower(tower.get());
    return Status::Ok();
  };
  if (!several_hubs)
    if (Status s = open_tower(); !s.ok()) return FailStart(s);
  peer::PeerServiceOptions po;
  po.token = *token;
  po.limits = go.limits;
  // Every push the leader runs at once replicates here at once, beside the other hubs' catch-ups.
  po.max_calls = o.git_max_concurrent_pushes + 4;
  po.leading = [&gate, several_hubs] { return !several_hubs || gate.Leading(); };
  po.leader_member = [&gate]() -> std::string {
    auto l = gate.get();
    auto leader = l ? l->Leader() : std::nullopt;
    return leader ? leader->member : "";
  };
  peer::CatchUp* cu = catch_up.get();
  po.out_of_sync = [cu](const std::string& why) {
    if (cu) cu->Trigger(why);
  };
  peer::HubPeerService peer_service(repos->get(), po);
  // --- releases, rollback and the apps overview (issue 16)
  AppsOptions ao;
  ao.token = *token;
  ao.gate = gate_ptr;
  ao.registries = route_registries;
  ao.deploy_timeout_ms = so.deploy_timeout_ms;
  ao.stop_timeout_ms = so.stop_timeout_ms;
  if (route_registries)
    ao.write_route = [io = tower_io.get()](const std::string& app, const RouteIntent& intent) {
      return io->WriteRoute(app, intent);
    };
  ao.active_flights = [&flight_service]() -> std::vector<v1::FlightStatus> {
    ControlTower* t = flight_service.tower();
    return t ? t->List(/*all=*/false) : std::vector<v1::FlightStatus>{};
  };
  AppsService apps_service(hub->get(), repos->get(), ao);
  auto retirer = std::make_unique<Retirer>(hub->get(), repos->get(), ao, &apps_service);
  // `skyport status`: every hub answers for itself, a standby too.
  InfoOptions io;
  io.token = *token;
  io.gate = gate_ptr;
  io.member = several_hubs ? member_id : "";
  if (several_hubs)
    io.members = [etcd_client, etcd_prefix]() -> Result<std::vector<std::string>> {
      auto members = ha::Leadership::ListMembers(*etcd_client, etcd_prefix);
      if (!members.ok()) return members.status();
      std::vector<std::string> out;
      for (const auto& m : *members) out.push_back(m.grpc);
      return out;
    };
  io.started_unix_ms = SystemClock::Get()->WallMs();
  InfoService info_service(repos->get(), io);
  auto started = rpc::StartServer(o.listen, *creds,
                                  {&hub_service, &drone_service, &stats_service, &flight_service, &peer_service,
                                   &apps_service, &info_service},
                                  16 << 20);
  if (!started.ok()) return FailStart(started.status());
  auto& [server, port] = *started;

  // The election starts once the listeners are bound: the leader key names their real ports.
  std::shared_ptr<ha::Leadership> leadership;
  struct StopElection {  // on every way out: the election ends here, whoever still holds the object
    LateGate& gate;
    std::shared_ptr<ha::Leadership>& leadership;
    ~StopElection() {
      gate.Set(nullptr);
      if (leadership) leadership->Stop();  // revokes the lease: a successor need not wait for the TTL
    }
  } stop_election{gate, leadership};
  if (several_hubs) {
    ha::LeadershipOptions lo;
    lo.prefix = etcd_prefix;
    lo.timings.ttl_ms = leader_ttl_ms;
    auto grpc_addr = ha::AdvertiseGrpc(o.advertise, o.listen, port);
    if (!grpc_addr.ok()) return FailStart(grpc_addr.status());
    auto git_addr = ha::AdvertiseGit(o.advertise_git, o.git_listen, (*git)->port());
    if (!git_addr.ok()) return FailStart(git_addr.status());
    lo.me = {member_id, *grpc_addr, *git_addr};
    Hub* h = hub->get();
    lo.takeover = [h, d = desired_store.get(), desired_key = etcd_prefix + "hub/desired", &open_tower, &etcd_client, cu,
                   etcd_prefix, member_id]() -> Status {
      // Repositories first: what a standby acknowledged and this hub missed is taken from it (best effort,
      // bounded), so that a push acknowledged by the old leader survives it.
      if (auto members = ha::Leadership::ListMembers(*etcd_client, etcd_prefix); !members.ok())
        log::Warn("takeover: cannot list the hubs to compare repositories", {{"error", members.status().message()}});
      else if (cu)
        cu->UnionFrom(*members, member_id);
      auto got = d->Load();
      if (!got.ok()) return got.status();
      DesiredState desired;
      if (*got) {
        auto parsed = DesiredState::FromJson(**got);
        if (!parsed.ok()) return Status::DataLoss(desired_key + ": " + parsed.status().message());
        desired = std::move(*parsed);
      }
      log::Info("desired state loaded from etcd", {{"deployments", static_cast<int64_t>(desired.All().size())}});
      h->ReplaceDesired(std::move(desired));
      return open_tower();
    };
    // Deposition is final: the process ends so that every piece of leader-only work stops with it.
    lo.on_deposed = end_leading;
    leadership = ha::Leadership::Start(etcd_client, std::move(lo));
    gate.Set(leadership);
  }

  // The console (issue 17): it asks this hub over its own gRPC listener, as the CLI does.
  std::unique_ptr<console::ConsoleData> console_data;
  std::unique_ptr<console::ConsoleServer> console_server;
  if (!o.console_listen.empty()) {
    auto hp = SplitHostPort(o.listen);
    if (!hp.ok()) return FailStart(hp.status());
    std::string host = hp->first;
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    else if (host == "::") host = "::1";
    console::DataOptions d;
    d.hub = host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
    d.registry = o.registry;
    d.token = *token;
    d.tls_ca = o.common.tls.ca;
    d.tls_cert = o.common.tls.cert;
    d.tls_key = o.common.tls.key;
    console_data = std::make_unique<console::ConsoleData>(d);
    console::ConsoleOptions co;
    co.listen = o.console_listen;
    co.token = *token;
    co.secure_cookie = o.console_secure_cookie;
    for (const std::string& h : o.console_hosts)
      if (Status s = ValidateHost("--console-hosts", h); !s.ok()) return FailStart(s);
    co.hosts = o.console_hosts;
    co.max_connections = o.console_max_connections;
    co.max_connections_per_client = o.console_max_connections_per_client;
    co.max_sse_streams = o.console_max_sse_streams;
    co.max_body_bytes = o.console_max_body;
    co.sessions.max_sessions = static_cast<size_t>(o.console_max_sessions);
    co.sessions.idle_ms = int64_t{o.console_session_idle_s} * 1000;
    co.sessions.absolute_ms = int64_t{o.console_session_lifetime_s} * 1000;
    co.logins.max_failures = o.console_login_max_failures;
    // What the pages show, digested once a second for the live-update stream (no RPC, no disk).
    co.state_version = [h = hub->get(), fs = &flight_service]() -> uint64_t {
      std::string s;
      for (const auto& p : h->Ps("")) s += p.SerializeAsString();
      for (const auto& d : h->Drones()) s += d.name() + (d.connected() ? "+" : "-");
      for (const auto& app : h->ReleaseApps())
        if (auto r = h->ReleasesOf(app); r && !r->releases.empty())
          s += fmt::format("{}:{}:{}:{}", app, r->next, static_cast<int>(r->releases.back().outcome),
                           h->ConfigVersion(app));
      if (ControlTower* t = fs->tower())
        for (const auto& f : t->List(/*all=*/true)) s += f.SerializeAsString();
      return std::hash<std::string>{}(s);
    };
    if (!console::IsLoopbackListen(o.console_listen))
      log::Warn("the console listens beyond loopback over plain HTTP: the token and session cookie cross the network "
                "in clear unless a TLS proxy is in front (then pass --console-secure-cookie)",
                {{"console_listen", o.console_listen}});
    auto c = console::ConsoleServer::Start(std::move(co), console_data.get());
    if (!c.ok()) return FailStart(c.status());
    console_server = std::move(*c);
  }

  std::unique_ptr<AdminServer> admin;
  if (!o.metrics_listen.empty()) {
    auto aopts = AdminOptionsFromFlagsAndEnv(o.admin, "");
    if (!aopts.ok()) return FailStart(aopts.status());
    Hub* h = hub->get();
    FlightService* fs = &flight_service;
    GitHttpServer* g = git->get();
    StatsSinkService* ss = &stats_service;
    HubService* hs = &hub_service;
    StatsJanitor* sj = &janitor;
    FlightStore* fst = flight_store.get();
    auto a = AdminServer::Start(o.metrics_listen,
                                {{"/metrics",
                                  [h, fs, g, ss, sj, hs, fst, ds = desired_store.get(), &gate, &peer_service,
                                   rep = replicator.get(), cu, rp = &repacker, cs = console_server.get()](const AdminRequest&) {
                                    auto election = gate.get();
                                    return AdminResponse{200, "text/plain; version=0.0.4",
                                                         Metrics(*h, fs->tower()) + g->Metrics() + ss->MetricsText() +
                                                             sj->MetricsText() + hs->MetricsText() + fst->MetricsText() +
                                                             (election ? election->MetricsText() : "") +
                                                             (ds ? ds->MetricsText() : "") +
                                                             peer_service.MetricsText() +
                                                             (rep ? rep->MetricsText() : "") +
                                                             (cu ? cu->MetricsText() : "") + rp->MetricsText() +
                                                             (cs ? cs->Metrics() : "")};
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
                          {"console_port", console_server ? console_server->port() : 0},
                          {"tls", !o.common.tls.cert.empty()},
                          {"data", o.data_dir},
                          {"registry", o.registry},
                          {"store", o.store}});
  log::Info("stopping", {{"signal", stop_signals.Wait()}, {"deposed", deposed.load()}});
  admin.reset();           // it reads the console's metrics
  console_server.reset();  // its data calls in flight end while the gRPC server still answers them
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  retirer.reset();  // before the tower it asks about flights
  if (catch_up) catch_up->Stop();  // a takeover's sync must not hold up the election's stop
  if (several_hubs) {  // leader-only work ends before the lease is given up (StopElection, on return)
    admin.reset();     // it reads the tower's metrics
    flight_service.set_tower(nullptr);
    tower.reset();
  }
  return deposed ? 3 : 0;
}

}  // namespace skyport::hub
