// `skyport status`: asks every hub, registry, drone (through the hub) and
// router (found in the registry) at once and prints status_report.h's table;
// exit 1 (and each problem on stdout, after the table) when something is down.
#include <future>
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command_table.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/hub_commands.h"
#include "cli/stats_table.h"
#include "cli/status_gather.h"
#include "cli/status_report.h"
#include "core/address_list.h"
#include "core/clock.h"
#include "core/http_admin.h"
#include "rpc/call.h"
#include "rpc/channel.h"
#include "skyport/v1/hub.grpc.pb.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::cli {
namespace {

// Hubs named by the election beyond the --hub list: at most this many.
constexpr size_t kMaxHubs = 32;
// Router presence entries asked for /healthz: at most this many.
constexpr size_t kMaxRouters = 256;

std::string Why(const Status& s) { return fmt::format("{}: {}", CodeName(s.code()), s.message()); }

template <class Service, class Resp, class Req, class Method>
Result<Resp> AskOne(const std::string& address, const ConnectOptions& opts, Method method, const Req& req) {
  auto channel = rpc::Dial(address, opts.tls);
  if (!channel.ok()) return channel.status();
  auto stub = Service::NewStub(*channel);
  return rpc::UnaryCall<Resp>(*stub, method, req, opts.token, opts.timeout_ms);
}

HubProbe ProbeHub(const std::string& address, const ConnectOptions& opts) {
  HubProbe p{address, std::nullopt, ""};
  auto r = AskOne<v1::HubInfo, v1::HubInfoResponse>(address, opts, &v1::HubInfo::Stub::Info, v1::HubInfoRequest());
  if (r.ok()) p.info = std::move(*r);
  else p.error = Why(r.status());
  return p;
}

RegistryProbe ProbeRegistry(const std::string& address, const ConnectOptions& opts) {
  RegistryProbe p{address, std::nullopt, ""};
  auto r = AskOne<v1::Registry, v1::RegistryInfoResponse>(address, opts, &v1::Registry::Stub::Info,
                                                          v1::RegistryInfoRequest());
  if (r.ok()) p.info = std::move(*r);
  else p.error = Why(r.status());
  return p;
}

RouterProbe ProbeRouter(const v1::Endpoint& e, int timeout_ms) {
  RouterProbe p{e, false, ""};
  const std::string admin = e.host().find(':') != std::string::npos ? fmt::format("[{}]:{}", e.host(), e.port())
                                                                     : fmt::format("{}:{}", e.host(), e.port());
  auto resp = AdminGet(admin, "/healthz", "", timeout_ms);
  if (!resp.ok()) p.error = resp.status().message();
  else if (resp->status != 200) p.error = fmt::format("/healthz answered {}", resp->status);
  else p.healthy = true;
  return p;
}

}  // namespace

Result<StatusInputs> GatherStatus(const GlobalOptions& g, const ConnectOptions& hub_opts) {
  auto hubs = ParseAddressList("hub", g.hub);
  if (!hubs.ok()) return hubs.status();
  auto registries = ParseAddressList("registry", g.registry);
  if (!registries.ok()) return registries.status();
  ConnectOptions opts = hub_opts;
  opts.timeout_ms = std::min<int64_t>(opts.timeout_ms, 5'000);  // one daemon's answer; a dead one costs this
  StatusInputs in;

  // Every daemon at once: hubs and registries directly, drones through the
  // hub, routers through the registry.
  std::vector<std::future<HubProbe>> hub_answers;
  for (const auto& a : *hubs) hub_answers.push_back(std::async(std::launch::async, ProbeHub, a, opts));
  std::vector<std::future<RegistryProbe>> registry_answers;
  for (const auto& a : *registries)
    registry_answers.push_back(std::async(std::launch::async, ProbeRegistry, a, opts));
  auto drones = std::async(std::launch::async, [&]() -> Result<v1::DronesResponse> {
    auto client = HubClient::Connect(opts);
    if (!client.ok()) return client.status();
    return (*client)->Drones();
  });
  auto routers = std::async(std::launch::async, [&]() -> Result<std::vector<RouterProbe>> {
    auto client = RegistryClient::Connect(ConnectOptions{g.registry, opts.token, opts.tls, opts.timeout_ms});
    if (!client.ok()) return client.status();
    v1::QueryRequest q;
    q.set_app(kRouterApp);
    q.set_role(kRouterAdminRole);
    auto found = (*client)->Query(q);
    if (!found.ok()) return found.status();
    std::vector<std::future<RouterProbe>> probes;
    for (const auto& e : found->endpoints()) {
      if (probes.size() >= kMaxRouters) break;
      probes.push_back(std::async(std::launch::async, ProbeRouter, e, static_cast<int>(opts.timeout_ms)));
    }
    std::vector<RouterProbe> out;
    for (auto& p : probes) out.push_back(p.get());
    return out;
  });

  std::set<std::string> asked(hubs->begin(), hubs->end());
  for (auto& f : hub_answers) in.hubs.push_back(f.get());
  // Hubs of the election that the list does not name.
  std::vector<std::future<HubProbe>> more;
  for (const auto& h : std::vector<HubProbe>(in.hubs))
    if (h.info)
      for (const auto& m : h.info->members_grpc())
        if (asked.size() < kMaxHubs && asked.insert(m).second)
          more.push_back(std::async(std::launch::async, ProbeHub, m, opts));
  for (auto& f : more) in.hubs.push_back(f.get());
  for (auto& f : registry_answers) in.registries.push_back(f.get());
  if (auto d = drones.get(); d.ok()) in.drones.emplace(d->drones().begin(), d->drones().end());
  else in.drones_error = "the hub did not say: " + Why(d.status());
  if (auto r = routers.get(); r.ok()) in.routers = std::move(*r);
  else in.routers_error = "the registry did not say: " + Why(r.status());
  in.now_ms = WallNowMs();

  return in;
}

namespace {

int RunStatus(const GlobalOptions& g) {
  int code = kExitOk;
  auto hub_opts = ConnectOptionsOrReport(g, g.hub, code);
  if (!hub_opts) return code;
  auto gathered = GatherStatus(g, *hub_opts);
  if (!gathered.ok()) return ReportUsage(gathered.status());
  const StatusInputs& in = *gathered;
  const StatusReport report = BuildStatus(in);
  if (g.json) std::cout << StatusJson(report, in.now_ms).dump(2) << std::endl;
  else std::cout << RenderStatusTable(report, in.now_ms) << std::flush;
  return report.ok() ? kExitOk : kExitFailure;
}

Runner DefineStatus(CLI::App& cmd, const CommandContext& ctx) {
  cmd.footer(
      "Asks every hub of --hub (and the other hubs of their election), every registry of --registry, the drones the "
      "leading hub knows and the routers registered in the registry (GET /healthz on their admin address). Exit "
      "status 1 when any of them is down (each named on a DOWN: line), 0 when all are up. A router that stopped "
      "disappears from the registry, and so from this list, once its lease expires (about 10 s).");
  return [&g = ctx.global] { return RunStatus(g); };
}

constexpr CommandSpec kStatusCommands[] = {
    {"status", "Health, version and last seen of every hub, registry, drone and router; exit 1 if one is down",
     DefineStatus},
};

}  // namespace

std::span<const CommandSpec> StatusCommands() { return kStatusCommands; }

}  // namespace skyport::cli
