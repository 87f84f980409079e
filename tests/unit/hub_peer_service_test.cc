// The HubPeer service (hub/peer/peer_service.h) on loopback against real
// repositories: the token, the leader check, a replicated push applied with
// the checks of a push (an fsck failure lands nothing), compare-and-swap on
// old ids (out of sync -> catch up), Refs and FetchPack.
#include <catch2/catch.hpp>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "hub/peer/peer_service.h"
#include "hub/peer/replica_apply.h"
#include "hub_test_util.h"
#include "rpc/auth.h"
#include "rpc/channel.h"

namespace skyport::hub::peer {
namespace {

using testing::Git;
using testing::Run;
using testing::TempDir;
using testing::Trim;

const std::string kToken = "peer-token-123";
const std::string kZ(kZeroId);

struct PeerFixture {
  TempDir tmp;
  std::unique_ptr<RepoStore> standby, leader;
  std::string head;
  std::atomic<int> out_of_sync{0};
  std::unique_ptr<HubPeerService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::HubPeer::Stub> stub;

  PeerFixture() {
    standby = std::move(RepoStore::Open(tmp.path() + "/standby").value());
    leader = std::move(RepoStore::Open(tmp.path() + "/leader").value());
    head = testing::MakeWorkRepo(tmp.path(), Work());
    REQUIRE(Run(Git(tmp.path()) + "init -q --bare " + leader->RepoPath("app")).exit == 0);
    REQUIRE(Run(Git(tmp.path(), Work()) + "push -q " + leader->RepoPath("app") + " master").exit == 0);
    PeerServiceOptions o;
    o.token = kToken;
    o.leading = [] { return false; };
    o.leader_member = [] { return std::string("leader-1"); };
    o.out_of_sync = [this](const std::string&) { ++out_of_sync; };
    service = std::make_unique<HubPeerService>(standby.get(), o);
    auto creds = rpc::ServerCredentials(TlsFiles{});
    REQUIRE(creds.ok());
    auto started = rpc::StartServer("127.0.0.1:0", *creds, {service.get()}, 16 << 20);
    REQUIRE(started.ok());
    server = std::move(started->server);
    stub = v1::HubPeer::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(started->port), grpc::InsecureChannelCredentials()));
  }
  ~PeerFixture() { server->Shutdown(); }
  std::string Work() const { return tmp.path() + "/work"; }

  // A pack of `want` minus `have` from the leader's repository.
  std::string Pack(const std::string& want, const std::string& have = "") {
    std::string pack;
    std::vector<std::string> haves;
    if (!have.empty()) haves.push_back(have);
    REQUIRE(PackReachable(*leader, "app", {want}, haves, [&](std::string_view d) {
              pack.append(d);
              return true;
            }).ok());
    return pack;
  }

  grpc::Status Replicate(const std::string& token, const std::string& member, const std::string& old_id,
                         const std::string& new_id, const std::string& pack, bool deadline = true) {
    grpc::ClientContext ctx;
    if (deadline) ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) rpc::AttachToken(ctx, token);
    v1::ReplicaAck ack;
    auto w = stub->Replicate(&ctx, &ack);
    v1::ReplicaChunk first;
    first.mutable_header()->set_app("app");
    first.mutable_header()->set_leader_member(member);
    auto* u = first.mutable_header()->add_updates();
    u->set_ref("refs/heads/master");
    u->set_old_id(old_id);
    u->set_new_id(new_id);
    w->Write(first);
    for (size_t i = 0; i < pack.size(); i += 1000) {
      v1::ReplicaChunk c;
      c.set_data(pack.substr(i, 1000));
      if (!w->Write(c)) break;
    }
    w->WritesDone();
    return w->Finish();
  }

  std::string StandbyRef() {
    auto r = Run(Git(tmp.path(), standby->RepoPath("app")) + "rev-parse -q --verify refs/heads/master");
    return r.exit == 0 ? Trim(r.out) : "";
  }
};

TEST_CASE("HubPeer: every call needs the cluster token", "[hub][peer]") {
  PeerFixture f;
  for (const std::string& token : {std::string(), std::string("wrong-token")}) {
    grpc::ClientContext ctx;
    if (!token.empty()) rpc::AttachToken(ctx, token);
    v1::RefsResponse res;
    CHECK(f.stub->Refs(&ctx, v1::RefsRequest(), &res).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(f.Replicate(token, "leader-1", kZ, f.head, f.Pack(f.head)).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext fctx;
    if (!token.empty()) rpc::AttachToken(fctx, token);
    v1::FetchPackRequest req;
    req.set_app("app");
    req.add_wants(f.head);
    auto reader = f.stub->FetchPack(&fctx, req);
    v1::PackChunk chunk;
    CHECK_FALSE(reader->Read(&chunk));
    CHECK(reader->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  CHECK(f.StandbyRef().empty());
  CHECK(f.service->MetricsText().find("skyport_hub_peer_unauthenticated_total 6") != std::string::npos);
}

TEST_CASE("HubPeer Replicate: only from the known leader; applied with compare-and-swap", "[hub][peer]") {
  PeerFixture f;
  std::string pack = f.Pack(f.head);
  auto s = f.Replicate(kToken, "not-the-leader", kZ, f.head, pack);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(f.StandbyRef().empty());
  // A call that could stay open forever is refused.
  s = f.Replicate(kToken, "leader-1", kZ, f.head, pack, /*deadline=*/false);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("deadline") != std::string::npos);
  CHECK(f.StandbyRef().empty());

  REQUIRE(f.Replicate(kToken, "leader-1", kZ, f.head, pack).ok());
  CHECK(f.StandbyRef() == f.head);
  CHECK(f.Replicate(kToken, "leader-1", kZ, f.head, pack).ok());  // already there: done
  CHECK(f.out_of_sync == 0);

  // A second commit, replicated against an old id the standby does not hold: out of sync.
  testing::WriteFile(f.Work() + "/app.txt", "second\n");
  REQUIRE(Run(Git(f.tmp.path(), f.Work()) + "commit -qam second").exit == 0);
  std::string second = Trim(Run(Git(f.tmp.path(), f.Work()) + "rev-parse HEAD").out);
  REQUIRE(Run(Git(f.tmp.path(), f.Work()) + "push -q " + f.leader->RepoPath("app") + " master").exit == 0);
  std::string thin = f.Pack(second, f.head);
  s = f.Replicate(kToken, "leader-1", std::string(40, 'e'), second, thin);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(f.out_of_sync == 1);
  CHECK(f.StandbyRef() == f.head);
  REQUIRE(f.Replicate(kToken, "leader-1", f.head, second, thin).ok());
  CHECK(f.StandbyRef() == second);
  CHECK(Run(Git(f.tmp.path(), f.standby->RepoPath("app")) + "fsck --strict").exit == 0);
}

TEST_CASE("HubPeer Replicate: a pack that fails fsck lands nothing", "[hub][peer]") {
  PeerFixture f;
  REQUIRE(f.Replicate(kToken, "leader-1", kZ, f.head, f.Pack(f.head)).ok());
  // A commit whose tree holds ".GIT" (git's hasDotgit), made with plumbing that does not check.
  std::string g = Git(f.tmp.path(), f.Work());
  // (Inputs through files: "cd DIR && git" would take a pipe's stdin for the cd.)
  const std::string t = f.tmp.path();
  testing::WriteFile(t + "/evil.txt", "evil\n");
  std::string blob = Trim(Run(g + "hash-object -w " + t + "/evil.txt").out);
  testing::WriteFile(t + "/tree.txt", "100644 blob " + blob + "\t.GIT\n");
  std::string tree = Trim(Run(g + "mktree < " + t + "/tree.txt").out);
  std::string bad = Trim(Run(g + "commit-tree " + tree + " -p " + f.head + " -m bad").out);
  REQUIRE(bad.size() == 40);
  testing::WriteFile(t + "/revs.txt", bad + "\n^" + f.head + "\n");
  const std::string file = t + "/bad.pack";
  REQUIRE(Run(g + "pack-objects --revs --stdout < " + t + "/revs.txt > " + file).exit == 0);
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.substr(0, 4) == "PACK");
  auto s = f.Replicate(kToken, "leader-1", f.head, bad, bytes);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("hasDotgit") != std::string::npos);
  CHECK(f.StandbyRef() == f.head);
  CHECK(Run(Git(f.tmp.path(), f.standby->RepoPath("app")) + "cat-file -e " + bad).exit != 0);
  CHECK(f.service->MetricsText().find("skyport_hub_git_replica_refused_total{cause=\"checks\"} 1") != std::string::npos);
}

TEST_CASE("ReplicaApply: a ref name too long for a pkt-line is refused before it is encoded", "[hub][peer]") {
  TempDir tmp;
  auto store = std::move(RepoStore::Open(tmp.path() + "/repos").value());
  std::string evil = "refs/heads/" + std::string(70'000, 'x') + "\n0067" + kZ + " " + std::string(40, 'a') +
                     " refs/heads/injected\n";
  ReplicaApply apply(store.get(), "app", {{kZ, std::string(40, 'a'), evil}}, PushLimits{}, /*force=*/true);
  ReplicaResult r = apply.Finish();
  CHECK(r.status.code() == Code::kInvalidArgument);
  CHECK(r.status.message().find("pkt-line payload of") != std::string::npos);  // said why, before any parsing
  CHECK(r.applied == 0);
  CHECK_FALSE(std::filesystem::exists(store->RepoPath("app") + "/refs/heads/injected"));
}

TEST_CASE("HubPeer Refs and FetchPack: a fresh hub catches up through them", "[hub][peer]") {
  PeerFixture f;
  REQUIRE(f.Replicate(kToken, "leader-1", kZ, f.head, f.Pack(f.head)).ok());
  grpc::ClientContext ctx;
  rpc::AttachToken(ctx, kToken);
  v1::RefsResponse refs;
  REQUIRE(f.stub->Refs(&ctx, v1::RefsRequest(), &refs).ok());
  REQUIRE(refs.apps_size() == 1);
  CHECK(refs.apps(0).app() == "app");
  REQUIRE(refs.apps(0).refs_size() == 1);
  CHECK(refs.apps(0).refs(0).id() == f.head);

  auto fresh = std::move(RepoStore::Open(f.tmp.path() + "/fresh").value());
  ReplicaApply apply(fresh.get(), "app", {{kZ, f.head, "refs/heads/master"}}, PushLimits{}, /*force=*/true);
  grpc::ClientContext fctx;
  rpc::AttachToken(fctx, kToken);
  fctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::FetchPackRequest req;
  req.set_app("app");
  req.add_wants(f.head);
  req.add_haves(std::string(40, 'f'));  // unknown haves are ignored
  auto reader = f.stub->FetchPack(&fctx, req);
  v1::PackChunk chunk;
  while (reader->Read(&chunk)) apply.Feed(chunk.data());
  REQUIRE(reader->Finish().ok());
  ReplicaResult r = apply.Finish();
  REQUIRE(r.status.ok());
  CHECK(r.applied == 1);
  CHECK(Trim(Run(Git(f.tmp.path(), fresh->RepoPath("app")) + "rev-parse refs/heads/master").out) == f.head);

  grpc::ClientContext bctx;
  rpc::AttachToken(bctx, kToken);
  req.set_app("../etc");
  auto bad = f.stub->FetchPack(&bctx, req);
  CHECK_FALSE(bad->Read(&chunk));
  CHECK(bad->Finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace skyport::hub::peer
