#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "drone/port_claim.h"

using namespace skyport;
using namespace skyport::drone;

TEST_CASE("PortClaimer: a taken port is avoided and another allocated, up to the bound", "[drone]") {
  std::set<uint32_t> taken{4000, 4001};
  PortClaimer claimer(3, [&](uint32_t p) { return taken.count(p) == 0; });
  const InstanceKey key{"webapp", "abc", "web", 0};
  // A fake registry: the lowest port in 4000.. not avoided.
  std::vector<std::vector<uint32_t>> calls;
  auto allocate = [&](const std::vector<uint32_t>& avoid) -> Result<uint32_t> {
    calls.push_back(avoid);
    for (uint32_t p = 4000;; ++p)
      if (std::find(avoid.begin(), avoid.end(), p) == avoid.end()) return p;
  };
  std::vector<uint32_t> avoid;
  auto port = claimer.Claim(key, allocate, &avoid);
  REQUIRE(port.ok());
  CHECK(*port == 4002);
  CHECK(avoid == std::vector<uint32_t>{4000, 4001});
  CHECK(calls.size() == 3);
  CHECK(calls[2] == std::vector<uint32_t>{4000, 4001});  // the registry is told which to avoid
  CHECK(claimer.clashes() == 2);

  // A clash found later counts against the same instance's bound.
  CHECK(claimer.NoteClash(key, 4002, "pid 7 (python3)", &avoid));
  CHECK_FALSE(claimer.NoteClash(key, 4003, "pid 8 (nc)", &avoid));
  CHECK(claimer.clashes() == 4);

  // Every port taken: RESOURCE_EXHAUSTED naming them.
  taken = {4000, 4001, 4002, 4003, 4004};
  std::vector<uint32_t> fresh;
  auto none = claimer.Claim(key, allocate, &fresh);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().code() == Code::kResourceExhausted);
  CHECK(none.status().message().find("4000, 4001, 4002, 4003") != std::string::npos);

  // The registry's own error passes through.
  auto failing = [](const std::vector<uint32_t>&) -> Result<uint32_t> { return Status::Unavailable("registry away"); };
  std::vector<uint32_t> a2;
  CHECK(claimer.Claim(key, failing, &a2).status().code() == Code::kUnavailable);
}
