#include "hub/ha/election.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/address_list.h"
#include "hub/ha/advertise.h"

namespace skyport::hub::ha {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxField = 512;

}  // namespace

std::string LeaderRecord::ToJson() const {
  return nlohmann::json{{"member", member}, {"grpc", grpc}, {"git", git}}.dump();
}

Result<LeaderRecord> LeaderRecord::FromJson(std::string_view text) {
  if (text.size() > kMaxLeaderRecordBytes)
    return Status::InvalidArgument(fmt::format("leader record: {} bytes, at most {}", text.size(), kMaxLeaderRecordBytes));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument("leader record: not a JSON object");
  LeaderRecord r;
  for (auto [name, field] : {std::pair{"member", &r.member}, {"grpc", &r.grpc}, {"git", &r.git}}) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return Status::InvalidArgument(fmt::format("leader record: {} missing", name));
    *field = it->get<std::string>();
  }
  if (r.member.empty() || r.member.size() > kMaxField) return Status::InvalidArgument("leader record: bad member");
  if (Status s = ValidateAddress("grpc", r.grpc); !s.ok()) return Status::InvalidArgument("leader record: " + s.message());
  if (Status s = CheckGitUrl("git", r.git); !s.ok()) return Status::InvalidArgument("leader record: " + s.message());
  return r;
}

Election::Next Election::Step(int64_t now) {
  if (role_ == Role::kDeposed) return {Action::kNone, kNever};
  if (role_ == Role::kLeader && now >= valid_until_ms_) {
    Depose("no keep-alive answered within the lease TTL: the lease may have expired");
    return {Action::kNone, kNever};
  }
  // A candidate's lapsed lease is given up (a leader's cannot lapse here: see above).
  if (lease_id_ != 0 && now >= valid_until_ms_ && !keepalive_out_) lease_id_ = 0;
  if (lease_id_ == 0) {
    if (!grant_out_ && now >= retry_at_ms_) {
      grant_out_ = true;
      return {Action::kGrantLease, now};
    }
  } else {
    if (!keepalive_out_ && now >= next_keepalive_ms_) {
      keepalive_out_ = true;
      return {Action::kKeepAlive, now};
    }
    if (role_ == Role::kCandidate && key_absent_ && !campaign_out_ && now >= retry_at_ms_) {
      campaign_out_ = true;
      ++campaigns_;
      return {Action::kCampaign, now};
    }
  }
  int64_t wake = kNever;
  if (lease_id_ == 0 && !grant_out_) wake = retry_at_ms_;
  if (lease_id_ != 0) {
    if (!keepalive_out_) wake = std::min(wake, next_keepalive_ms_);
    if (role_ == Role::kLeader) wake = std::min(wake, valid_until_ms_);
    if (role_ == Role::kCandidate && key_absent_ && !campaign_out_) wake = std::min(wake, retry_at_ms_);
  }
  return {Action::kNone, std::max(wake, now + 1)};
}

void Election::LeaseGranted(int64_t sent_ms, int64_t lease_id, int64_t ttl_ms) {
  grant_out_ = false;
  if (role_ == Role::kDeposed) return;
  lease_id_ = lease_id;
  ttl_ms_ = std::min(ttl_ms, t_.ttl_ms);  // etcd may grant more; we count the shorter
  valid_until_ms_ = sent_ms + ttl_ms_;
  next_keepalive_ms_ = sent_ms + Interval();
}

void Election::LeaseFailed(int64_t now_ms) {
  grant_out_ = false;
  retry_at_ms_ = now_ms + t_.retry_ms;
}

void Election::KeepAliveDone(int64_t lease_id, int64_t sent_ms, int64_t now_ms, Code code) {
  keepalive_out_ = false;
  if (role_ == Role::kDeposed || lease_id != lease_id_) return;  // an answer for a lease given up
  if (code == Code::kOk) {
    valid_until_ms_ = std::max(valid_until_ms_, sent_ms + ttl_ms_);
    next_keepalive_ms_ = std::max(sent_ms + Interval(), now_ms);
  } else if (code == Code::kNotFound) {
    if (role_ == Role::kLeader) return Depose("etcd no longer has our lease");
    lease_id_ = 0;
    retry_at_ms_ = now_ms;
  } else {
    next_keepalive_ms_ = now_ms + std::min(Interval(), t_.retry_ms);
  }
}

void Election::CampaignDone(int64_t now_ms, const CampaignOutcome& o) {
  campaign_out_ = false;
  if (role_ != Role::kCandidate) return;
  retry_at_ms_ = now_ms + t_.retry_ms;
  if (!Fresh(o.revision)) return;  // a watch event told us newer news; key_absent_ says what to do
  const bool won = o.succeeded || (lease_id_ != 0 && o.lease == lease_id_ && o.create_revision != 0);
  if (won) {
    role_ = Role::kLeader;
    leader_create_rev_ = o.succeeded ? o.revision : o.create_revision;
    leader_ = me_;
    key_absent_ = false;
    ++won_;
    return;
  }
  key_absent_ = o.create_revision == 0;
  leader_create_rev_ = o.create_revision;
  if (key_absent_) leader_.reset(); else leader_ = o.record;
}

void Election::CampaignFailed(int64_t now_ms) {
  campaign_out_ = false;
  retry_at_ms_ = now_ms + t_.retry_ms;
}

void Election::LeaderKeyDeleted(int64_t revision) {
  if (role_ == Role::kDeposed || !Fresh(revision)) return;
  if (role_ == Role::kLeader) return Depose("the leader key was deleted (lease expired or removed by hand)");
  key_absent_ = true;
  leader_.reset();
  leader_create_rev_ = 0;
}

void Election::LeaderKeyPut(int64_t revision, int64_t create_revision, std::optional<LeaderRecord> record) {
  if (role_ == Role::kDeposed || !Fresh(revision)) return;
  if (role_ == Role::kLeader) {
    if (create_revision != leader_create_rev_) Depose("another hub holds the leader key");
    return;
  }
  key_absent_ = false;
  leader_create_rev_ = create_revision;
  leader_ = std::move(record);
}

void Election::WatchLost() {
  if (role_ == Role::kCandidate) key_absent_ = true;  // the campaign Txn reads the key again
}

void Election::Depose(std::string reason) {
  role_ = Role::kDeposed;
  deposed_reason_ = std::move(reason);
  leader_.reset();
}

bool Election::Fresh(int64_t revision) {
  if (revision < key_revision_) return false;
  key_revision_ = revision;
  return true;
}

}  // namespace skyport::hub::ha
