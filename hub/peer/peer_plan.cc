#include "hub/peer/peer_plan.h"

#include <fmt/format.h>

#include <set>

namespace skyport::hub::peer {
namespace {

constexpr size_t kMaxReasonBytes = 400;

AppSync PlanApp(const std::string& app, const RefMap& ours, const RefMap& theirs, SyncMode mode, size_t max_refs,
                size_t max_haves) {
  AppSync s;
  s.app = app;
  auto add = [&](const std::string& ref, const std::string& old_id, const std::string& new_id) {
    if (s.commands.size() >= max_refs) {
      s.truncated = true;
      return;
    }
    s.commands.push_back({old_id, new_id, ref});
  };
  for (const auto& [ref, id] : theirs) {
    auto it = ours.find(ref);
    if (it == ours.end()) add(ref, std::string(kZeroId), id);
    else if (it->second != id) add(ref, it->second, id);
  }
  if (mode == SyncMode::kMirror) {
    for (const auto& [ref, id] : ours)
      if (!theirs.count(ref)) add(ref, id, std::string(kZeroId));
  }
  std::set<std::string> wants, haves;
  for (const PushCommand& c : s.commands)
    if (c.new_id != kZeroId) wants.insert(c.new_id);
  for (const auto& [ref, id] : ours) {
    if (haves.size() >= max_haves) break;  // fewer haves: a larger pack, never a wrong one
    haves.insert(id);
  }
  s.wants.assign(wants.begin(), wants.end());
  s.haves.assign(haves.begin(), haves.end());
  return s;
}

}  // namespace

std::vector<AppSync> PlanSync(const RepoRefs& ours, const RepoRefs& theirs, SyncMode mode, size_t max_refs,
                              size_t max_haves) {
  static const RefMap kNone;
  std::vector<AppSync> out;
  for (const auto& [app, refs] : theirs) {
    auto it = ours.find(app);
    AppSync s = PlanApp(app, it == ours.end() ? kNone : it->second, refs, mode, max_refs, max_haves);
    if (!s.commands.empty()) out.push_back(std::move(s));
  }
  return out;
}

CopiesDecision DecideCopies(int min_copies, const std::vector<PeerResult>& results) {
  CopiesDecision d;
  for (const PeerResult& r : results) d.copies += r.ok ? 1 : 0;
  d.ok = d.copies >= min_copies;
  if (d.ok) return d;
  std::string why;
  for (const PeerResult& r : results) {
    if (r.ok) continue;
    why += fmt::format("{}hub {}: {}", why.empty() ? "" : "; ", r.member, r.error);
  }
  if (results.empty()) why = "no standby hub is known";
  d.reason = fmt::format("not replicated: {} of {} copies ({})", d.copies, min_copies, why);
  for (char& c : d.reason)
    if (c == '\n' || c == '\r' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (d.reason.size() > kMaxReasonBytes) d.reason = d.reason.substr(0, kMaxReasonBytes - 3) + "...";
  return d;
}

int64_t ReplicationBudgetMs(int64_t timeout_ms, uint64_t pack_bytes) {
  const uint64_t r = kReplicationBytesPerSecond;
  return timeout_ms + static_cast<int64_t>(pack_bytes / r * 1000 + pack_bytes % r * 1000 / r);  // no overflow
}

int EffectiveMinCopies(int flag, bool several_hubs) {
  if (!several_hubs) return 1;
  return flag > 0 ? flag : 2;
}

}  // namespace skyport::hub::peer
