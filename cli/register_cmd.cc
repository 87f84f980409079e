// `skyport registry register`: a static entry, or a supervised command.
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/supervise.h"
#include "core/names.h"
#include "core/port_owner.h"

namespace skyport::cli {
namespace {

constexpr uint32_t kCommandTtl = 10;
// Ports found taken on this host before `register -- CMD` gives up.
constexpr size_t kMaxPortClashes = 8;

std::string PortTakenMessage(uint32_t port, const std::vector<uint32_t>& taken, bool given) {
  if (given) return "port " + std::to_string(port) + " is already in use on this host; the command was not started";
  std::string list;
  for (uint32_t p : taken) list += std::to_string(p) + ", ";
  return "ports " + list + std::to_string(port) +
         " are all taken on this host by processes the registry does not know of; giving up";
}

// Everything checkable without the registry, so mistakes exit 2 before any RPC.
Result<v1::Endpoint> EndpointFromOptions(const RegisterOptions& o) {
  auto target = ParseAppCommit(o.target);
  if (!target.ok()) return target.status();
  if (Status s = ValidateName("role", o.role); !s.ok()) return s;
  if (Status s = ValidateHost("host", o.host); !s.ok()) return s;
  if (o.port)
    if (Status s = ValidatePort("port", *o.port); !s.ok()) return s;
  if (Status s = ValidateDroneName("drone", o.drone); !s.ok()) return s;
  if (!o.command.empty() && o.ttl && *o.ttl == 0)
    return Status::InvalidArgument(
        "ttl: must be at least 1 with a command (a lease that never expires would outlive the "
        "command if skyport were killed)");
  if (o.ready_timeout_s <= 0) return Status::InvalidArgument("ready-timeout: must be positive");
  v1::Endpoint ep;
  ep.set_app(target->app);
  ep.set_commit(target->commit);
  ep.set_role(o.role);
  ep.set_instance(o.instance);
  ep.set_host(o.host);
  ep.set_drone(o.drone);
  for (const auto& kv : o.meta) {
    auto m = ParseMeta(kv);
    if (!m.ok()) return m.status();
    (*ep.mutable_meta())[m->first] = m->second;
  }
  return ep;
}

std::string Describe(const v1::Endpoint& ep) {
  return ep.app() + "@" + ep.commit() + " " + ep.role();
}

}  // namespace

int RunRegister(const GlobalOptions& g, const RegisterOptions& o) {
  auto endpoint = EndpointFromOptions(o);
  if (!endpoint.ok()) return ReportUsage(endpoint.status());
  v1::Endpoint& ep = *endpoint;
  const bool supervise = !o.command.empty();
  const uint32_t ttl = o.ttl.value_or(supervise ? kCommandTtl : 0);

  // Before the channel exists, so that gRPC's threads never take our signals.
  if (supervise) BlockSupervisorSignals();
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;

  auto grant = client->Grant(ttl);
  if (!grant.ok()) return ReportRpcError(g, "grant a lease", grant.status());
  const uint64_t lease = grant->lease_id();
  // From here on a failure must not leave the lease (and its port) behind.
  auto fail = [&](const std::string& what, const Status& s) {
    int rc = ReportRpcError(g, what, s);
    (void)client->Revoke(lease);
    return rc;
  };

  // Reserve the port (the given one, or any free one) before CMD starts, so
  // nobody else is handed it while CMD gets ready.
  v1::AllocateRequest req;
  req.set_host(ep.host());
  req.set_app(ep.app());
  req.set_commit(ep.commit());
  req.set_role(ep.role());
  req.set_instance(ep.instance());
  req.set_lease_id(lease);
  if (o.port) req.set_port(*o.port);
  // CMD binds the port on this machine: one some other process already holds
  // here (the registry cannot know of it) is avoided and another allocated,
  // as the drone does; a given --port that is taken is an error.
  std::vector<uint32_t> taken;
  for (;;) {
    auto port = client->Allocate(req);
    if (!port.ok()) return fail("allocate a port on " + ep.host(), port.status());
    ep.set_port(*port);
    if (!supervise || PortIsFree(*port)) break;
    if (o.port || taken.size() >= kMaxPortClashes) {
      std::cerr << "skyport: " << PortTakenMessage(*port, taken, o.port.has_value()) << std::endl;
      (void)client->Revoke(lease);
      return kExitFailure;
    }
    taken.push_back(*port);
    std::cerr << "skyport: port " << *port
              << " is taken on this host by a process the registry does not know of; allocating another"
              << std::endl;
    req.add_avoid(*port);
  }

  if (supervise) {
    SuperviseSpec spec;
    spec.endpoint = ep;
    spec.lease_id = lease;
    spec.ttl_seconds = ttl;
    spec.command = o.command;
    spec.wait_ready = !o.no_wait;
    spec.ready_timeout_ms = static_cast<int64_t>(o.ready_timeout_s * 1000);
    spec.json = g.json;
    spec.registry = g.registry;
    return Supervise(*client, spec);
  }

  ep.set_lease_id(lease);
  auto reg = client->Register(ep);
  if (!reg.ok()) return fail("register " + Describe(ep), reg.status());
  if (g.json) {
    PrintAnswered({{"id", reg->id()},
                   {"app", ep.app()},
                   {"commit", ep.commit()},
                   {"role", ep.role()},
                   {"host", ep.host()},
                   {"port", ep.port()},
                   {"lease", lease},
                   {"ttl", ttl}},
                  client->answered_by(), g.registry, -1);
  } else {
    std::cout << "id=" << reg->id() << " host=" << ep.host() << " port=" << ep.port()
              << " lease=" << lease << " ttl=" << ttl << std::endl;
  }
  return kExitOk;
}

}  // namespace skyport::cli
