// etcd watch events as Skyport watch events. Pure: no I/O.
//
// A PUT of an endpoint (route) key is ENDPOINT_PUT (ROUTE_PUT) at the event's
// mod_revision; a DELETE is ENDPOINT_DELETE (ROUTE_DELETE) carrying the entry
// as it was, from the event's prev_kv (which the registry reads itself at
// the revision before the delete and attaches: etcd_prev.h), at the
// revision of the delete. Lease and port keys are not
// events for watchers. A lapsed lease deletes all its keys in one revision,
// so its entries leave together, as with the SQLite store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "registry/etcd_keys.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

// nullopt: a key watchers do not see. DATA_LOSS: a value that does not
// decode (the caller counts and logs it, and goes on).
Result<std::optional<v1::Event>> ToEvent(const EtcdKeys& keys, const mvccpb::Event& e);

struct Delta {
  std::optional<v1::WatchResponse> message;  // nullopt: nothing for this watcher
  size_t undecodable = 0;                     // events skipped as DATA_LOSS
  std::string first_error;                    // the first of them, for the log
};

// One etcd watch response (its events and header revision) as a DELTA for
// a watcher of `app` ("" = every app). The message's revision is `revision`:
// etcd's header revision, up to which the watcher then has every event.
Delta ToDelta(const EtcdKeys& keys, const std::vector<mvccpb::Event>& events,
              int64_t revision, const std::string& app);

// The app an event belongs to (for filtering).
const std::string& EventApp(const v1::Event& e);

}  // namespace skyport::registry
