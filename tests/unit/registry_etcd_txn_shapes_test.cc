// Every Txn the etcd store builds (registry/etcd_plans.h) passes etcd's own
// check of a Txn's shape, which refuses the whole Txn (ErrGRPCDuplicateKey,
// nothing written) when one branch — nested Txns included — puts a key twice
// or puts and deletes it. The check is ported from etcd 3.4.23,
// etcdserver/api/v3rpc/key.go: checkIntervals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "registry/etcd_batch.h"
#include "registry/etcd_plans.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures
using Ops = google::protobuf::RepeatedPtrField<etcdpb::RequestOp>;

const EtcdKeys kKeys("/sky/");

struct Intervals {
  std::set<std::string> puts;
  std::vector<std::pair<std::string, std::string>> dels;  // [key, range_end); "" = the key alone
};

bool Deleted(const std::vector<std::pair<std::string, std::string>>& dels, const std::string& k) {
  for (const auto& [key, end] : dels) {
    if (end.empty() ? k == key : (k >= key && (end == std::string(1, '\0') || k < end))) return true;
  }
  return false;
}

// checkIntervals: this level's deletes first, then the nested Txns' puts
// (a Then and an Else may put the same key), then this level's puts.
std::optional<Intervals> CheckIntervals(const Ops& reqs) {
  Intervals out;
  for (const auto& r : reqs)
    if (r.has_request_delete_range())
      out.dels.emplace_back(r.request_delete_range().key(), r.request_delete_range().range_end());
  for (const auto& r : reqs) {
    if (!r.has_request_txn()) continue;
    auto then = CheckIntervals(r.request_txn().success());
    auto otherwise = CheckIntervals(r.request_txn().failure());
    if (!then || !otherwise) return std::nullopt;
    for (const std::string& k : then->puts) {
      if (out.puts.count(k) || Deleted(out.dels, k)) return std::nullopt;
      out.puts.insert(k);
    }
    for (const std::string& k : otherwise->puts) {
      if ((out.puts.count(k) && !then->puts.count(k)) || Deleted(out.dels, k)) return std::nullopt;
      out.puts.insert(k);
    }
    out.dels.insert(out.dels.end(), then->dels.begin(), then->dels.end());
    out.dels.insert(out.dels.end(), otherwise->dels.begin(), otherwise->dels.end());
  }
  for (const auto& r : reqs) {
    if (!r.has_request_put()) continue;
    const std::string& k = r.request_put().key();
    if (out.puts.count(k) || Deleted(out.dels, k)) return std::nullopt;
    out.puts.insert(k);
  }
  return out;
}

bool EtcdAccepts(const etcdpb::TxnRequest& t) {
  return CheckIntervals(t.success()).has_value() && CheckIntervals(t.failure()).has_value();
}

// etcd 3.4.23's checkTxnRequest: each level's ops (compares, Then, Else,
// whichever is longest) within what the levels above leave of --max-txn-ops.
bool WithinOps(const etcdpb::TxnRequest& t, int max_ops) {
  const int opc = std::max({t.compare_size(), t.success_size(), t.failure_size()});
  if (opc > max_ops) return false;
  for (const auto* ops : {&t.success(), &t.failure()})
    for (const auto& op : *ops)
      if (op.has_request_txn() && !WithinOps(op.request_txn(), max_ops - opc)) return false;
  return true;
}

void Put(Ops* ops, const std::string& key) { ops->Add()->mutable_request_put()->set_key(key); }
void Delete(Ops* ops, const std::string& key) { ops->Add()->mutable_request_delete_range()->set_key(key); }

TEST_CASE("etcd Txn shapes: the ported check refuses what etcd refuses", "[registry][etcd-map]") {
  etcdpb::TxnRequest twice;
  Put(twice.mutable_success(), "a");
  Put(twice.mutable_success(), "a");
  CHECK_FALSE(EtcdAccepts(twice));

  etcdpb::TxnRequest put_and_nested_delete;
  Put(put_and_nested_delete.mutable_success(), "a");
  Delete(put_and_nested_delete.mutable_success()->Add()->mutable_request_txn()->mutable_success(), "a");
  CHECK_FALSE(EtcdAccepts(put_and_nested_delete));

  etcdpb::TxnRequest nested_put_under_delete;
  Delete(nested_put_under_delete.mutable_success(), "a");
  Put(nested_put_under_delete.mutable_success()->Add()->mutable_request_txn()->mutable_failure(), "a");
  CHECK_FALSE(EtcdAccepts(nested_put_under_delete));

  etcdpb::TxnRequest then_and_else;  // one nested Txn's Then and Else: exclusive
  auto* nested = then_and_else.mutable_success()->Add()->mutable_request_txn();
  Put(nested->mutable_success(), "a");
  Put(nested->mutable_failure(), "a");
  CHECK(EtcdAccepts(then_and_else));

  etcdpb::TxnRequest branches;  // the top Then and Else are checked apart
  Put(branches.mutable_success(), "a");
  Put(branches.mutable_failure()->Add()->mutable_request_txn()->mutable_success(), "a");
  Delete(branches.mutable_failure()->Add()->mutable_request_txn()->mutable_success(), "b");
  CHECK(EtcdAccepts(branches));
}

TEST_CASE("etcd Txn shapes: every Txn of the registry's etcd store passes etcd's check", "[registry][etcd-map]") {
  const Allocation a = AllocationFor(AllocReq(7, "h1", 2), 10004);
  const Versioned<Allocation> stale{AllocationFor(AllocReq(7, "h1", 2), 10003), 41};
  CHECK(EtcdAccepts(ReservePortTxn(kKeys, a, std::nullopt)));
  CHECK(EtcdAccepts(ReservePortTxn(kKeys, a, std::nullopt, 0)));
  CHECK(EtcdAccepts(ReservePortTxn(kKeys, a, stale, 40)));

  v1::Endpoint ep = Ep(7, "h1", 10004);
  ep.set_instance(2);
  CHECK(EtcdAccepts(OneTripRegisterTxn(kKeys, ep, 79, 1000)));
  RegisterRead fresh;
  fresh.lease_live = true;
  RegisterRead reserved = fresh;
  reserved.alloc = Versioned<Allocation>{a, 50};
  RegisterRead other_identity = fresh;  // the lease's reservation for another instance
  other_identity.alloc = Versioned<Allocation>{AllocationFor(AllocReq(7, "h1", 3), 10004), 50};
  RegisterRead update = fresh;
  Allocation registered = a;
  registered.endpoint_id = 78;
  update.alloc = Versioned<Allocation>{registered, 51};
  v1::Endpoint old = ep;
  old.set_id(78);
  update.old = Versioned<v1::Endpoint>{old, 52};
  for (const RegisterRead* read : {&fresh, &reserved, &other_identity, &update}) {
    auto plan = PlanRegister(kKeys, ep, *read, 79, 1000);
    REQUIRE(plan.ok());
    CHECK(EtcdAccepts(plan->txn));
  }

  CHECK(EtcdAccepts(DeregisterTxn(kKeys, Versioned<v1::Endpoint>{old, 52}, Versioned<Allocation>{registered, 51})));
  CHECK(EtcdAccepts(DeregisterTxn(kKeys, Versioned<v1::Endpoint>{old, 52}, std::nullopt)));
  CHECK(EtcdAccepts(ReleaseTxn(kKeys, a, 50)));
  CHECK(EtcdAccepts(GrantTxn(kKeys, 7, 0)));
  CHECK(EtcdAccepts(RetireLeaseRecordTxn(kKeys, 7, 3)));
  CHECK(EtcdAccepts(RestoreLeaseTxn(kKeys, 7)));
  v1::RouteConfig r;
  r.set_app("web");
  for (std::optional<int64_t> expected : {std::optional<int64_t>(), std::optional<int64_t>(0),
                                          std::optional<int64_t>(9)}) {
    CHECK(EtcdAccepts(PutRouteTxn(kKeys, r, expected)));
    CHECK(EtcdAccepts(DeleteRouteTxn(kKeys, "web", expected)));
  }
}

TEST_CASE("etcd Txn shapes: batches of Registers and Allocates as the plan forms them pass etcd's checks",
          "[registry][etcd-map]") {
  std::vector<etcdpb::TxnRequest> txns;
  for (uint32_t i = 0; i < 100; ++i) {
    v1::Endpoint ep = Ep(7 + i % 3, "h" + std::to_string(i % 4), 10000 + i % 40);  // ports and identities repeat
    ep.set_instance(i % 5);
    txns.push_back(OneTripRegisterTxn(kKeys, ep, 1000 + i % 70, 1000));
    const Allocation a = AllocationFor(AllocReq(7 + i % 3, "h" + std::to_string(i % 4), i % 5), 10000 + i % 50);
    txns.push_back(ReservePortTxn(kKeys, a, std::nullopt, i % 2 == 0 ? std::optional<int64_t>(0) : 17));
  }
  TxnBatchPlan::Limits limits;
  TxnBatchPlan plan(limits);
  for (uint64_t t = 0; t < txns.size(); ++t) REQUIRE(plan.Add(t, FootprintOf(txns[t]), txns[t].ByteSizeLong(), 0));
  size_t batches = 0, largest = 0;
  while (plan.waiting() > 0) {
    std::vector<etcdpb::TxnRequest> members;
    for (uint64_t t : plan.Next(0).send) members.push_back(txns[t]);
    plan.Done();
    REQUIRE_FALSE(members.empty());
    largest = std::max(largest, members.size());
    ++batches;
    const etcdpb::TxnRequest batch = NestTxns(std::move(members));
    CHECK(EtcdAccepts(batch));
    CHECK(WithinOps(batch, 128));  // etcd's default --max-txn-ops
  }
  CHECK(largest > 1);
  CHECK(largest <= limits.members);
  CHECK(batches > 3);                // the collisions split them

  // A full batch of the deepest member (the one-trip Register) at the limit.
  std::vector<etcdpb::TxnRequest> deep;
  for (uint32_t i = 0; i < limits.members; ++i) deep.push_back(OneTripRegisterTxn(kKeys, Ep(7, "h1", 10000 + i), 100 + i, 1));
  CHECK(WithinOps(NestTxns(deep), 128));
  deep.push_back(deep.back());
  CHECK_FALSE(WithinOps(NestTxns(deep), static_cast<int>(limits.members) + 7));  // the check bites
}

}  // namespace
}  // namespace skyport::registry
