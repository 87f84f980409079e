#include <catch2/catch.hpp>

#include <vector>

#include "core/clock.h"
#include "core/lease_keeper.h"

namespace skyport {
namespace {

using S = LeaseStep;
using O = LeaseOutcome;

// One call (or none, for kWait) at `at` ms after the start.
struct Row {
  int64_t at;
  bool need_register;
  LeaseStep step;           // what Next must say
  Code answer;              // the registry's answer to that call (ignored for kWait)
  LeaseOutcome outcome;     // what the keeper makes of it
  int64_t wake;             // WakeAt afterwards (with need_register), ms after the start
  int failures;             // failures() afterwards
  uint64_t lease;           // lease() afterwards
};

// Steps a keeper through `rows` on a fake clock. Jitter is 0 (u = 0.5), so
// the backoff is kReconnectBackoff's 100, 200, 400, 500, 500 ms.
void Run(LeaseKeeper keeper, const std::vector<Row>& rows) {
  FakeClock clock(0);
  const int64_t t0 = clock.MonoMs();
  uint64_t next_lease = 7;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    INFO("row " << i << " at " << r.at);
    clock.AdvanceMs(t0 + r.at - clock.MonoMs());
    const int64_t now = clock.MonoMs();
    const LeaseStep step = keeper.Next(now, r.need_register);
    REQUIRE(static_cast<int>(step) == static_cast<int>(r.step));
    const Status answer = r.answer == Code::kOk ? Status::Ok() : Status(r.answer, "x");
    LeaseOutcome got = O::kOk;
    switch (step) {
      case S::kWait: break;
      case S::kGrant: got = keeper.OnGrant(now, answer, answer.ok() ? next_lease++ : 0, 0.5); break;
      case S::kKeepAlive: got = keeper.OnKeepAlive(now, answer, 0.5); break;
      case S::kRegister: got = keeper.OnRegister(now, answer, 0.5); break;
      case S::kAudit: got = keeper.OnAudit(now, answer, 0.5); break;
    }
    CHECK(static_cast<int>(got) == static_cast<int>(r.outcome));
    CHECK(keeper.WakeAt(now, r.need_register) - t0 == r.wake);
    CHECK(keeper.failures() == r.failures);
    CHECK(keeper.lease() == r.lease);
  }
}

constexpr Code kOk = Code::kOk;
constexpr Code kDown = Code::kUnavailable;
constexpr Code kGone = Code::kNotFound;

TEST_CASE("KeepAliveIntervalMs is a third of the TTL, with a floor", "[core][lease]") {
  CHECK(KeepAliveIntervalMs(10) == 3333);
  CHECK(KeepAliveIntervalMs(30) == 10000);
  CHECK(KeepAliveIntervalMs(3) == 1000);
  CHECK(KeepAliveIntervalMs(0) == 200);
  CHECK(LeaseTimingFor(3).keepalive_ms == 1000);
  CHECK(LeaseTimingFor(3).backoff.max_ms == kReconnectBackoff.max_ms);
}

TEST_CASE("LeaseKeeper: what a KeepAlive answer means", "[core][lease]") {
  struct Row {
    Status answer;
    LeaseOutcome outcome;
  };
  const Row rows[] = {
      {Status::Ok(), O::kOk},
      {Status::NotFound("lease 7"), O::kLost},
      {Status::Unavailable("down"), O::kRetry},
      {Status(Code::kDeadlineExceeded, "slow"), O::kRetry},
      {Status::Unauthenticated("token"), O::kRetry},
  };
  for (const Row& r : rows) {
    INFO(r.answer.ToString());
    LeaseKeeper keeper(LeaseTimingFor(3), 7, 0);
    CHECK(keeper.OnKeepAlive(1000, r.answer, 0.5) == r.outcome);
  }
}

TEST_CASE("LeaseKeeper: grant, register, keep alive every interval", "[core][lease]") {
  Run(LeaseKeeper(LeaseTimingFor(3)),
      {
          // at  need   step          answer outcome wake  fails lease
          {0, false, S::kGrant, kOk, O::kOk, 1000, 0, 7},
          {0, true, S::kRegister, kOk, O::kOk, 0, 0, 7},  // wake: "at once" while need_register
          {0, false, S::kWait, kOk, O::kOk, 1000, 0, 7},
          {999, false, S::kWait, kOk, O::kOk, 1000, 0, 7},
          {1000, true, S::kKeepAlive, kOk, O::kOk, 1000, 0, 7},  // KeepAlive before Register
          {1000, false, S::kWait, kOk, O::kOk, 2000, 0, 7},
          {2500, false, S::kKeepAlive, kOk, O::kOk, 3500, 0, 7},  // late: next one an interval from now
      });
}

TEST_CASE("LeaseKeeper: failures back off, NOT_FOUND grants again at once", "[core][lease]") {
  Run(LeaseKeeper(LeaseTimingFor(3)),
      {
          {0, false, S::kGrant, kDown, O::kRetry, 100, 1, 0},
          {50, false, S::kWait, kOk, O::kOk, 100, 1, 0},
          {100, false, S::kGrant, kDown, O::kRetry, 300, 2, 0},
          {300, false, S::kGrant, kOk, O::kOk, 1300, 0, 7},  // success ends the backoff
          {300, true, S::kRegister, Code::kInvalidArgument, O::kRetry, 400, 1, 7},
          {350, true, S::kWait, kOk, O::kOk, 400, 1, 7},  // backing off: new work waits too
          {400, true, S::kRegister, kOk, O::kOk, 400, 0, 7},
          {1300, false, S::kKeepAlive, kDown, O::kRetry, 1400, 1, 7},
          {1400, false, S::kKeepAlive, Code::kDeadlineExceeded, O::kRetry, 1600, 2, 7},
          {1600, false, S::kKeepAlive, kGone, O::kLost, 1600, 2, 0},  // lost: grant at once
          {1600, false, S::kGrant, kDown, O::kRetry, 2000, 3, 0},  // the outage's backoff goes on
          {2000, false, S::kGrant, kOk, O::kOk, 3000, 0, 8},  // nothing to register: wake for the KeepAlive
          {2000, true, S::kRegister, kGone, O::kLost, 2000, 0, 0},  // lost between Grant and Register
          {2000, true, S::kGrant, kOk, O::kOk, 2000, 0, 9},
          {2000, true, S::kRegister, kOk, O::kOk, 2000, 0, 9},
      });
}

TEST_CASE("LeaseKeeper: the backoff is bounded by the policy and by the interval", "[core][lease]") {
  SECTION("kReconnectBackoff tops out at 500 ms") {
    Run(LeaseKeeper(LeaseTimingFor(10)),
        {
            {0, false, S::kGrant, kDown, O::kRetry, 100, 1, 0},
            {100, false, S::kGrant, kDown, O::kRetry, 300, 2, 0},
            {300, false, S::kGrant, kDown, O::kRetry, 700, 3, 0},
            {700, false, S::kGrant, kDown, O::kRetry, 1200, 4, 0},
            {1200, false, S::kGrant, kDown, O::kRetry, 1700, 5, 0},
        });
  }
  SECTION("a retry never waits longer than a keep-alive interval") {
    LeaseTiming timing = LeaseTimingFor(1, BackoffPolicy{200, 5000, 2.0, 0.2});  // interval 333
    Run(LeaseKeeper(timing),
        {
            {0, false, S::kGrant, kDown, O::kRetry, 200, 1, 0},
            {200, false, S::kGrant, kDown, O::kRetry, 533, 2, 0},
            {533, false, S::kGrant, kDown, O::kRetry, 866, 3, 0},
        });
  }
}

TEST_CASE("LeaseKeeper: a lease granted by the caller is kept alive from then", "[core][lease]") {
  FakeClock clock;
  LeaseKeeper keeper(LeaseTimingFor(3), 42, clock.MonoMs());
  const int64_t t0 = clock.MonoMs();
  CHECK(keeper.lease() == 42);
  CHECK(keeper.Next(t0, false) == S::kWait);
  CHECK(keeper.WakeAt(t0, false) == t0 + 1000);
  CHECK(keeper.Next(t0, true) == S::kRegister);
  clock.AdvanceMs(1000);
  CHECK(keeper.Next(clock.MonoMs(), true) == S::kKeepAlive);
}

TEST_CASE("LeaseKeeper: the holder's own failed calls back off every step", "[core][lease]") {
  LeaseKeeper keeper(LeaseTimingFor(3), 5, 0);
  keeper.OnFailure(10, 0.5);
  CHECK(keeper.failures() == 1);
  CHECK(keeper.BackingOff(109));
  CHECK(keeper.Next(109, true) == S::kWait);
  CHECK(keeper.WakeAt(109, true) == 110);
  CHECK(keeper.Next(110, true) == S::kRegister);
  keeper.OnFailure(110, 0.5);
  CHECK(keeper.WakeAt(110, false) == 310);
  CHECK(keeper.OnRegister(310, Status::Ok(), 0.5) == O::kOk);
  CHECK(keeper.failures() == 0);
}

TEST_CASE("LeaseKeeper: jitter stays within the policy's bounds", "[core][lease]") {
  struct Row {
    double u;
    int64_t wake;
  };
  for (const Row& r : {Row{0.0, 80}, Row{0.5, 100}, Row{0.999999, 120}}) {
    INFO("u " << r.u);
    LeaseKeeper keeper(LeaseTimingFor(3));
    CHECK(keeper.OnGrant(0, Status::Unavailable("down"), 0, r.u) == O::kRetry);
    CHECK(keeper.WakeAt(0, false) == r.wake);
  }
}

TEST_CASE("AuditIntervalMs is two TTLs within [2 s, 60 s]", "[core][lease]") {
  CHECK(AuditIntervalMs(5) == 10000);
  CHECK(AuditIntervalMs(1) == 2000);
  CHECK(AuditIntervalMs(0) == 2000);
  CHECK(AuditIntervalMs(3600) == 60000);
  CHECK(LeaseTimingFor(3).audit_ms == 6000);
}

TEST_CASE("LeaseKeeper: audits every audit interval, after keep-alives, before registrations", "[core][lease]") {
  LeaseTiming timing = LeaseTimingFor(3);
  timing.audit_ms = 2500;
  Run(LeaseKeeper(timing),
      {
          // at  need   step          answer outcome wake  fails lease
          {0, false, S::kGrant, kOk, O::kOk, 1000, 0, 7},
          {1000, false, S::kKeepAlive, kOk, O::kOk, 2000, 0, 7},
          {2000, false, S::kKeepAlive, kOk, O::kOk, 2500, 0, 7},  // the audit is due before the next KeepAlive
          {2500, true, S::kAudit, kOk, O::kOk, 2500, 0, 7},  // before registering: a refused one cannot hold it back
          {2500, true, S::kRegister, Code::kAlreadyExists, O::kRetry, 2600, 1, 7},
          {2600, true, S::kRegister, kOk, O::kOk, 2600, 0, 7},
          {3000, false, S::kKeepAlive, kOk, O::kOk, 4000, 0, 7},
          {5000, false, S::kKeepAlive, kOk, O::kOk, 5000, 0, 7},  // a late turn: KeepAlive first, then the audit
          {5000, false, S::kAudit, kDown, O::kRetry, 6000, 0, 7},  // a failed audit backs nothing off: next interval
          {6000, false, S::kKeepAlive, kOk, O::kOk, 7000, 0, 7},
          {7000, false, S::kKeepAlive, kOk, O::kOk, 7500, 0, 7},
          {7500, false, S::kAudit, kGone, O::kLost, 7500, 0, 0},  // the lease is gone: grant again at once
          {7500, false, S::kGrant, kOk, O::kOk, 8500, 0, 8},
      });
}

TEST_CASE("LeaseKeeper: no audits with audit_ms 0", "[core][lease]") {
  LeaseTiming timing = LeaseTimingFor(3);
  timing.audit_ms = 0;
  LeaseKeeper keeper(timing, 7, 0);
  CHECK(keeper.Next(999'999, false) == S::kKeepAlive);
  CHECK(keeper.OnKeepAlive(999'999, Status::Ok(), 0.5) == O::kOk);
  CHECK(keeper.Next(1'000'000, false) == S::kWait);
  CHECK(keeper.WakeAt(1'000'000, false) == 999'999 + 1000);
}

TEST_CASE("AuditEntries: what the registry lost and what it holds that is not ours", "[core][lease]") {
  CHECK(AuditEntries({}, {}).clean());
  CHECK(AuditEntries({3, 1, 2}, {2, 3, 1}).clean());
  EntryAudit a = AuditEntries({1, 2, 3, 3}, {3, 4, 5, 4});
  CHECK(a.missing == std::vector<uint64_t>{1, 2});
  CHECK(a.unknown == std::vector<uint64_t>{4, 5});
  CHECK_FALSE(a.clean());
}

TEST_CASE("LeaseKeeper: a Grant answered with lease 0 is a failure", "[core][lease]") {
  LeaseKeeper keeper(LeaseTimingFor(3));
  CHECK(keeper.OnGrant(0, Status::Ok(), 0, 0.5) == O::kRetry);
  CHECK(keeper.lease() == 0);
  CHECK(keeper.Next(100, false) == S::kGrant);
}

}  // namespace
}  // namespace skyport
