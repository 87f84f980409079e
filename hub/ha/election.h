// Leader election among hubs, as a pure state machine (no I/O, no clock):
// the shell (hub/ha/leadership.h) asks Step(now) what to send to etcd, sends
// it, and feeds each outcome back with the time it was SENT.
//
// The protocol (etcd keys under <prefix>hub/):
//   - every hub holds an etcd lease of `ttl_ms`, kept alive `keepalives_per_ttl`
//     times per TTL; a lease etcd has lost is granted again;
//   - a hub campaigns while the leader key is absent (or unknown): a Txn
//     "create_revision(leader) == 0 -> Put(leader, me, lease)" whose else
//     branch reads the key. It wins when the Txn succeeded, or when the key
//     it reads carries its own lease (a repeated Txn whose first try had an
//     unknown outcome);
//   - losers learn the leader from the key and wait for its deletion (a dead
//     leader's key goes when etcd expires its lease), then campaign again.
//
// Fencing: a lease etcd renewed on a keep-alive SENT at t lives at least
// until t + ttl, so a leader counts its lease valid until the send time of
// its last answered keep-alive + ttl, and stops leading at that moment even
// if etcd is silent (`Leading(now)` is false from then on, and the next Step
// deposes it). Deposition is final: the daemon ends the process so that every
// piece of leader-only work stops with it (docs/architecture.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub::ha {

// The leader key's value: who leads and where to reach it.
struct LeaderRecord {
  std::string member;  // random id of the hub process
  std::string grpc;    // HOST:PORT (--advertise)
  std::string git;     // base URL of the git listener (--advertise-git)
  bool operator==(const LeaderRecord&) const = default;
  std::string ToJson() const;
  // Bounded (kMaxLeaderRecordBytes), every field checked: grpc a HOST:PORT,
  // git an http(s) URL without spaces or control characters.
  static Result<LeaderRecord> FromJson(std::string_view text);
};
inline constexpr size_t kMaxLeaderRecordBytes = 1024;

struct ElectionTimings {
  int64_t ttl_ms = 2000;
  int keepalives_per_ttl = 4;
  int64_t retry_ms = 200;  // after a failed grant or campaign
};

enum class Role { kCandidate, kLeader, kDeposed };
enum class Action { kNone, kGrantLease, kKeepAlive, kCampaign };

struct CampaignOutcome {
  int64_t revision = 0;     // the answer's header revision
  bool succeeded = false;   // the Txn's compare held: our Put went in
  // The leader key as read by the else branch (succeeded == false); a
  // missing key (deleted between compare and read cannot happen in one Txn,
  // but a garbled answer can) has create_revision 0.
  int64_t create_revision = 0;
  int64_t lease = 0;
  std::optional<LeaderRecord> record;  // nullopt: value unreadable
};

class Election {
 public:
  Election(ElectionTimings t, LeaderRecord me) : t_(t), me_(std::move(me)) {}

  struct Next {
    Action action = Action::kNone;
    int64_t wake_ms = 0;  // ask again at the latest then (when action == kNone)
  };
  // One call to make now (at most one of each kind is out at a time), or
  // kNone with the time to ask again. Deposes a leader whose lease may have
  // expired.
  Next Step(int64_t now_ms);

  void LeaseGranted(int64_t sent_ms, int64_t lease_id, int64_t ttl_ms);
  void LeaseFailed(int64_t now_ms);
  // `code`: kOk (renewed), kNotFound (etcd no longer has the lease), other: unknown.
  void KeepAliveDone(int64_t lease_id, int64_t sent_ms, int64_t now_ms, Code code);
  void CampaignDone(int64_t now_ms, const CampaignOutcome& o);
  void CampaignFailed(int64_t now_ms);
  // A watch event on the leader key at `revision`: deleted, or put (then
  // create_revision and record, nullopt when unreadable).
  void LeaderKeyDeleted(int64_t revision);
  void LeaderKeyPut(int64_t revision, int64_t create_revision, std::optional<LeaderRecord> record);
  // The watch ended (compaction): what we know of the key may be stale.
  void WatchLost();

  Role role() const { return role_; }
  bool Leading(int64_t now_ms) const { return role_ == Role::kLeader && now_ms < valid_until_ms_; }
  int64_t lease_id() const { return lease_id_; }
  // The leader key's create_revision while we lead (fences our writes).
  int64_t my_create_revision() const { return role_ == Role::kLeader ? leader_create_rev_ : 0; }
  // The leader as last known ("" fields when none is known).
  const std::optional<LeaderRecord>& leader() const { return leader_; }
  const std::string& deposed_reason() const { return deposed_reason_; }
  uint64_t elections_won() const { return won_; }
  uint64_t campaigns() const { return campaigns_; }

 private:
  void Depose(std::string reason);
  bool Fresh(int64_t revision);  // newer than what we know of the key
  int64_t Interval() const { return std::max<int64_t>(1, ttl_ms_ / std::max(1, t_.keepalives_per_ttl)); }

  const ElectionTimings t_;
  const LeaderRecord me_;
  Role role_ = Role::kCandidate;
  int64_t lease_id_ = 0;
  int64_t ttl_ms_ = 0;            // the lease's TTL as we count it
  int64_t valid_until_ms_ = 0;   // our lease lives at least until then
  int64_t next_keepalive_ms_ = 0;
  int64_t retry_at_ms_ = 0;
  bool grant_out_ = false, keepalive_out_ = false, campaign_out_ = false;
  bool key_absent_ = true;       // or unknown: campaign (the Txn reads it)
  int64_t key_revision_ = 0;     // revision of what we know of the key
  int64_t leader_create_rev_ = 0;
  std::optional<LeaderRecord> leader_;
  std::string deposed_reason_;
  uint64_t won_ = 0, campaigns_ = 0;
};

}  // namespace skyport::hub::ha
