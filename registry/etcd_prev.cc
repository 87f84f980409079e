#include "registry/etcd_prev.h"

#include <algorithm>

#include "rpc/etcd_endpoints.h"

namespace skyport::registry {
namespace {

bool NeedsPrev(const EtcdKeys& keys, const mvccpb::Event& e) {
  if (e.type() != mvccpb::Event::DELETE || e.has_prev_kv()) return false;
  const KeyKind kind = keys.Parse(e.kv().key()).kind;
  return kind == KeyKind::kEndpoint || kind == KeyKind::kRoute;
}

// The reads for the deleted keys of one kind in one revision (sorted).
void PlanGroup(int64_t revision, const std::vector<std::string>& sorted, std::vector<PrevRead>& out) {
  if (sorted.empty()) return;
  if (sorted.size() <= kMaxKeyReads) {
    for (const auto& k : sorted) out.push_back(PrevRead{revision - 1, k, ""});
    return;
  }
  // One span: the smallest key to just past the largest.
  out.push_back(PrevRead{revision - 1, sorted.front(), sorted.back() + std::string(1, '\0')});
}

}  // namespace

etcd::WatchSpec RegistryWatchSpec(const EtcdKeys& keys, int64_t start_revision) {
  etcd::WatchSpec spec;
  spec.key = keys.root();
  spec.range_end = etcd::PrefixEnd(keys.root());
  spec.start_revision = start_revision;
  spec.prev_kv = false;  // see the header: O(K^2) in etcd for K deletes in one revision
  return spec;
}

PrevPlan PlanPrevReads(const EtcdKeys& keys, const std::vector<mvccpb::Event>& events) {
  PrevPlan plan;
  // Events come in revision order; a group is one revision's deletes of one kind.
  int64_t rev = 0;
  std::vector<std::string> endpoints, routes;
  auto flush = [&] {
    std::sort(endpoints.begin(), endpoints.end());
    std::sort(routes.begin(), routes.end());
    PlanGroup(rev, endpoints, plan.reads);
    PlanGroup(rev, routes, plan.reads);
    endpoints.clear();
    routes.clear();
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const mvccpb::Event& e = events[i];
    if (!NeedsPrev(keys, e)) continue;
    const int64_t r = e.kv().mod_revision();
    if (r != rev) {
      flush();
      rev = r;
    }
    if (!plan.wanted.emplace(PrevKey{r, e.kv().key()}, i).second) continue;  // one key deleted once a revision
    (keys.Parse(e.kv().key()).kind == KeyKind::kEndpoint ? endpoints : routes).push_back(e.kv().key());
  }
  flush();
  return plan;
}

size_t AttachPrev(const PrevPlan& plan, int64_t read_at,
                  const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs,
                  std::vector<mvccpb::Event>& events) {
  size_t attached = 0;
  for (const auto& kv : kvs) {
    auto it = plan.wanted.find(PrevKey{read_at + 1, kv.key()});
    if (it == plan.wanted.end()) continue;
    mvccpb::Event& e = events[it->second];
    if (e.has_prev_kv()) continue;
    *e.mutable_prev_kv() = kv;
    ++attached;
  }
  return attached;
}

}  // namespace skyport::registry
