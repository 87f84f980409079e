#include "hub/peer/replicator.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/log.h"
#include "core/prom_text.h"
#include "rpc/auth.h"

namespace skyport::hub::peer {
namespace {

constexpr size_t kMaxPeersPerPush = 16;

int64_t NowMs() { return SystemClock::Get()->MonoMs(); }

}  // namespace

Replicator::Replicator(ReplicatorOptions o) : o_(std::move(o)), stubs_(o_.tls) {}

Replicator::~Replicator() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (refresh_.joinable()) refresh_.join();
}

void Replicator::Run(std::function<Result<std::vector<ha::LeaderRecord>>()> members, std::string self) {
  members_fn_ = std::move(members);
  self_ = std::move(self);
  refresh_ = std::thread([this] { RefreshLoop(); });
}

std::vector<ha::LeaderRecord> Replicator::Refresh() {
  auto members = members_fn_();
  std::lock_guard lock(mu_);
  if (members.ok()) {
    std::vector<ha::LeaderRecord> others;
    for (auto& m : *members)
      if (m.member != self_) others.push_back(std::move(m));
    peers_ = std::move(others);
  }  // else keep the last list: etcd trouble deposes a leader soon enough
  return peers_;
}

void Replicator::RefreshLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Refresh();
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(o_.refresh_ms), [this] { return stop_; });
  }
}

PeerResult Replicator::SendTo(const ha::LeaderRecord& peer, const ReplicaPush& push, int64_t deadline_ms) {
  PeerResult r{peer.grpc, false, ""};
  auto stub = stubs_.Get(peer.grpc);
  if (!stub.ok()) {
    r.error = stub.status().message();
    return r;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(std::max<int64_t>(1, deadline_ms - NowMs())));
  rpc::AttachToken(ctx, o_.token);
  v1::ReplicaAck ack;
  auto writer = (*stub)->Replicate(&ctx, &ack);
  v1::ReplicaChunk first;
  auto* h = first.mutable_header();
  h->set_app(push.app);
  h->set_leader_member(self_);
  for (const PushCommand& c : push.commands) {
    auto* u = h->add_updates();
    u->set_ref(c.ref);
    u->set_old_id(c.old_id);
    u->set_new_id(c.new_id);
  }
  bool open = writer->Write(first);
  if (open && !push.pack_path.empty()) {
    std::ifstream in(push.pack_path, std::ios::binary);
    if (!in) {
      ctx.TryCancel();
      r.error = "cannot read the pack " + push.pack_path;
      writer->Finish();
      return r;
    }
    std::string buf(kPeerChunkBytes, '\0');
    while (open && in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      v1::ReplicaChunk c;
      c.set_data(buf.data(), n);
      open = writer->Write(c);
    }
  }
  if (open) writer->WritesDone();
  grpc::Status s = writer->Finish();
  r.ok = s.ok();
  if (!s.ok()) r.error = fmt::format("{} ({})", s.error_message(), static_cast<int>(s.error_code()));
  return r;
}

Status Replicator::Replicate(const ReplicaPush& push) {
  if (o_.min_copies <= 1) return Status::Ok();
  std::vector<ha::LeaderRecord> peers;
  {
    std::lock_guard lock(mu_);
    peers = peers_;
  }
  // Too few known (a leader that just took over, a standby that just joined): ask etcd now.
  if (peers.size() + 1 < static_cast<size_t>(o_.min_copies) && members_fn_) peers = Refresh();
  if (peers.size() > kMaxPeersPerPush) {
    log::Warn("push: more standbys than one push is sent to; the others catch up",
              {{"standbys", static_cast<int64_t>(peers.size())}, {"sent_to", static_cast<int64_t>(kMaxPeersPerPush)}});
    peers.resize(kMaxPeersPerPush);
  }
  std::error_code ec;
  const uint64_t pack_bytes = push.pack_path.empty() ? 0 : std::filesystem::file_size(push.pack_path, ec);
  const int64_t start = NowMs();
  const int64_t deadline = start + ReplicationBudgetMs(o_.timeout_ms, ec ? 0 : pack_bytes);
  std::vector<PeerResult> results(peers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < peers.size(); ++i)
    threads.emplace_back([&, i] { results[i] = SendTo(peers[i], push, deadline); });
  for (auto& t : threads) t.join();
  for (const PeerResult& r : results) {
    if (r.ok) continue;
    send_failures_.fetch_add(1);
    log::Warn("push: a standby did not take the push", {{"app", push.app}, {"hub", r.member}, {"error", r.error}});
  }
  CopiesDecision d = DecideCopies(o_.min_copies, results);
  if (!d.ok) {
    refused_.fetch_add(1);
    log::Error("push not replicated: refused", {{"app", push.app}, {"copies", d.copies}, {"min_copies", o_.min_copies},
                                                {"reason", d.reason}, {"ms", NowMs() - start}});
    return Status::FailedPrecondition(d.reason);
  }
  acked_.fetch_add(1);
  log::Info("push replicated", {{"app", push.app}, {"copies", d.copies}, {"standbys", static_cast<int64_t>(peers.size())},
                                {"ms", NowMs() - start}});
  return Status::Ok();
}

std::string Replicator::MetricsText() const {
  size_t peers;
  {
    std::lock_guard lock(mu_);
    peers = peers_.size();
  }
  PromText out;
  out.Gauge("skyport_hub_git_peers", "Other hubs with a live member key, as last listed (pushes go to them).", peers);
  out.Counter("skyport_hub_git_replication_acked_total", "Pushes with --git-min-copies copies, acknowledged.",
              acked_.load());
  out.Counter("skyport_hub_git_replication_refused_total",
              "Pushes refused because fewer than --git-min-copies hubs took them in time.", refused_.load());
  out.Counter("skyport_hub_git_replica_send_failures_total", "Pushes a standby did not take (it catches up later).",
              send_failures_.load());
  return out.Take();
}

}  // namespace skyport::hub::peer
