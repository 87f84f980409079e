// Shared helpers for the RegistryState unit tests.
#pragma once

#include <catch2/catch.hpp>

#include <string>

#include "registry/state.h"

namespace skyport::registry::testing {

constexpr int64_t kT0 = 1'000'000;           // monotonic ms
constexpr int64_t kWall = 1'780'000'000'000;  // wall ms

inline StateOptions SmallRange() {
  StateOptions o;
  o.port_lo = 10000;
  o.port_hi = 10009;
  o.max_ttl_s = 3600;
  return o;
}

inline uint64_t GrantLease(RegistryState& st, uint32_t ttl_s = 10, int64_t now = kT0) {
  Changes ch;
  auto g = st.Grant(ttl_s, now, ch);
  REQUIRE(g.ok());
  return g->lease_id();
}

inline v1::AllocateRequest AllocReq(uint64_t lease, const std::string& host = "h1", uint32_t instance = 0,
                             const std::string& app = "web") {
  v1::AllocateRequest r;
  r.set_host(host);
  r.set_app(app);
  r.set_commit("abcdef01");
  r.set_role("http");
  r.set_instance(instance);
  r.set_lease_id(lease);
  return r;
}

inline v1::Endpoint Ep(uint64_t lease, const std::string& host, uint32_t port, const std::string& app = "web",
                const std::string& commit = "abcdef01", const std::string& role = "http") {
  v1::Endpoint e;
  e.set_app(app);
  e.set_commit(commit);
  e.set_role(role);
  e.set_host(host);
  e.set_port(port);
  e.set_lease_id(lease);
  e.set_health(v1::HEALTH_PASSING);
  return e;
}

inline uint64_t MustRegister(RegistryState& st, const v1::Endpoint& ep, int64_t wall = kWall) {
  Changes ch;
  auto r = st.Register(ep, wall, ch);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

}  // namespace skyport::registry::testing
