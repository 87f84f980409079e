// etcd in memory for the unit tests of the leader-only stores (flights,
// desired state): revisions, MOD compares, put, delete range, ranges with
// limit/more and either key order, and the faults they must survive (a lost answer, applied or
// held back to be applied late; a writer fenced out; reads failing).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "hub/ha/fenced_kv.h"

namespace skyport::hub {

// etcd in memory: what the store relies on (revisions, MOD compares, put,
// delete range, ranges with limit/more), plus the faults it must survive.
class FakeEtcd {
 public:
  struct Kv {
    std::string value;
    int64_t mod = 0;
  };
  enum class Fault { kNone, kLoseAnswerApplied, kLoseAnswerNotApplied };
  std::map<std::string, Kv> kvs;
  int64_t revision = 1;
  bool leading = true;
  Fault fault = Fault::kNone;
  bool range_fails = false;
  int txns = 0;
  std::vector<etcdserverpb::TxnRequest> held;  // "not applied" writes etcd may still apply late

  FencedKv Bind() {
    return {[this](etcdserverpb::TxnRequest t) { return Txn(std::move(t)); },
            [this](etcdserverpb::RangeRequest r) { return Range(std::move(r)); }};
  }

  Result<etcdserverpb::TxnResponse> Txn(etcdserverpb::TxnRequest t) {
    ++txns;
    if (!leading) return Status::FailedPrecondition("this hub is no longer the leader; nothing written");
    const Fault f = fault;
    fault = Fault::kNone;
    if (f == Fault::kLoseAnswerNotApplied) {
      held.push_back(t);
      return Status::Unavailable("etcd Txn: answer lost");
    }
    auto res = Apply(t);
    if (f == Fault::kLoseAnswerApplied) return Status::Unavailable("etcd Txn: answer lost");
    return res;
  }

  etcdserverpb::TxnResponse Apply(const etcdserverpb::TxnRequest& t) {
    bool ok = true;
    for (const auto& c : t.compare()) {
      REQUIRE(c.target() == etcdserverpb::Compare::MOD);
      auto it = kvs.find(c.key());
      ok = ok && (it == kvs.end() ? 0 : it->second.mod) == c.mod_revision();
    }
    etcdserverpb::TxnResponse res;
    res.set_succeeded(ok);
    const int64_t rev = ok ? ++revision : revision;
    for (const auto& op : ok ? t.success() : t.failure()) {
      if (op.has_request_put()) {
        kvs[op.request_put().key()] = {op.request_put().value(), rev};
      } else if (op.has_request_delete_range()) {
        const auto& d = op.request_delete_range();
        kvs.erase(kvs.lower_bound(d.key()), kvs.lower_bound(d.range_end()));
      } else {
        etcdserverpb::RangeRequest r = op.request_range();
        *res.add_responses()->mutable_response_range() = *Range(r);
      }
    }
    res.mutable_header()->set_revision(rev);
    return res;
  }

  Result<etcdserverpb::RangeResponse> Range(etcdserverpb::RangeRequest r) {
    if (range_fails) return Status::Unavailable("etcd Range: no endpoint answers");
    etcdserverpb::RangeResponse out;
    out.mutable_header()->set_revision(revision);
    auto it = kvs.lower_bound(r.key());
    auto end = kvs.lower_bound(r.range_end().empty() ? r.key() + std::string(1, '\0') : r.range_end());
    std::vector<decltype(it)> found;
    for (; it != end; ++it) found.push_back(it);
    if (r.sort_order() == etcdserverpb::RangeRequest::DESCEND) std::reverse(found.begin(), found.end());
    for (auto f : found) {
      if (r.limit() > 0 && out.kvs_size() == r.limit()) {
        out.set_more(true);
        break;
      }
      auto* kv = out.add_kvs();
      kv->set_key(f->first);
      kv->set_value(f->second.value);
      kv->set_mod_revision(f->second.mod);
    }
    return out;
  }

  size_t Count(const std::string& prefix) const {
    size_t n = 0;
    for (const auto& [k, v] : kvs) n += k.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
};

}  // namespace skyport::hub
