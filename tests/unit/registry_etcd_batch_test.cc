// Group commit on etcd (registry/etcd_batch.h, etcd_batcher.h): which Txns go
// together, how a batch is built and read, and the batcher's promises (sent
// once, answered once as if alone, a refused batch sent again one by one, a
// failed batch failing each member, a full queue refusing).
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "registry/etcd_batch.h"
#include "registry/etcd_batcher.h"
#include "registry/etcd_plans.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures
namespace epb = etcdserverpb;

const EtcdKeys kKeys("/sky/");

// A Txn that compares `read` and puts `write` (either may be empty).
epb::TxnRequest Touching(const std::string& read, const std::string& write) {
  epb::TxnRequest t;
  if (!read.empty()) t.add_compare()->set_key(read);
  if (!write.empty()) t.add_success()->mutable_request_put()->set_key(write);
  return t;
}

TxnFootprint Fp(const std::string& read, const std::string& write) { return FootprintOf(Touching(read, write)); }

TEST_CASE("etcd batch: a Txn's footprint holds every key of every branch", "[registry]") {
  v1::Endpoint ep = Ep(7, "h1", 10004);
  const TxnFootprint one = FootprintOf(OneTripRegisterTxn(kKeys, ep, 79, 1000));
  CHECK(one.batchable);
  Allocation index;
  index.host = "h1";
  index.lease_id = 7;
  SetIdentity(index, ep);
  const std::string port = kKeys.Port("h1", 10004), entry = kKeys.Endpoint(79), unreg = kKeys.Unregistered(index);
  CHECK(one.reads == std::set<std::string>{kKeys.Lease(7), port, entry, unreg});
  CHECK(one.writes == std::set<std::string>{port, entry, unreg});  // the index's delete is two Txns deep

  const TxnFootprint reserve = FootprintOf(ReservePortTxn(kKeys, AllocationFor(AllocReq(7, "h1", 2), 10005),
                                                          Versioned<Allocation>{AllocationFor(AllocReq(7, "h1", 2), 10003), 4}, 0));
  CHECK(reserve.batchable);
  CHECK(reserve.writes.count(kKeys.Port("h1", 10005)) == 1);
  CHECK(reserve.writes.count(kKeys.Port("h1", 10003)) == 1);  // the dropped one

  epb::TxnRequest ranged;  // a range of keys: never batched
  *ranged.add_failure()->mutable_request_range() = RangePrefix(kKeys.PortPrefix(), 0, 0);
  CHECK_FALSE(FootprintOf(ranged).batchable);
  epb::TxnRequest deletes_range;
  auto* del = deletes_range.add_success()->mutable_request_txn()->add_success()->mutable_request_delete_range();
  del->set_key("a");
  del->set_range_end("b");
  CHECK_FALSE(FootprintOf(deletes_range).batchable);
}

TEST_CASE("etcd batch: the plan sends at once while a slot is free, then batches what waits", "[registry]") {
  TxnBatchPlan plan({});
  REQUIRE(plan.Add(1, Fp("lease", "p1"), 100, 0));
  CHECK(plan.Next(0).send == std::vector<uint64_t>{1});  // nothing waits for company
  CHECK(plan.in_flight() == 1);
  REQUIRE(plan.Add(2, Fp("lease", "p2"), 100, 0));
  REQUIRE(plan.Add(3, Fp("lease", "p3"), 100, 0));
  CHECK(plan.Next(0).send.empty());  // the one slot is taken
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{2, 3});  // a key read by all and written by none is shared
  CHECK(plan.waiting() == 0);
  plan.Done();
  CHECK(plan.in_flight() == 0);
  plan.Done();  // one Done too many frees nothing it does not hold
  CHECK(plan.in_flight() == 0);
}

TEST_CASE("etcd batch: members never touch a key another member writes", "[registry]") {
  TxnBatchPlan plan({});
  REQUIRE(plan.Add(100, Fp("", "busy"), 10, 0));
  REQUIRE(plan.Next(0).send.size() == 1);  // the slot is taken: the next ones wait together
  REQUIRE(plan.Add(1, Fp("", "port-a"), 10, 0));
  REQUIRE(plan.Add(2, Fp("", "port-a"), 10, 0));        // the same port: never beside 1
  REQUIRE(plan.Add(3, Fp("port-a", ""), 10, 0));        // reads what 1 and 2 write
  REQUIRE(plan.Add(4, Fp("port-b", "port-c"), 10, 0));
  REQUIRE(plan.Add(5, Fp("", "port-b"), 10, 0));        // writes what 4 reads
  REQUIRE(plan.Add(6, Fp("port-d", "port-e"), 10, 0));
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{1, 4, 6});
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{2, 5});
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{3});
  plan.Done();
  CHECK(plan.Next(0).send.empty());
}

TEST_CASE("etcd batch: members, bytes and the queue are bounded; a range Txn goes alone", "[registry]") {
  TxnBatchPlan::Limits l;
  l.members = 3;
  l.bytes = 1000;
  l.queued = 8;
  TxnBatchPlan plan(l);
  REQUIRE(plan.Add(100, Fp("", "busy"), 10, 0));
  REQUIRE(plan.Next(0).send.size() == 1);
  for (uint64_t t = 1; t <= 5; ++t) REQUIRE(plan.Add(t, Fp("lease", "k" + std::to_string(t)), 10, 0));
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{1, 2, 3});  // members
  plan.Done();
  REQUIRE(plan.Add(6, Fp("lease", "k6"), 985, 0));
  CHECK(plan.Next(0).send == std::vector<uint64_t>{4, 5});  // 6 would pass 1000 bytes
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{6});
  plan.Done();

  epb::TxnRequest ranged;
  *ranged.add_success()->mutable_request_range() = RangePrefix("p/", 0, 0);
  REQUIRE(plan.Add(7, FootprintOf(ranged), 10, 0));
  REQUIRE(plan.Add(8, Fp("lease", "k8"), 10, 0));
  CHECK(plan.Next(0).send == std::vector<uint64_t>{7});
  plan.Done();
  REQUIRE(plan.Add(9, FootprintOf(ranged), 10, 0));
  CHECK(plan.Next(0).send == std::vector<uint64_t>{8});  // 9 cannot join 8
  plan.Done();
  CHECK(plan.Next(0).send == std::vector<uint64_t>{9});

  for (uint64_t t = 10; t < 18; ++t) REQUIRE(plan.Add(t, Fp("", "q" + std::to_string(t)), 1, 0));
  CHECK_FALSE(plan.Add(18, Fp("", "q18"), 1, 0));  // 8 wait: refused
  CHECK(plan.waiting() == 8);

  plan.Shrink();
  CHECK(plan.members_limit() == 1);
  plan.Shrink();
  CHECK(plan.members_limit() == 1);
}

TEST_CASE("etcd batch: a Txn that waited max_wait_ms is handed back expired, never sent", "[registry]") {
  TxnBatchPlan::Limits l;
  l.max_wait_ms = 100;
  TxnBatchPlan plan(l);
  REQUIRE(plan.Add(1, Fp("", "a"), 10, 1000));
  REQUIRE(plan.Next(1000).send == std::vector<uint64_t>{1});  // out, and hanging
  REQUIRE(plan.Add(2, Fp("", "b"), 10, 1010));
  REQUIRE(plan.Add(3, Fp("", "c"), 10, 1050));
  REQUIRE(plan.Add(4, Fp("", "d"), 10, 1105));
  TxnBatchPlan::Batch b = plan.Next(1109);  // nothing has waited 100 ms yet
  CHECK(b.send.empty());
  CHECK(b.expired.empty());
  b = plan.Next(1110);  // the slot is still taken: only the expiry
  CHECK(b.send.empty());
  CHECK(b.expired == std::vector<uint64_t>{2});
  plan.Done();
  b = plan.Next(1150);  // 3 waited exactly 100 ms
  CHECK(b.expired == std::vector<uint64_t>{3});
  CHECK(b.send == std::vector<uint64_t>{4});
  CHECK(plan.waiting() == 0);
}

TEST_CASE("etcd batch: members nest in order and read back their own answers", "[registry]") {
  const epb::TxnRequest batch = NestTxns({Touching("a", "b"), Touching("c", "d")});
  CHECK(batch.compare_size() == 0);
  CHECK(batch.failure_size() == 0);
  REQUIRE(batch.success_size() == 2);
  CHECK(batch.success(1).request_txn().success(0).request_put().key() == "d");

  epb::TxnResponse answer;
  answer.set_succeeded(true);
  answer.mutable_header()->set_revision(42);
  answer.add_responses()->mutable_response_txn()->set_succeeded(true);
  auto* second = answer.add_responses()->mutable_response_txn();
  second->set_succeeded(false);
  second->add_responses()->mutable_response_range()->set_count(1);
  auto first = MemberAnswer(answer, 2, 0);
  REQUIRE(first.ok());
  CHECK(first->succeeded());
  CHECK(first->header().revision() == 42);
  auto other = MemberAnswer(answer, 2, 1);
  REQUIRE(other.ok());
  CHECK_FALSE(other->succeeded());
  CHECK(other->responses(0).response_range().count() == 1);
  CHECK(other->header().revision() == 42);

  CHECK(MemberAnswer(answer, 3, 0).status().code() == Code::kUnavailable);  // an answer short of members
  answer.set_succeeded(false);
  CHECK(MemberAnswer(answer, 2, 0).status().code() == Code::kUnavailable);

  CHECK(BatchRefusedUnapplied(Code::kInvalidArgument));
  CHECK(BatchRefusedUnapplied(Code::kNotFound));
  CHECK_FALSE(BatchRefusedUnapplied(Code::kUnavailable));        // may have been applied
  CHECK_FALSE(BatchRefusedUnapplied(Code::kDeadlineExceeded));   // may have been applied
  CHECK_FALSE(BatchRefusedUnapplied(Code::kResourceExhausted));  // an answer too large came after applying
}

// The batcher over a fake etcd that holds every Txn until the test answers it.
struct Held {
  epb::TxnRequest txn;
  TxnBatcher::Answer answer;
};
struct Fixture {
  FakeClock clock;
  std::vector<Held> sent;
  std::vector<std::optional<Result<epb::TxnResponse>>> got;
  TxnBatcher batcher{[this](epb::TxnRequest t, TxnBatcher::Answer a) { sent.push_back({std::move(t), std::move(a)}); },
                     TxnBatchPlan::Limits{}, &clock};

  size_t Send(const std::string& read, const std::string& write) {
    const size_t i = got.size();
    got.emplace_back();
    batcher.Txn(Touching(read, write), [this, i](Result<epb::TxnResponse> r) {
      REQUIRE_FALSE(got[i].has_value());  // once
      got[i] = std::move(r);
    });
    return i;
  }
  // Answers sent Txn `i`: each member (or the Txn alone) succeeded or not.
  void Answer(size_t i, std::vector<bool> succeeded, int64_t revision) {
    epb::TxnResponse r;
    r.mutable_header()->set_revision(revision);
    if (sent[i].txn.compare_size() == 0 && sent[i].txn.success_size() > 0 && sent[i].txn.success(0).has_request_txn()) {
      r.set_succeeded(true);
      for (bool ok : succeeded) r.add_responses()->mutable_response_txn()->set_succeeded(ok);
    } else {
      r.set_succeeded(succeeded.at(0));
    }
    Take(i)(std::move(r));
  }
  TxnBatcher::Answer Take(size_t i) {
    auto a = std::move(sent[i].answer);
    sent[i].answer = nullptr;
    return a;
  }
};

TEST_CASE("etcd batcher: alone at once, then the waiting ones in one Txn, each answered as if alone", "[registry]") {
  Fixture f;
  const size_t a = f.Send("lease", "p1");
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].txn.success(0).request_put().key() == "p1");  // not wrapped
  const size_t b = f.Send("lease", "p2"), c = f.Send("lease", "p3"), d = f.Send("", "p2");
  CHECK(f.sent.size() == 1);  // waiting for the slot
  f.Answer(0, {true}, 10);
  REQUIRE(f.got[a].has_value());
  CHECK(f.got[a]->ok());
  REQUIRE(f.sent.size() == 2);
  REQUIRE(f.sent[1].txn.success_size() == 2);  // b and c; d writes p2 as b does
  CHECK_FALSE(f.got[b].has_value());
  f.Answer(1, {true, false}, 11);
  REQUIRE(f.got[b].has_value());
  REQUIRE(f.got[b]->ok());
  CHECK((*f.got[b])->succeeded());
  CHECK((*f.got[b])->header().revision() == 11);
  REQUIRE(f.got[c]->ok());
  CHECK_FALSE((*f.got[c])->succeeded());  // its own compares failed; b's stand
  REQUIRE(f.sent.size() == 3);            // d, alone
  f.Answer(2, {true}, 12);
  CHECK(f.got[d]->ok());

  std::string text;
  {
    PromText out;
    f.batcher.WriteMetrics(out);
    text = out.Take();
  }
  CHECK(text.find("skyport_registry_etcd_txn_batches_total 1\n") != std::string::npos);
  CHECK(text.find("skyport_registry_etcd_batched_txns_total 2\n") != std::string::npos);
}

TEST_CASE("etcd batcher: a batch etcd refused unapplied goes again one by one; other failures fail each member",
          "[registry]") {
  Fixture f;
  f.Send("", "p0");
  const size_t a = f.Send("", "p1"), b = f.Send("", "p2");
  f.Answer(0, {true}, 5);
  REQUIRE(f.sent.size() == 2);
  f.Take(1)(Status::InvalidArgument("etcdserver: too many operations in txn request"));
  CHECK_FALSE(f.got[a].has_value());  // not answered with the batch's refusal
  REQUIRE(f.sent.size() == 4);        // each alone, not wrapped
  CHECK(f.sent[2].txn.success(0).request_put().key() == "p1");
  CHECK(f.sent[3].txn.success(0).request_put().key() == "p2");
  f.Answer(3, {true}, 7);
  f.Answer(2, {false}, 7);
  CHECK((*f.got[a])->succeeded() == false);
  CHECK((*f.got[b])->succeeded());

  // Shrunk to 32: still batches.
  f.Send("", "p3");
  const size_t c = f.Send("", "p4"), d = f.Send("", "p5");
  f.Answer(4, {true}, 8);
  REQUIRE(f.sent.size() == 6);
  REQUIRE(f.sent[5].txn.success_size() == 2);
  f.Take(5)(Status::Unavailable("etcd Txn via x: connection reset (the outcome is unknown)"));
  REQUIRE(f.got[c].has_value());
  CHECK(f.got[c]->status().code() == Code::kUnavailable);  // may have been applied: never sent again
  CHECK(f.got[d]->status().code() == Code::kUnavailable);
  CHECK(f.sent.size() == 6);
}

TEST_CASE("etcd batcher: writes that waited out the timeout behind a hanging batch are refused unsent",
          "[registry]") {
  std::vector<Held> sent;
  FakeClock clock;
  TxnBatchPlan::Limits l;
  l.max_wait_ms = 5000;
  TxnBatcher batcher([&](epb::TxnRequest t, TxnBatcher::Answer a) { sent.push_back({std::move(t), std::move(a)}); },
                     l, &clock);
  std::optional<Result<epb::TxnResponse>> first, second, third;
  batcher.Txn(Touching("", "k1"), [&](Result<epb::TxnResponse> r) { first = std::move(r); });
  REQUIRE(sent.size() == 1);
  batcher.Txn(Touching("", "k2"), [&](Result<epb::TxnResponse> r) { second = std::move(r); });
  clock.AdvanceMs(4000);
  batcher.Txn(Touching("", "k3"), [&](Result<epb::TxnResponse> r) { third = std::move(r); });
  clock.AdvanceMs(1000);  // k1 hangs for its whole deadline
  auto answer = std::move(sent[0].answer);
  answer(Status::DeadlineExceeded("etcd Txn via x: deadline exceeded"));
  REQUIRE(first.has_value());
  CHECK(first->status().code() == Code::kDeadlineExceeded);
  REQUIRE(second.has_value());  // waited 5 s behind k1: refused, never sent
  CHECK(second->status().code() == Code::kUnavailable);
  CHECK(second->status().message().find("nothing was sent") != std::string::npos);
  CHECK_FALSE(third.has_value());  // waited 1 s: sent
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].txn.success(0).request_put().key() == "k3");
  PromText out;
  batcher.WriteMetrics(out);
  CHECK(out.Take().find("skyport_registry_etcd_txn_wait_expired_total 1\n") != std::string::npos);
}

TEST_CASE("etcd batcher: a full queue refuses at once and sends nothing", "[registry]") {
  std::vector<Held> sent;
  TxnBatchPlan::Limits l;
  l.queued = 2;
  FakeClock clock;
  TxnBatcher batcher([&](epb::TxnRequest t, TxnBatcher::Answer a) { sent.push_back({std::move(t), std::move(a)}); },
                     l, &clock);
  int answered = 0;
  std::optional<Status> refused;
  for (int i = 0; i < 3; ++i)
    batcher.Txn(Touching("", "k" + std::to_string(i)), [&](Result<epb::TxnResponse>) { ++answered; });
  CHECK(sent.size() == 1);  // one out, two waiting
  batcher.Txn(Touching("", "k9"), [&](Result<epb::TxnResponse> r) { refused = r.status(); });
  REQUIRE(refused.has_value());
  CHECK(refused->code() == Code::kUnavailable);
  CHECK(sent.size() == 1);
  PromText out;
  batcher.WriteMetrics(out);
  CHECK(out.Take().find("skyport_registry_etcd_txn_queue_full_total 1\n") != std::string::npos);
  CHECK(answered == 0);
}

}  // namespace
}  // namespace skyport::registry
