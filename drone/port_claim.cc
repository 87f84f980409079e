#include "drone/port_claim.h"

#include <fmt/format.h>

#include "core/log.h"
#include "drone/metrics.h"

namespace skyport::drone {
namespace {

std::string Join(const std::vector<uint32_t>& ports) {
  std::string out;
  for (uint32_t p : ports) out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}

}  // namespace

bool PortClaimer::NoteClash(const InstanceKey& key, uint32_t port, const std::string& who,
                            std::vector<uint32_t>* avoid) {
  avoid->push_back(port);
  const uint64_t total = ++clashes_;
  metrics::CountPortClash();
  // One line per clash: each is bounded by max_clashes per instance and deploy.
  log::Warn("port clash: the allocated port is taken on this host; allocating another",
            {{"instance", key.ToString()}, {"port", port}, {"owner", who}, {"clashes_total", total}});
  return static_cast<int>(avoid->size()) <= max_clashes_;
}

Result<uint32_t> PortClaimer::Claim(const InstanceKey& key, const AllocateFn& allocate, std::vector<uint32_t>* avoid) {
  for (;;) {
    auto port = allocate(*avoid);
    if (!port.ok()) return port.status();
    if (is_free_(*port)) return *port;
    if (!NoteClash(key, *port, "a process outside the cluster (bind: address in use)", avoid))
      return Status::ResourceExhausted(
          fmt::format("port clash: ports {} are taken on this host by processes outside the cluster; "
                      "gave up after {} (--port-clash-retries)",
                      Join(*avoid), max_clashes_));
  }
}

}  // namespace skyport::drone
