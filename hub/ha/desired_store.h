// The hub's desired state in etcd (--store etcd): one key,
// <prefix>hub/desired, holding DesiredState's JSON, written only by the
// leader.
//
// What it promises:
// - Every write is one Txn through the leader fence (FencedKv::txn) that also
//   compares the key's mod_revision with the one this store last wrote or
//   loaded: a write whose answer was lost and that etcd applies late can
//   never land over a newer one (it would bring back a deployment the user
//   has stopped since).
// - A lost answer (UNAVAILABLE) is resolved by reading the key back: our
//   value there -> OK; the revision we knew -> UNAVAILABLE "not written"
//   (the caller keeps its old state; the command can be sent again); a
//   later write that finds our lost one landed after all adopts it and
//   writes on top.
// - Anything else in the key means another writer: `on_conflict` runs once
//   (the daemon ends, as on deposition, and the next leader loads what etcd
//   holds) and every later Save is ABORTED.
// Thread-safe (one lock; Save blocks on etcd).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/status.h"
#include "hub/ha/fenced_kv.h"

namespace skyport::hub::ha {

// What a read of the key says about a write (pure).
enum class DesiredSeen {
  kOurs,         // it holds the value we are writing: it landed
  kUnchanged,    // the revision we knew: our write did not land (yet)
  kLostLanded,   // it holds the write whose answer we lost: adopt its revision
  kForeign,      // someone else's write
};
DesiredSeen ClassifyDesired(const std::optional<std::string>& value, int64_t mod_revision, int64_t known_revision,
                            const std::string& writing, const std::optional<std::string>& lost);

class DesiredStore {
 public:
  DesiredStore(FencedKv kv, std::string key, std::function<void(const std::string& reason)> on_conflict);

  // The value (nullopt when absent), learning its revision: call it on
  // takeover, before any Save.
  Result<std::optional<std::string>> Load();
  Status Save(const std::string& json);
  // skyport_hub_desired_unknown_outcomes_total, skyport_hub_desired_conflicts_total.
  std::string MetricsText() const;

 private:
  struct Read {
    std::optional<std::string> value;
    int64_t mod = 0;
  };
  static Read FromRange(const etcdserverpb::RangeResponse& r);
  Status ConflictLocked(const std::string& why);

  const FencedKv kv_;
  const std::string key_;
  const std::function<void(const std::string&)> on_conflict_;
  mutable std::mutex mu_;
  int64_t known_ = -1;                 // guarded by mu_: the key's mod_revision as we know it; -1 = not loaded
  std::optional<std::string> lost_;    // guarded by mu_: a write whose answer was lost, not seen landed
  bool conflict_ = false;              // guarded by mu_
  uint64_t unknown_outcomes_ = 0, conflicts_ = 0;  // guarded by mu_
};

}  // namespace skyport::hub::ha
