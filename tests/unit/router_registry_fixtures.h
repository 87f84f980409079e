// Registry messages for the router's unit tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "skyport/v1/registry.pb.h"

namespace skyport::router {

// A route config of `app` with these weights (commit or prefix -> weight).
inline v1::RouteConfig Route(const std::string& app, const std::map<std::string, uint32_t>& weights) {
  v1::RouteConfig r;
  r.set_app(app);
  for (const auto& [c, w] : weights) (*r.mutable_weights())[c] = w;
  return r;
}

}  // namespace skyport::router
