#include <catch2/catch.hpp>

#include "hub/ha/advertise.h"
#include "hub/ha/election.h"

namespace skyport::hub::ha {
namespace {

const LeaderRecord kMe{"me", "10.0.0.1:6001", "http://10.0.0.1:6002"};
const LeaderRecord kOther{"other", "10.0.0.2:6001", "http://10.0.0.2:6002"};

ElectionTimings Timings() {
  ElectionTimings t;
  t.ttl_ms = 2000;
  t.keepalives_per_ttl = 4;
  t.retry_ms = 200;
  return t;
}

// A candidate with lease 7 granted at t=0 (valid until 2000).
Election WithLease() {
  Election e(Timings(), kMe);
  REQUIRE(e.Step(0).action == Action::kGrantLease);
  e.LeaseGranted(0, 7, 2000);
  return e;
}

CampaignOutcome Won(int64_t revision) {
  CampaignOutcome o;
  o.revision = revision;
  o.succeeded = true;
  return o;
}

CampaignOutcome Lost(int64_t revision, int64_t create_revision, int64_t lease, LeaderRecord who) {
  CampaignOutcome o;
  o.revision = revision;
  o.create_revision = create_revision;
  o.lease = lease;
  o.record = std::move(who);
  return o;
}

// A leader elected at t=0 (campaign revision 10).
Election Leader() {
  Election e = WithLease();
  REQUIRE(e.Step(0).action == Action::kCampaign);
  e.CampaignDone(0, Won(10));
  return e;
}

TEST_CASE("election: grant, then campaign; one call of each kind at a time", "[hub]") {
  Election e(Timings(), kMe);
  CHECK(e.Step(0).action == Action::kGrantLease);
  auto next = e.Step(0);  // the grant is out: nothing else to do without a lease
  CHECK(next.action == Action::kNone);
  CHECK(next.wake_ms > 0);
  e.LeaseGranted(0, 7, 2000);
  CHECK(e.Step(0).action == Action::kCampaign);
  CHECK(e.Step(0).action == Action::kNone);
  CHECK(e.role() == Role::kCandidate);
  CHECK_FALSE(e.Leading(0));
}

TEST_CASE("election: a failed grant is retried after retry_ms", "[hub]") {
  Election e(Timings(), kMe);
  REQUIRE(e.Step(0).action == Action::kGrantLease);
  e.LeaseFailed(50);
  auto next = e.Step(100);
  CHECK(next.action == Action::kNone);
  CHECK(next.wake_ms == 250);
  CHECK(e.Step(250).action == Action::kGrantLease);
}

CampaignOutcome Unreadable() {
  CampaignOutcome o = Lost(10, 5, 99, kOther);
  o.record.reset();
  return o;
}

TEST_CASE("election: campaign outcomes", "[hub]") {
  struct Row {
    const char* name;
    CampaignOutcome outcome;
    Role role;
    std::optional<LeaderRecord> leader;
    int64_t fence;
  };
  const Row rows[] = {
      {"compare held: we lead", Won(10), Role::kLeader, kMe, 10},
      {"another hub holds the key", Lost(10, 5, 99, kOther), Role::kCandidate, kOther, 0},
      {"our own key from a repeated Txn (first outcome unknown)", Lost(12, 11, 7, kMe), Role::kLeader, kMe, 11},
      {"a key with an unreadable value: no leader named", Unreadable(), Role::kCandidate, std::nullopt, 0},
  };
  for (const auto& row : rows) {
    SECTION(row.name) {
      Election e = WithLease();
      REQUIRE(e.Step(0).action == Action::kCampaign);
      e.CampaignDone(10, row.outcome);
      CHECK(e.role() == row.role);
      CHECK(e.leader() == row.leader);
      CHECK(e.my_create_revision() == row.fence);
      CHECK(e.Leading(10) == (row.role == Role::kLeader));
      CHECK(e.Step(10).action == Action::kNone);  // nobody campaigns while a key is there
    }
  }
}

TEST_CASE("election: a loser campaigns again only when the key is deleted", "[hub]") {
  Election e = WithLease();
  REQUIRE(e.Step(0).action == Action::kCampaign);
  e.CampaignDone(0, Lost(10, 5, 99, kOther));
  CHECK(e.Step(500).action == Action::kKeepAlive);
  e.KeepAliveDone(7, 500, 510, Code::kOk);
  CHECK(e.Step(600).action == Action::kNone);  // the leader's key is there: wait
  e.LeaderKeyDeleted(11);
  CHECK_FALSE(e.leader().has_value());
  CHECK(e.Step(600).action == Action::kCampaign);
  e.CampaignDone(600, Won(12));
  CHECK(e.role() == Role::kLeader);
  CHECK(e.my_create_revision() == 12);
}

TEST_CASE("election: a campaign answer older than a watch event is ignored", "[hub]") {
  Election e = WithLease();
  REQUIRE(e.Step(0).action == Action::kCampaign);
  e.LeaderKeyDeleted(20);                          // the watch saw the key go at 20
  e.CampaignDone(10, Lost(15, 5, 99, kOther));     // read at 15: stale
  CHECK_FALSE(e.leader().has_value());
  CHECK(e.Step(300).action == Action::kCampaign);  // the key is gone: campaign again
}

TEST_CASE("election: fencing: a leader stops leading when its last answered keep-alive's send time + TTL passes",
          "[hub]") {
  Election e = Leader();
  CHECK(e.Leading(1999));
  CHECK_FALSE(e.Leading(2000));  // at the deadline, before any Step
  // Keep-alives sent at 500 and 1000 are answered late; the lease counts from their SEND time.
  REQUIRE(e.Step(500).action == Action::kKeepAlive);
  e.KeepAliveDone(7, 500, 1900, Code::kOk);
  CHECK(e.Leading(2499));
  CHECK_FALSE(e.Leading(2500));
  // A keep-alive out but unanswered does not extend it: Step deposes at 2500.
  REQUIRE(e.Step(2000).action == Action::kKeepAlive);
  CHECK(e.Step(2500).action == Action::kNone);
  CHECK(e.role() == Role::kDeposed);
  CHECK_FALSE(e.deposed_reason().empty());
  e.KeepAliveDone(7, 2000, 2600, Code::kOk);  // too late: deposition is final
  CHECK(e.role() == Role::kDeposed);
  CHECK_FALSE(e.Leading(2600));
  CHECK(e.my_create_revision() == 0);
}

TEST_CASE("election: a leader is deposed when", "[hub]") {
  SECTION("etcd no longer has its lease") {
    Election e = Leader();
    REQUIRE(e.Step(500).action == Action::kKeepAlive);
    e.KeepAliveDone(7, 500, 510, Code::kNotFound);
    CHECK(e.role() == Role::kDeposed);
  }
  SECTION("its key was deleted") {
    Election e = Leader();
    e.LeaderKeyDeleted(11);
    CHECK(e.role() == Role::kDeposed);
  }
  SECTION("another hub's key replaced it") {
    Election e = Leader();
    e.LeaderKeyPut(13, 13, kOther);
    CHECK(e.role() == Role::kDeposed);
  }
  SECTION("but not by an event older than its campaign") {
    Election e = Leader();
    e.LeaderKeyDeleted(9);
    CHECK(e.role() == Role::kLeader);
  }
  SECTION("but not by its own put seen on the watch") {
    Election e = Leader();
    e.LeaderKeyPut(10, 10, kMe);
    CHECK(e.role() == Role::kLeader);
  }
}

TEST_CASE("election: a failed keep-alive is retried soon; a candidate's lost lease is granted again", "[hub]") {
  Election e = WithLease();
  REQUIRE(e.Step(0).action == Action::kCampaign);
  e.CampaignDone(0, Lost(10, 5, 99, kOther));
  REQUIRE(e.Step(500).action == Action::kKeepAlive);
  e.KeepAliveDone(7, 500, 600, Code::kUnavailable);
  auto next = e.Step(600);
  CHECK(next.action == Action::kNone);
  CHECK(next.wake_ms == 800);
  REQUIRE(e.Step(800).action == Action::kKeepAlive);
  e.KeepAliveDone(7, 800, 810, Code::kNotFound);
  CHECK(e.lease_id() == 0);
  CHECK(e.Step(810).action == Action::kGrantLease);
  e.LeaseGranted(810, 8, 2000);
  e.KeepAliveDone(7, 800, 820, Code::kOk);  // an answer for the old lease changes nothing
  CHECK(e.lease_id() == 8);
}

TEST_CASE("election: a candidate whose lease lapsed grants a new one before it campaigns", "[hub]") {
  Election e = WithLease();
  REQUIRE(e.Step(0).action == Action::kCampaign);
  e.CampaignFailed(10);
  // No keep-alive answered: at 2000 the lease may be gone.
  REQUIRE(e.Step(500).action == Action::kKeepAlive);
  e.KeepAliveDone(7, 500, 2100, Code::kUnavailable);
  CHECK(e.Step(2100).action == Action::kGrantLease);
  CHECK(e.lease_id() == 0);
}

TEST_CASE("election: etcd granting a longer TTL does not lengthen the fence", "[hub]") {
  Election e(Timings(), kMe);
  REQUIRE(e.Step(0).action == Action::kGrantLease);
  e.LeaseGranted(0, 7, 5000);
  REQUIRE(e.Step(0).action == Action::kCampaign);
  e.CampaignDone(0, Won(3));
  CHECK(e.Leading(1999));
  CHECK_FALSE(e.Leading(2000));
}

TEST_CASE("leader record: JSON round trip and hostile values", "[hub]") {
  auto back = LeaderRecord::FromJson(kMe.ToJson());
  REQUIRE(back.ok());
  CHECK(*back == kMe);
  const char* bad[] = {
      "", "[]", "{\"member\":\"m\",\"grpc\":\"h:1\"}",
      "{\"member\":\"m\",\"grpc\":\"h\",\"git\":\"http://h:2\"}",
      "{\"member\":\"m\",\"grpc\":\"h:1\",\"git\":\"ftp://h:2\"}",
      "{\"member\":\"m\",\"grpc\":\"h:1\",\"git\":\"http://h:2/a b\"}",
      "{\"member\":\"\",\"grpc\":\"h:1\",\"git\":\"http://h:2\"}",
      "{\"member\":1,\"grpc\":\"h:1\",\"git\":\"http://h:2\"}",
  };
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(LeaderRecord::FromJson(text).ok());
  }
  CHECK_FALSE(LeaderRecord::FromJson(std::string(2000, ' ')).ok());
}

TEST_CASE("advertise: defaults from the listen addresses, wildcards refused", "[hub]") {
  CHECK(*AdvertiseGrpc("", "127.0.0.1:0", 4000) == "127.0.0.1:4000");
  CHECK(*AdvertiseGrpc("hub1.example:6001", "0.0.0.0:6001", 6001) == "hub1.example:6001");
  CHECK_FALSE(AdvertiseGrpc("", "0.0.0.0:6001", 6001).ok());
  CHECK_FALSE(AdvertiseGrpc("", "[::]:6001", 6001).ok());
  CHECK_FALSE(AdvertiseGrpc("no-port", "127.0.0.1:1", 1).ok());
  CHECK(*AdvertiseGit("", "127.0.0.1:0", 4001) == "http://127.0.0.1:4001");
  CHECK(*AdvertiseGit("hub1:6002", "0.0.0.0:6002", 6002) == "http://hub1:6002");
  CHECK(*AdvertiseGit("https://git.example/", "0.0.0.0:6002", 6002) == "https://git.example/");
  CHECK_FALSE(AdvertiseGit("", "0.0.0.0:6002", 6002).ok());
  CHECK_FALSE(AdvertiseGit("javascript://x", "127.0.0.1:1", 1).ok());
  CHECK_FALSE(AdvertiseGit("http://a b", "127.0.0.1:1", 1).ok());
}

}  // namespace
}  // namespace skyport::hub::ha
