#include "router/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <array>
#include <tuple>

#include <fmt/format.h>

#include "core/address_list.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/http_admin.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/prom_text.h"
#include "core/timefmt.h"
#include "router/user_cookie.h"
#include "router/proxy.h"
#include "router/registry_watch.h"
#include "rpc/address_pool.h"
#include "rpc/channel.h"

namespace skyport::router {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "router";
  return buf;
}

// Static mode: (re)load the routes file; a bad file keeps the last good table.
Status LoadRoutesFile(const DaemonOptions& o, const TableOptions& topts, int64_t generation, RouteHolder* holder,
                      StatsStore* stats) {
  auto text = ReadFile(o.routes_file);
  if (!text.ok()) return text.status();
  auto table = LoadStaticRoutes(*text, generation, topts, [stats](const std::string& app, const std::string& commit) {
    return stats->Intern(app, commit);
  });
  if (!table.ok()) return Status(table.status().code(), fmt::format("{}: {}", o.routes_file, table.status().message()));
  holder->Publish(*table);
  return Status::Ok();
}

// A cookie secret from a file: surrounding whitespace trimmed, at least 32 bytes.
Result<std::string> LoadCookieSecret(const std::string& file, std::string_view flag) {
  auto text = ReadFile(file);
  if (!text.ok()) return Status::InvalidArgument(fmt::format("{}: {}", flag, text.status().message()));
  std::string s = *text;
  const char* ws = " \t\r\n";
  s.erase(0, std::min(s.size(), s.find_first_not_of(ws)));
  s.erase(s.find_last_not_of(ws) + 1);
  if (s.size() < 32)
    return Status::InvalidArgument(fmt::format("{}: {} holds {} bytes, at least 32 are needed (e.g. `openssl rand "
                                               "-hex 32 > {}`, the same file on every router)",
                                               flag, file, s.size(), file));
  return s;
}

// The user cookie's secrets and migration window into `po`.
Status SetUpCookies(const DaemonOptions& o, const std::string& token, int64_t now_ms, ProxyOptions& po) {
  if (!o.cookie_secret_file.empty()) {
    auto s = LoadCookieSecret(o.cookie_secret_file, "cookie-secret-file");
    if (!s.ok()) return s.status();
    po.cookie_secret = std::move(*s);
  } else if (!token.empty()) {
    po.cookie_secret = DeriveCookieSecret(token);
  } else {
    // No token (static mode without admin) and no file: nothing shared to
    // derive from. A random secret is safe, but only this process knows it.
    SystemRandom rng;
    po.cookie_secret = NewHexId(rng) + NewHexId(rng);
    log::Warn("user cookies are signed with a random per-process secret: users get new ids (and arms) when this "
              "router restarts, and other routers refuse its cookies; give --cookie-secret-file");
  }
  if (!o.cookie_secret_previous_file.empty()) {
    auto s = LoadCookieSecret(o.cookie_secret_previous_file, "cookie-secret-previous-file");
    if (!s.ok()) return s.status();
    po.cookie_secret_previous = std::move(*s);
  }
  if (!o.legacy_cookies_until.empty()) {
    auto until = ParseRfc3339Ms(o.legacy_cookies_until);
    if (!until.ok())
      return Status::InvalidArgument(fmt::format("legacy-cookies-until: {}", until.status().message()));
    po.legacy_cookies_until_ms = *until;
    if (*until > now_ms)
      log::Warn("unsigned legacy user cookies are accepted (and re-issued signed) until the migration window ends; "
                "anyone can write one, so keep the window short",
                {{"legacy_cookies_until", FormatRfc3339(*until)}});
  }
  return Status::Ok();
}

// The registry watch's apply path and its resolver cache.
void WatchMetrics(const RegistryWatch& w, PromText& out) {
  const WatchCounters c = w.counters();
  out.Counter("skyport_router_watch_events_applied_total",
              "Registry changes applied to the router's mirror (snapshot entries and delta events).",
              c.events_applied);
  out.Counter("skyport_router_watch_batches_total", "Batches of Watch messages drained and applied at once.",
              c.batches);
  out.Counter("skyport_router_watch_apps_rebuilt_total",
              "Apps built again for a new table (the other apps of a table are shared with the one before).",
              c.apps_rebuilt);
  out.Counter("skyport_router_watch_inbox_full_total",
              "Times the Watch reader stopped reading because 64 MiB of messages waited to be applied.",
              c.inbox_full);
  out.Gauge("skyport_router_watch_revisions_behind",
            "Registry revisions the Watch stream delivered that the table in use does not reflect yet.",
            std::max<int64_t>(0, c.received_revision - c.published_revision));
  out.Gauge("skyport_router_registry_endpoints", "Registry endpoints the router knows (any app, any role).",
            c.endpoints);
  out.Gauge("skyport_router_unresolved_apps", "Apps with endpoints left out because their host has no address yet.",
            c.unresolved_apps);
  static constexpr auto kBounds = [] {
    std::array<double, kLatencyBoundsUs.size()> b{};
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<double>(kLatencyBoundsUs[i]) / 1e6;
    return b;
  }();
  out.Family("skyport_router_watch_apply_seconds", PromType::kHistogram,
             "Per published table: from taking a batch of Watch messages to publishing its table.");
  out.HistogramSeries("skyport_router_watch_apply_seconds", {}, kBounds, c.apply_latency, c.apply_latency_sum_s);
  const ResolverCounters r = w.resolver().counters();
  out.Gauge("skyport_router_resolver_names", "Host names in the resolver cache.", w.resolver().size());
  out.Counter("skyport_router_resolver_hits_total", "Table builds that found a host name's address in the cache.",
              r.hits);
  out.Counter("skyport_router_resolver_misses_total",
              "Table builds that found no address for a host name (new, or not resolving).", r.misses);
  out.Counter("skyport_router_resolver_failures_total", "Host name resolutions that failed.", r.failures);
  out.Counter("skyport_router_resolver_refused_total",
              "New host names refused because the cache held --resolve-max-names.", r.refused);
  out.Counter("skyport_router_resolver_changes_total", "Host names whose address appeared or changed.", r.changes);
}

int ParseWindow(const AdminRequest& r, int fallback) {
  auto it = r.query.find("window");
  if (it == r.query.end()) return fallback;
  int v = 0;
  for (char ch : it->second) {
    if (ch < '0' || ch > '9' || v > 1'000'000) return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

// Per hub (labelled by its address): what each lane of the shipper did.
void AddLaneMetrics(PromText& out, const std::vector<LaneStats>& lanes) {
  out.Family("skyport_router_stats_hub_shipped_rows_total", PromType::kCounter, "Experiment rows this hub took.");
  for (const LaneStats& l : lanes) out.Sample("skyport_router_stats_hub_shipped_rows_total", {{"hub", l.hub}}, l.shipped_rows);
  out.Family("skyport_router_stats_hub_pending_rows", PromType::kGauge, "Experiment rows waiting for this hub.");
  for (const LaneStats& l : lanes) out.Sample("skyport_router_stats_hub_pending_rows", {{"hub", l.hub}}, l.pending_rows);
  out.Family("skyport_router_stats_hub_dropped_rows_total", PromType::kCounter,
             "Experiment rows this hub never got: over the buffer or journal bounds.");
  for (const LaneStats& l : lanes) out.Sample("skyport_router_stats_hub_dropped_rows_total", {{"hub", l.hub}}, l.dropped_rows);
  out.Family("skyport_router_stats_hub_failures_total", PromType::kCounter, "Shipments to this hub that failed.");
  for (const LaneStats& l : lanes) out.Sample("skyport_router_stats_hub_failures_total", {{"hub", l.hub}}, l.failures);
  out.Family("skyport_router_stats_hub_lane_up", PromType::kGauge, "1 while the last shipment reached this hub.");
  for (const LaneStats& l : lanes) out.Sample("skyport_router_stats_hub_lane_up", {{"hub", l.hub}}, l.up ? 1 : 0);
}

}  // namespace

int RunDaemon(const DaemonOptions& o) {
  // Static mode without an admin listener takes no commands: no token needed.
  auto token = StartDaemon("router", o.common, /*token_required=*/o.routes_file.empty() || !o.admin.empty());
  if (!token.ok()) return FailStart(token.status());
  if (o.threads < 0) return FailStart(Status::InvalidArgument("threads: must be >= 0"));
  if (o.max_header_bytes < 1024 || o.max_header_bytes > 1024 * 1024)
    return FailStart(Status::InvalidArgument("max-header-bytes: must be within 1024..1048576"));
  if (o.stats_window_s < 60 || o.stats_window_s > 7 * 24 * 3600)
    return FailStart(Status::InvalidArgument("stats-window: must be within 60..604800 seconds"));
  if (o.routes_file.empty() && o.registry.empty())
    return FailStart(Status::InvalidArgument("give --registry ADDRESS to watch, or --routes FILE for static mode"));
  if (!o.data_dir.empty() && o.hub.empty())
    return FailStart(Status::InvalidArgument("data: needs --hub (the data dir keeps what is shipped there)"));
  if (o.data_max_mb < 1) return FailStart(Status::InvalidArgument("data-max-mb: must be at least 1"));
  for (auto [flag, rate, burst] : {std::tuple{"events-user", o.events_user_rate, o.events_user_burst},
                                   std::tuple{"events-address", o.events_address_rate, o.events_address_burst},
                                   std::tuple{"events-trusted", o.events_trusted_rate, o.events_trusted_burst},
                                   std::tuple{"new-users-address", o.new_users_address_rate, o.new_users_address_burst}})
    if (!(rate > 0) || !(burst >= 1) || rate > 1e9 || burst > 1e9)
      return FailStart(Status::InvalidArgument(fmt::format("{}-rate and -burst: rate > 0 and burst >= 1 (at most 1e9)", flag)));
  if (!(o.events_max_value > 0) || o.events_max_value > 1e12)
    return FailStart(Status::InvalidArgument("events-max-value: must lie within (0, 1e12]"));
  if (o.stats_buffer_rows < 1000) return FailStart(Status::InvalidArgument("stats-buffer-rows: must be at least 1000"));
  if (o.events_limiter_entries < 16) return FailStart(Status::InvalidArgument("events-limiter-entries: must be at least 16"));

  // A peer that resets is an error value on the data plane, never a signal.
  ::signal(SIGPIPE, SIG_IGN);
  StopSignals signals(/*with_hup=*/true);  // before any thread starts

  TableOptions topts;
  topts.domain = o.domain;
  topts.role = o.role;
  topts.default_app = o.default_app;
  RouteHolder holder;
  StatsStore stats(o.stats_window_s);
  std::string name = o.name.empty() ? HostName() : o.name;

  int64_t generation = 1;
  if (!o.routes_file.empty()) {
    if (Status s = LoadRoutesFile(o, topts, generation, &holder, &stats); !s.ok()) return FailStart(s);
  }

  ProxyOptions po;
  po.listen = o.listen;
  po.threads = o.threads;
  po.balance = o.balance == "least-outstanding" ? Balance::kLeastOutstanding : Balance::kRoundRobin;
  po.connect_timeout_ms = o.connect_timeout_ms;
  po.response_timeout_ms = o.response_timeout_ms;
  po.client_idle_timeout_ms = o.idle_timeout_ms;
  po.header_timeout_ms = o.header_timeout_ms;
  po.max_connections = o.max_connections;
  po.body_timeout_ms = o.body_timeout_ms;
  po.min_body_rate = o.min_body_rate;
  po.max_head_bytes = static_cast<size_t>(o.max_header_bytes);
  po.cookie_name = o.cookie_name;
  po.reuse_after_body = o.reuse_after_body;
  po.allow_underscore_headers = o.allow_underscore_headers;
  po.unescape_slashes = o.escaped_slashes == "unescape";
  po.token = *token;
  if (Status s = SetUpCookies(o, *token, SystemClock::Get()->WallMs(), po); !s.ok()) return FailStart(s);
  std::unique_ptr<EventJournal> journal;  // holds DATA/LOCK: one router per data dir
  const auto entries = static_cast<size_t>(o.events_limiter_entries);
  po.events_rate.user = {o.events_user_rate, o.events_user_burst, entries};
  po.events_rate.address = {o.events_address_rate, o.events_address_burst, entries};
  po.events_rate.trusted = {o.events_trusted_rate, o.events_trusted_burst, std::max<size_t>(16, entries / 16)};
  po.events_rate.trust_forwarded_for = o.trust_x_forwarded_for;
  po.events_rate.new_users = {o.new_users_address_rate, o.new_users_address_burst, entries};
  po.events_max_value = o.events_max_value;
  std::unique_ptr<StatsShipper> shipper;
  if (!o.hub.empty()) {
    // Every hub of the list gets every batch (router/stats_shipper.h).
    auto addresses = ParseAddressList("hub", o.hub);
    if (!addresses.ok()) return FailStart(addresses.status());
    std::vector<ShipTarget> hubs;
    for (const std::string& a : *addresses) {
      auto ch = rpc::Dial(a, o.common.tls);
      if (!ch.ok()) return FailStart(ch.status());
      hubs.push_back(ShipTarget{a, *ch});
    }
    if (!o.data_dir.empty()) {
      // The router id lives in the data dir: batches left by an earlier run
      // keep their ids, so the hub counts each once.
      auto j = EventJournal::Open(o.data_dir, name, static_cast<uint64_t>(o.data_max_mb) << 20);
      if (!j.ok()) return FailStart(j.status());
      journal = std::move(*j);
      shipper = std::make_unique<StatsShipper>(hubs, *token, journal->router_id(), journal.get());
      auto left = journal->Recover();
      if (!left.empty())
        log::Info("unshipped batches from the last run", {{"batches", left.size()}, {"bytes", journal->bytes()}});
      shipper->OfferSealed(std::move(left));
    } else {
      // A per-run suffix: batch ids restart with the process, the hub must not take them for retries.
      SystemRandom rng;
      ShipperOptions so;
      so.max_rows = static_cast<size_t>(o.stats_buffer_rows);
      shipper = std::make_unique<StatsShipper>(hubs, *token, name + "/" + NewHexId(rng).substr(0, 12), nullptr, so);
    }
    shipper->Start();
  }
  auto proxy = Proxy::Start(po, &holder, &stats, shipper.get(), journal.get());
  if (!proxy.ok()) return FailStart(proxy.status());

  std::unique_ptr<RegistryWatch> watch;
  std::unique_ptr<RegistryPresence> presence;
  std::shared_ptr<rpc::AddressPool> registries;
  if (o.routes_file.empty()) {
    auto pool = rpc::AddressPool::Create("registry", o.registry, o.common.tls, /*log_changes=*/true,
                                         rpc::kMaxRegistryMessageBytes);
    if (!pool.ok()) return FailStart(pool.status());
    registries = *pool;
    ResolverPolicy rp;
    rp.refresh_ms = int64_t{o.resolve_refresh_s} * 1000;
    rp.max_names = static_cast<size_t>(o.resolve_max_names);
    watch = std::make_unique<RegistryWatch>(registries, *token, topts, &holder, &stats, rp);
    watch->Start();
  }

  std::unique_ptr<AdminServer> admin;
  if (!o.admin.empty()) {
    Proxy* p = proxy->get();
    RegistryWatch* w = watch.get();
    std::map<std::string, AdminServer::Handler> routes;
    routes["/healthz"] = [&holder](const AdminRequest&) {
      return holder.Get() ? AdminResponse{200, "text/plain", "ok\n"}
                          : AdminResponse{503, "text/plain", "no route table yet\n"};
    };
    routes["/routes"] = [&holder](const AdminRequest&) {
      auto t = holder.Get();
      if (!t) return AdminResponse{503, "application/json", "{\"error\":\"no route table yet\"}\n"};
      return AdminResponse{200, "application/json", RoutesJson(*t) + "\n"};
    };
    int window_default = o.stats_window_s;
    routes["/stats"] = [&stats, name, window_default](const AdminRequest& r) {
      int window = ParseWindow(r, window_default);
      if (window <= 0) return AdminResponse{400, "text/plain", "window: must be a positive number of seconds\n"};
      auto app = r.query.count("app") ? r.query.at("app") : std::string();
      auto doc = stats.Json(app, std::min(window, window_default), ::time(nullptr));
      doc["router"] = name;
      return AdminResponse{200, "application/json", doc.dump() + "\n"};
    };
    StatsShipper* sh = shipper.get();
    EventJournal* jr = journal.get();
    routes["/metrics"] = [&stats, &holder, p, w, sh, jr](const AdminRequest&) {
      PromText more;
      if (sh) {
        more.Counter("skyport_router_stats_shipped_rows_total", "Experiment rows the hub took.", sh->shipped_rows());
        more.Gauge("skyport_router_stats_pending_rows", "Experiment rows waiting for the hub.", sh->pending_rows());
        more.Counter("skyport_router_stats_dropped_rows_total", "Experiment rows dropped (buffer full or refused).",
                     sh->dropped_rows());
        more.Gauge("skyport_router_stats_hub_up", "1 while the last shipment reached the hub (every hub of --hub).", sh->hub_ok() ? 1 : 0);
        more.Counter("skyport_router_stats_batches_refused_total", "Stats batches the hub refused as invalid.",
                     sh->refused_batches());
        more.Counter("skyport_router_stats_batches_quarantined_total",
                     "Refused stats batches kept in DATA/quarantine (--data) for an operator.",
                     sh->quarantined_batches());
        AddLaneMetrics(more, sh->lanes());
      }
      if (jr) {
        more.Gauge("skyport_router_journal_bytes", "Event journal and unshipped batches on disk (--data).",
                   jr->bytes());
        more.Counter("skyport_router_journal_dropped_batches_total", "Unshipped batches dropped: over --data-max-mb.",
                     sh->dropped_segments());
        more.Gauge("skyport_router_quarantine_bytes",
                   "Refused stats batches kept in DATA/quarantine (at most a quarter of --data-max-mb; counted in "
                   "skyport_router_journal_bytes).",
                   jr->quarantine_bytes());
      }
      auto t = holder.Get();
      more.Gauge("skyport_router_table_revision", "Registry revision of the route table in use.", t ? t->revision : 0);
      if (w) {
        more.Gauge("skyport_router_registry_connected", "1 while the registry watch stream is up.",
                   w->connected() ? 1 : 0);
        more.Counter("skyport_router_tables_built_total",
                     "Route tables published from registry changes (one per drained batch of Watch messages).",
                     w->tables_built());
        more.Counter("skyport_router_registry_reconnects_total", "Times the watch stream was opened again.",
                     w->reconnects());
        WatchMetrics(*w, more);
      }
      std::string out = p->MetricsText() + stats.Prometheus() + more.Take();
      return AdminResponse{200, "text/plain; version=0.0.4", out};
    };
    auto aopts = AdminOptionsFromFlagsAndEnv(o.admin_flags, *token);
    if (!aopts.ok()) return FailStart(aopts.status());
    auto a = AdminServer::Start(o.admin, std::move(routes), *aopts);
    if (!a.ok()) return FailStart(a.status());
    admin = std::move(*a);
    if (registries) {
      PresenceInfo info;
      info.name = name;
      auto hp = SplitHostPort(o.admin);
      std::string host = o.advertise.empty() && hp.ok() ? hp->first : o.advertise;
      if (host.empty() || host == "0.0.0.0" || host == "::") host = "127.0.0.1";
      info.host = host;
      info.admin_port = static_cast<uint32_t>(admin->port());
      auto listen = SplitHostPort(o.listen);  // valid: the proxy bound it
      info.listen = fmt::format("{}:{}", listen.ok() ? listen->first : "", (*proxy)->port());
      presence = std::make_unique<RegistryPresence>(registries, *token, info);
      presence->Start();
    }
  }

  if (!o.port_file.empty())
    if (Status s = WriteFileAtomic(o.port_file, fmt::format("{} {}\n", (*proxy)->port(), admin ? admin->port() : 0));
        !s.ok())
      return FailStart(s);
  log::Info("listening", {{"port", (*proxy)->port()},
                          {"admin_port", admin ? admin->port() : 0},
                          {"threads", (*proxy)->threads()},
                          {"mode", o.routes_file.empty() ? "registry" : "static"},
                          {"name", name}});
  for (;;) {
    int sig = signals.Wait();
    if (sig != SIGHUP) {
      log::Info("stopping", {{"signal", sig}, {"drain_ms", o.drain_ms}});
      break;
    }
    if (o.routes_file.empty()) {
      log::Info("SIGHUP ignored: routes come from the registry");
      continue;
    }
    Status s = LoadRoutesFile(o, topts, ++generation, &holder, &stats);
    if (s.ok())
      log::Info("routes reloaded", {{"file", o.routes_file}, {"generation", generation}});
    else
      log::Error("routes reload failed; keeping the last good table", {{"error", s.message()}});
  }
  if (presence) presence->Stop();  // leave the registry first, so `skyport stats` stops asking
  (*proxy)->Stop(o.drain_ms);  // workers hand over their last rows
  if (shipper) shipper->Stop(2000);
  if (watch) watch->Stop();
  return 0;
}

}  // namespace skyport::router
