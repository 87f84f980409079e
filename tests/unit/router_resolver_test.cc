// The resolver shell (router/resolver.h) with a fake resolve function: names
// resolve on its threads, never in Lookup, and a name that appears is reported.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "router/resolver.h"

namespace skyport::router {
namespace {

// Polls `pred` until it holds or 5 s pass.
template <typename Pred>
bool Eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST_CASE("Resolver: Lookup never resolves itself; a name that resolves is reported once", "[router][resolver]") {
  std::mutex mu;
  std::vector<std::string> changed;      // guarded by mu
  std::vector<std::string> resolved_on;  // guarded by mu: names the fake was asked
  const auto caller = std::this_thread::get_id();
  bool resolved_on_caller = false;  // guarded by mu
  Resolver r(
      ResolverPolicy{},
      [&](std::vector<std::string> names) {
        std::lock_guard lock(mu);
        for (auto& n : names) changed.push_back(n);
      },
      [&](const std::string& name) -> Result<std::string> {
        std::lock_guard lock(mu);
        resolved_on.push_back(name);
        if (std::this_thread::get_id() == caller) resolved_on_caller = true;
        if (name == "app-1.internal") return std::string("10.0.0.7");
        return Status::NotFound("no such host");
      });
  r.Start();
  CHECK_FALSE(r.Lookup("app-1.internal"));  // queued, not resolved here
  CHECK_FALSE(r.Lookup("ghost.internal"));
  REQUIRE(Eventually([&] {
    std::lock_guard lock(mu);
    return changed.size() == 1;
  }));
  CHECK(changed == std::vector<std::string>{"app-1.internal"});  // the failing name is never "changed"
  REQUIRE(r.Lookup("app-1.internal"));
  CHECK(*r.Lookup("app-1.internal") == "10.0.0.7");
  REQUIRE(Eventually([&] { return r.counters().failures >= 1; }));
  CHECK(r.size() == 2);
  r.Release({"app-1.internal", "ghost.internal"});
  CHECK(r.size() == 0);
  r.Stop();
  std::lock_guard lock(mu);
  CHECK_FALSE(resolved_on_caller);
  CHECK(changed.size() == 1);
}

}  // namespace
}  // namespace skyport::router
