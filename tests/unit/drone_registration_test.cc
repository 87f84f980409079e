#include <catch2/catch.hpp>

#include "drone/registration.h"

using namespace skyport;
using drone::RegisterAnswer;

namespace {
v1::Endpoint Ep(uint32_t port, const std::string& host = "127.0.0.1") {
  v1::Endpoint ep;
  ep.set_host(host);
  ep.set_port(port);
  ep.set_app("webapp");
  return ep;
}
}  // namespace

TEST_CASE("the answer to a Register is kept only for the want it was sent for", "[drone]") {
  const v1::Endpoint a = Ep(11063), b = Ep(16934);
  v1::Endpoint a_critical = Ep(11063);
  a_critical.set_health(v1::HEALTH_CRITICAL);
  const RegisterAnswer record{.keep_id = true, .current = true}, entry_only{.keep_id = true},
      remove{.deregister = true}, gone{};
  struct Row {
    const char* what;
    const v1::Endpoint* current;
    uint64_t current_gen;
    uint64_t lease_now;
    RegisterAnswer want;
  };
  const Row rows[] = {
      {"still the want it was sent for", &a, 1, 7, record},
      {"deregistered while in flight", nullptr, 0, 7, remove},
      // A crash re-registers the entry as critical: the new content lands next turn, but the
      // entry's id is known now, so a stop meanwhile removes it (it leaked before: the id was
      // forgotten until the new content was registered).
      {"a newer want on the same port", &a_critical, 2, 7, entry_only},
      // The port-clash move: the old port's entry must not stay behind (it did, for the
      // lease's life: test_review_port_clash_restart saw both ports registered).
      {"a newer want on another port", &b, 2, 7, remove},
      {"the lease was lost meanwhile", &a, 1, 0, gone},
      {"a new lease meanwhile", &a, 1, 8, gone},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    CHECK(drone::UseRegisterAnswer(a, 1, 7, r.current, r.current_gen, r.lease_now) == r.want);
  }
}

TEST_CASE("a registered instance that moves to another port has its old entry removed", "[drone]") {
  CHECK(drone::ReplacedEntryToRemove(Ep(11063), 42, Ep(16934)));
  CHECK_FALSE(drone::ReplacedEntryToRemove(Ep(11063), 42, Ep(11063)));  // same entry: updated in place
  CHECK_FALSE(drone::ReplacedEntryToRemove(Ep(11063), 0, Ep(16934)));   // never registered
  CHECK(drone::ReplacedEntryToRemove(Ep(11063, "10.0.0.1"), 42, Ep(11063, "10.0.0.2")));
}

TEST_CASE("an audit registers again an entry that holds older content than the drone registered", "[drone]") {
  v1::Endpoint sent = Ep(11063);
  sent.set_pid(4242);
  sent.set_health(v1::HEALTH_PASSING);
  (*sent.mutable_meta())["k"] = "v";
  v1::Endpoint held = sent;  // what the registry assigns does not count
  held.set_id(42);
  held.set_lease_id(7);
  held.set_registered_unix_ms(1'700'000'000'000);
  held.set_revision(99);
  CHECK(drone::HoldsRegistered(held, sent));
  // A store restored from a backup: the same entry (id, host:port) as it was then.
  v1::Endpoint critical = held;
  critical.set_health(v1::HEALTH_CRITICAL);  // a crash since recovered: no traffic for a serving instance
  CHECK_FALSE(drone::HoldsRegistered(critical, sent));
  v1::Endpoint old_pid = held;
  old_pid.set_pid(4000);
  CHECK_FALSE(drone::HoldsRegistered(old_pid, sent));
  v1::Endpoint old_meta = held;
  old_meta.mutable_meta()->clear();
  CHECK_FALSE(drone::HoldsRegistered(old_meta, sent));
}
