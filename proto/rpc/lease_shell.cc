#include "rpc/lease_shell.h"

namespace skyport::rpc {

LeaseShell::LeaseShell(LeaseCalls* calls, Random* random, uint32_t ttl_seconds, LeaseTiming timing, uint64_t lease,
                       int64_t now)
    : calls_(calls), random_(random), ttl_seconds_(ttl_seconds), keeper_(timing, lease, now) {}

LeaseTurn LeaseShell::Step(int64_t now, const v1::Endpoint* to_register) {
  LeaseTurn turn;
  turn.step = keeper_.Next(now, to_register != nullptr);
  turn.lease = keeper_.lease();
  turn.failures_before = keeper_.failures();
  switch (turn.step) {
    case LeaseStep::kWait:
      return turn;
    case LeaseStep::kGrant: {
      auto granted = calls_->Grant(ttl_seconds_);
      turn.status = granted.status();
      turn.outcome = keeper_.OnGrant(now, turn.status, granted.ok() ? *granted : 0, random_->Uniform01());
      turn.lease = keeper_.lease();
      return turn;
    }
    case LeaseStep::kKeepAlive:
      turn.status = calls_->KeepAlive(turn.lease);
      turn.outcome = keeper_.OnKeepAlive(now, turn.status, random_->Uniform01());
      return turn;
    case LeaseStep::kRegister: {
      v1::Endpoint ep = *to_register;
      ep.set_lease_id(turn.lease);
      auto id = calls_->Register(ep);
      turn.status = id.status();
      turn.outcome = keeper_.OnRegister(now, turn.status, random_->Uniform01());
      if (id.ok()) turn.entry_id = *id;
      return turn;
    }
    case LeaseStep::kAudit: {
      auto entries = calls_->Entries(turn.lease);
      turn.status = entries.status();
      turn.outcome = keeper_.OnAudit(now, turn.status, random_->Uniform01());
      if (entries.ok())
        for (v1::Endpoint& ep : *entries)
          if (ep.lease_id() == turn.lease) {  // a registry that ignores the filter
            turn.held.push_back(ep.id());
            turn.entries.push_back(std::move(ep));
          }
      return turn;
    }
  }
  return turn;
}

void LeaseShell::Failed(int64_t now) { keeper_.OnFailure(now, random_->Uniform01()); }

}  // namespace skyport::rpc
