// What hubs send each other (hub/peer/peer_plan.h): which refs differ, what
// to fetch, and whether a push has enough copies.
#include <catch2/catch.hpp>

#include "hub/peer/peer_plan.h"

namespace skyport::hub::peer {
namespace {

const std::string kA(40, 'a'), kB(40, 'b'), kC(40, 'c');
const std::string kZ(kZeroId);

std::vector<std::string> Lines(const AppSync& s) {
  std::vector<std::string> out;
  for (const auto& c : s.commands) out.push_back(c.ref + " " + c.old_id.substr(0, 1) + ">" + c.new_id.substr(0, 1));
  return out;
}

TEST_CASE("PlanSync mirror: creates, moves and deletes to match the leader", "[hub][peer]") {
  RepoRefs ours = {{"web", {{"refs/heads/master", kA}, {"refs/heads/old", kB}, {"refs/tags/v1", kC}}},
                   {"gone-on-leader", {{"refs/heads/master", kA}}}};
  RepoRefs theirs = {{"web", {{"refs/heads/master", kB}, {"refs/heads/new", kC}, {"refs/tags/v1", kC}}},
                     {"fresh", {{"refs/heads/master", kA}}}};
  auto plan = PlanSync(ours, theirs, SyncMode::kMirror, 100, 100);
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].app == "fresh");
  CHECK(Lines(plan[0]) == std::vector<std::string>{"refs/heads/master 0>a"});
  CHECK(plan[0].haves.empty());
  CHECK(plan[1].app == "web");
  CHECK(Lines(plan[1]) == std::vector<std::string>{"refs/heads/master a>b", "refs/heads/new 0>c", "refs/heads/old b>0"});
  CHECK(plan[1].wants == std::vector<std::string>{kB, kC});
  CHECK(plan[1].haves == std::vector<std::string>{kA, kB, kC});
  CHECK_FALSE(plan[1].truncated);
  // An app the leader lacks is left alone: a leader that lost it must not erase it everywhere.
}

TEST_CASE("PlanSync union: takes what the peer has beyond us, never deletes", "[hub][peer]") {
  RepoRefs ours = {{"web", {{"refs/heads/master", kA}, {"refs/heads/mine", kB}}}};
  RepoRefs theirs = {{"web", {{"refs/heads/master", kB}, {"refs/heads/theirs", kC}}}};
  auto plan = PlanSync(ours, theirs, SyncMode::kUnion, 100, 100);
  REQUIRE(plan.size() == 1);
  CHECK(Lines(plan[0]) == std::vector<std::string>{"refs/heads/master a>b", "refs/heads/theirs 0>c"});
}

TEST_CASE("PlanSync: equal repositories need nothing", "[hub][peer]") {
  RepoRefs same = {{"web", {{"refs/heads/master", kA}}}};
  CHECK(PlanSync(same, same, SyncMode::kMirror, 100, 100).empty());
  CHECK(PlanSync({}, {}, SyncMode::kUnion, 100, 100).empty());
}

TEST_CASE("PlanSync: the bounds on refs and haves bite and say so", "[hub][peer]") {
  RefMap many, mine;
  for (int i = 0; i < 10; ++i) many["refs/heads/b" + std::to_string(i)] = kA;
  for (int i = 0; i < 10; ++i) mine["refs/tags/t" + std::to_string(i)] = std::string(39, 'd') + std::to_string(i);
  auto plan = PlanSync({{"web", mine}}, {{"web", many}}, SyncMode::kUnion, 3, 4);
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].commands.size() == 3);
  CHECK(plan[0].truncated);
  CHECK(plan[0].haves.size() == 4);
  CHECK(plan[0].wants == std::vector<std::string>{kA});
}

TEST_CASE("DecideCopies: the leader's copy plus acknowledgements against the minimum", "[hub][peer]") {
  CHECK(DecideCopies(1, {}).ok);
  auto none = DecideCopies(2, {});
  CHECK_FALSE(none.ok);
  CHECK(none.reason == "not replicated: 1 of 2 copies (no standby hub is known)");
  auto one = DecideCopies(2, {{"h1:1", false, "deadline exceeded"}, {"h2:1", true, ""}});
  CHECK(one.ok);
  CHECK(one.copies == 2);
  auto three = DecideCopies(3, {{"h1:1", false, "deadline\nexceeded"}, {"h2:1", true, ""}});
  CHECK_FALSE(three.ok);
  CHECK(three.reason == "not replicated: 2 of 3 copies (hub h1:1: deadline exceeded)");
  std::vector<PeerResult> noisy(20, PeerResult{"h:1", false, std::string(100, 'x')});
  CHECK(DecideCopies(2, noisy).reason.size() <= 400);
}

TEST_CASE("ReplicationBudgetMs: the timeout plus a second per 8 MiB of pack", "[hub][peer]") {
  CHECK(ReplicationBudgetMs(10'000, 0) == 10'000);
  CHECK(ReplicationBudgetMs(10'000, 8u << 20) == 11'000);
  CHECK(ReplicationBudgetMs(3'000, 2ull << 30) == 3'000 + 256'000);
}

TEST_CASE("EffectiveMinCopies: 2 by default on etcd, always 1 on one hub", "[hub][peer]") {
  CHECK(EffectiveMinCopies(0, true) == 2);
  CHECK(EffectiveMinCopies(3, true) == 3);
  CHECK(EffectiveMinCopies(1, true) == 1);
  CHECK(EffectiveMinCopies(0, false) == 1);
}

}  // namespace
}  // namespace skyport::hub::peer
