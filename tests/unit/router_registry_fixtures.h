// Registry messages for the router's unit tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "skyport/v1/registry.pb.h"

namespace skyport::router {

// An endpoint as the registry sends it (id and registration time left 0).
inline v1::Endpoint EndpointOf(const std::string& app, const std::string& commit, const std::string& host,
                               uint32_t port, const std::string& role = "web",
                               v1::Health health = v1::HEALTH_PASSING) {
  v1::Endpoint ep;
  ep.set_app(app);
  ep.set_commit(commit);
  ep.set_role(role);
  ep.set_host(host);
  ep.set_port(port);
  ep.set_health(health);
  return ep;
}

// A route config of `app` with these weights (commit or prefix -> weight).
inline v1::RouteConfig Route(const std::string& app, const std::map<std::string, uint32_t>& weights) {
  v1::RouteConfig r;
  r.set_app(app);
  for (const auto& [c, w] : weights) (*r.mutable_weights())[c] = w;
  return r;
}

}  // namespace skyport::router
