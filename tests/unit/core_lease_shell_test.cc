#include <catch2/catch.hpp>

#include <deque>
#include <string>
#include <vector>

#include "core/clock.h"
#include "rpc/lease_shell.h"

namespace skyport::rpc {
namespace {

// Answers each call with the next scripted status and records what was asked.
class FakeLeaseCalls final : public LeaseCalls {
 public:
  std::deque<Status> answers;  // empty: OK
  std::vector<std::string> log;
  std::vector<v1::Endpoint> registered;
  uint64_t next_lease = 7;
  uint64_t next_id = 100;

  Result<uint64_t> Grant(uint32_t ttl_seconds) override {
    log.push_back("grant " + std::to_string(ttl_seconds));
    Status s = Pop();
    if (!s.ok()) return s;
    return next_lease++;
  }
  Status KeepAlive(uint64_t lease) override {
    log.push_back("keepalive " + std::to_string(lease));
    return Pop();
  }
  Result<uint64_t> Register(const v1::Endpoint& ep) override {
    log.push_back("register " + ep.app() + " lease " + std::to_string(ep.lease_id()));
    Status s = Pop();
    if (!s.ok()) return s;
    registered.push_back(ep);
    return next_id++;
  }
  Result<uint32_t> Revoke(uint64_t lease) override {
    log.push_back("revoke " + std::to_string(lease));
    return 0u;
  }
  std::vector<v1::Endpoint> held;  // what Entries answers
  Result<std::vector<v1::Endpoint>> Entries(uint64_t lease) override {
    log.push_back("entries " + std::to_string(lease));
    Status s = Pop();
    if (!s.ok()) return s;
    return held;
  }

 private:
  Status Pop() {
    if (answers.empty()) return Status::Ok();
    Status s = answers.front();
    answers.pop_front();
    return s;
  }
};

TEST_CASE("LeaseShell: makes the call the keeper asks for and reports it", "[core][lease]") {
  FakeLeaseCalls calls;
  FakeRandom random;
  FakeClock clock;
  LeaseShell shell(&calls, &random, 3, LeaseTimingFor(3));
  v1::Endpoint ep;
  ep.set_app("web");

  LeaseTurn t = shell.Step(clock.MonoMs(), &ep);
  CHECK(t.step == LeaseStep::kGrant);
  CHECK(t.outcome == LeaseOutcome::kOk);
  CHECK(t.lease == 7);

  t = shell.Step(clock.MonoMs(), &ep);
  CHECK(t.step == LeaseStep::kRegister);
  CHECK(t.entry_id == 100);
  CHECK(t.lease == 7);
  REQUIRE(calls.registered.size() == 1);
  CHECK(calls.registered[0].lease_id() == 7);  // the shell sets the lease
  CHECK(ep.lease_id() == 0);                   // on its own copy

  t = shell.Step(clock.MonoMs(), nullptr);
  CHECK(t.step == LeaseStep::kWait);
  CHECK(shell.keeper().WakeAt(clock.MonoMs(), false) == clock.MonoMs() + 1000);

  clock.AdvanceMs(1000);
  calls.answers = {Status::Unavailable("registry down")};
  t = shell.Step(clock.MonoMs(), nullptr);
  CHECK(t.step == LeaseStep::kKeepAlive);
  CHECK(t.outcome == LeaseOutcome::kRetry);
  CHECK(t.status.code() == Code::kUnavailable);
  CHECK(t.failures_before == 0);
  CHECK(shell.Step(clock.MonoMs(), nullptr).step == LeaseStep::kWait);  // backing off

  clock.AdvanceMs(500);
  calls.answers = {Status::NotFound("lease 7 is unknown")};
  t = shell.Step(clock.MonoMs(), nullptr);
  CHECK(t.step == LeaseStep::kKeepAlive);
  CHECK(t.outcome == LeaseOutcome::kLost);
  CHECK(t.lease == 7);  // the lease that was lost
  CHECK(t.failures_before == 1);
  CHECK(shell.lease() == 0);

  t = shell.Step(clock.MonoMs(), &ep);
  CHECK(t.step == LeaseStep::kGrant);
  CHECK(t.lease == 8);
  t = shell.Step(clock.MonoMs(), &ep);
  CHECK(t.step == LeaseStep::kRegister);
  CHECK(calls.registered.back().lease_id() == 8);

  CHECK(calls.log == std::vector<std::string>{"grant 3", "register web lease 7", "keepalive 7", "keepalive 7",
                                              "grant 3", "register web lease 8"});
}

TEST_CASE("LeaseShell: an audit reports the ids held under the lease, and only those", "[core][lease]") {
  FakeLeaseCalls calls;
  FakeRandom random;
  LeaseTiming timing = LeaseTimingFor(30);  // KeepAlives every 10 s
  timing.audit_ms = 500;
  LeaseShell shell(&calls, &random, 30, timing, /*lease=*/5, /*now=*/0);
  for (auto [id, lease] : {std::pair<uint64_t, uint64_t>{11, 5}, {12, 6}, {13, 5}}) {
    v1::Endpoint ep;
    ep.set_id(id);
    ep.set_lease_id(lease);  // 12: another holder's (a registry that ignored the filter)
    calls.held.push_back(ep);
  }
  CHECK(shell.Step(499, nullptr).step == LeaseStep::kWait);
  LeaseTurn t = shell.Step(500, nullptr);
  CHECK(t.step == LeaseStep::kAudit);
  CHECK(t.outcome == LeaseOutcome::kOk);
  CHECK(t.held == std::vector<uint64_t>{11, 13});
  REQUIRE(t.entries.size() == 2);  // with what each holds (an audit compares the content too)
  CHECK(t.entries[0].id() == 11);
  CHECK(t.entries[1].id() == 13);
  CHECK(shell.keeper().WakeAt(500, false) == 1000);

  calls.answers = {Status::NotFound("lease 5 is unknown")};
  t = shell.Step(1000, nullptr);
  CHECK(t.step == LeaseStep::kAudit);
  CHECK(t.outcome == LeaseOutcome::kLost);
  CHECK(t.held.empty());
  CHECK(shell.lease() == 0);
  CHECK(calls.log == std::vector<std::string>{"entries 5", "entries 5"});
}

TEST_CASE("LeaseShell: a holder's own failed call backs off the lease calls", "[core][lease]") {
  FakeLeaseCalls calls;
  FakeRandom random;
  LeaseShell shell(&calls, &random, 10, LeaseTimingFor(10), /*lease=*/5, /*now=*/0);
  shell.Failed(0);
  CHECK(shell.keeper().failures() == 1);
  CHECK(shell.Step(1, nullptr).step == LeaseStep::kWait);
  CHECK(calls.log.empty());
  const LeaseTurn t = shell.Step(shell.keeper().WakeAt(1, false), nullptr);
  CHECK(t.step == LeaseStep::kWait);  // nothing due once the backoff ends: the KeepAlive is at 3333
  CHECK(shell.keeper().WakeAt(1000, false) == 3333);
}

}  // namespace
}  // namespace skyport::rpc
