#include "hub/peer/replica_apply.h"

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "hub/git/pktline.h"

namespace skyport::hub::peer {
namespace {

bool OutOfSync(const std::string& error) {
  return error == "stale info" || error == "already exists" || error == "missing necessary objects";
}

}  // namespace

ReplicaApply::ReplicaApply(RepoStore* store, std::string app, std::vector<PushCommand> commands, PushLimits limits,
                           bool force) {
  std::map<std::string, std::string> current;
  if (auto refs = ListRefs(store->RepoPath(app)); refs.ok())
    for (auto& [id, name] : *refs) current[name] = id;
  for (PushCommand& c : commands) {
    auto it = current.find(c.ref);
    const std::string now = it == current.end() ? std::string(kZeroId) : it->second;
    if (now == c.new_id) ++done_;
    else pending_.push_back(std::move(c));
  }
  if (pending_.empty()) return;
  // A receive-pack body: the commands, a flush, the pack. Non-fast-forward is the leader's call.
  session_ = std::make_unique<PushSession>(
      store, std::move(app), [force](const std::string&, const std::string&) { return force; }, limits);
  std::string body;
  for (const PushCommand& c : pending_) {
    // Encode, not EncodeShort: a peer's ref name of any length must not garble the command list.
    auto line = pkt::Encode(fmt::format("{} {} {}\n", c.old_id, c.new_id, c.ref));
    if (!line.ok()) {
      feed_error_ = line.status();
      return;
    }
    body += *line;
  }
  body += pkt::Flush();
  feed_error_ = session_->Feed(body);
}

ReplicaApply::~ReplicaApply() = default;

void ReplicaApply::Feed(std::string_view pack) {
  if (session_ && feed_error_.ok()) feed_error_ = session_->Feed(pack);
}

ReplicaResult ReplicaApply::Finish() {
  ReplicaResult r;
  r.applied = done_;
  if (!session_) return r;
  if (!feed_error_.ok()) {
    r.status = Status::InvalidArgument("commands: " + feed_error_.message());
    return r;
  }
  auto out = session_->Finish();
  if (!out.ok()) {
    r.status = Status::InvalidArgument(out.status().message());
    return r;
  }
  if (!out->unpack_error.empty()) {
    // A bound or fsck is the pack's fault; anything else (a base or parent this hub lacks) is ours.
    const bool checks = !out->refused_by.empty();
    std::string msg = "unpack: " + out->unpack_error;
    r.status = checks ? Status::InvalidArgument(msg) : Status::FailedPrecondition(msg);
    return r;
  }
  std::string stale, failed;
  for (const RefUpdate& u : out->event.updates) {
    if (u.ok) {
      ++r.applied;
    } else if (OutOfSync(u.error)) {
      if (stale.empty()) stale = fmt::format("{}: {}", u.ref, u.error);
    } else if (failed.empty()) {
      failed = fmt::format("{}: {}", u.ref, u.error);
    }
  }
  if (!failed.empty()) r.status = Status::Internal(failed);
  else if (!stale.empty()) r.status = Status::FailedPrecondition("out of sync with the leader (" + stale + ")");
  return r;
}

Result<RepoRefs> ReadAllRefs(RepoStore* store) {
  RepoRefs out;
  for (const std::string& app : store->Apps()) {
    std::lock_guard<std::mutex> lock(store->WriteLock(app));
    auto refs = ListRefs(store->RepoPath(app));
    if (!refs.ok()) return Status(refs.status().code(), app + ": " + refs.status().message());
    auto& m = out[app];
    for (auto& [id, name] : *refs) m[name] = id;
  }
  return out;
}

}  // namespace skyport::hub::peer
