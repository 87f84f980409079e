// The two etcd calls a leader-only store makes (the flight store, the desired
// state); the daemon binds them to the leader, unit tests to a fake etcd.
#pragma once

#include <functional>

#include "core/status.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace skyport::hub {

struct FencedKv {
  // Fenced: applies only while this hub leads (hub/ha/leadership.h FencedTxn);
  // FAILED_PRECONDITION when it does not (nothing written), UNAVAILABLE when
  // etcd's answer was lost (the outcome is unknown).
  std::function<Result<etcdserverpb::TxnResponse>(etcdserverpb::TxnRequest)> txn;
  std::function<Result<etcdserverpb::RangeResponse>(etcdserverpb::RangeRequest)> range;
};

}  // namespace skyport::hub
