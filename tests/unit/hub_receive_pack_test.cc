#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "hub/git/pktline.h"
#include "hub/git/push_apply.h"
#include "hub/git/receive_pack.h"
#include "hub/git/repo_store.h"
#include "hub_test_util.h"

namespace skyport::hub {
namespace {

using testing::Git;
using testing::Run;
using testing::TempDir;
using testing::Trim;
using namespace std::string_literals;

const std::string kA(40, 'a');
const std::string kB(40, 'b');
const std::string kZ(kZeroId);

std::string Line(const std::string& s) { return s + "\n"; }

TEST_CASE("ParseCommands: create, update, delete and capabilities", "[hub][receive-pack]") {
  auto got = ParseCommands({kZ + " " + kA + " refs/heads/master" + std::string(1, '\0') +
                                "report-status side-band-64k quiet agent=git/2.39.5\n",
                            Line(kA + " " + kB + " refs/heads/dev"), Line(kA + " " + kZ + " refs/tags/old"),
                            Line("shallow " + kB)});
  REQUIRE(got.ok());
  REQUIRE(got->commands.size() == 3);
  CHECK(got->commands[0].old_id == kZ);
  CHECK(got->commands[0].new_id == kA);
  CHECK(got->commands[0].ref == "refs/heads/master");
  CHECK(got->commands[2].new_id == kZ);
  CHECK(got->Has("report-status"));
  CHECK(got->Has("side-band-64k"));
  CHECK(got->Has("agent=git/2.39.5"));
  CHECK(!got->Has("delete-refs"));
  CHECK(ParseCommands({})->commands.empty());  // the "0000" probe
}

TEST_CASE("ParseCommands: malformed lines name the command", "[hub][receive-pack]") {
  std::vector<std::vector<std::string>> bad = {
      {"garbage\n"},
      {kA + " " + kB + "\n"},                               // no ref
      {kA + "  " + kB + " refs/heads/x\n"},                 // wrong spacing
      {kA.substr(1) + "g " + kB + " refs/heads/x\n"},       // not hex
      {std::string(40, 'A') + " " + kB + " refs/heads/x\n"},  // upper case
      {kZ + " " + kZ + " refs/heads/x\n"},
      {kA + " " + kB + " heads/x\n"},
      {kA + " " + kB + " refs/heads/x\n", kA + " " + kB + " refs/heads/x\n"},
      {kA + " " + kB + " refs/heads/x\n", kA + " " + kB + " refs/heads/y" + std::string(1, '\0') + "caps\n"},
      {kA + " " + kB + " refs/heads/x y\n"},
  };
  for (const auto& lines : bad) {
    INFO(lines.back());
    auto r = ParseCommands(lines);
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message().rfind("command ", 0) == 0);
  }
}

TEST_CASE("BuildAdvertisement: empty repo and refs", "[hub][receive-pack]") {
  std::string caps(kReceivePackCaps);
  CHECK(BuildAdvertisement({}) == "001f# service=git-receive-pack\n0000" +
                                      pkt::EncodeShort(kZ + " capabilities^{}" + std::string(1, '\0') + caps + "\n") +
                                      "0000");
  CHECK(BuildAdvertisement({{kA, "refs/heads/master"}, {kB, "refs/tags/v1"}}) ==
        "001f# service=git-receive-pack\n0000" +
            pkt::EncodeShort(kA + " refs/heads/master" + std::string(1, '\0') + caps + "\n") +
            pkt::EncodeShort(kB + " refs/tags/v1\n") + "0000");
}

TEST_CASE("BuildReport: plain, side-band, and without report-status", "[hub][receive-pack]") {
  std::vector<RefUpdate> updates = {{"refs/heads/master", kA, kB, true, ""},
                                    {"refs/heads/dev", kA, kB, false, "non-fast-forward"}};
  std::string report = pkt::EncodeShort("unpack ok\n") + pkt::EncodeShort("ok refs/heads/master\n") +
                       pkt::EncodeShort("ng refs/heads/dev non-fast-forward\n") + "0000";
  PushCommands plain;
  plain.caps = {"report-status"};
  CHECK(BuildReport(plain, "ok", updates, {"hint"}) == report);

  PushCommands sb;
  sb.caps = {"report-status", "side-band-64k", "quiet"};
  CHECK(BuildReport(sb, "ok", updates, {"hint"}) ==
        pkt::EncodeShort("\2hint\n") + pkt::EncodeShort("\1" + report) + "0000");

  PushCommands none;
  CHECK(BuildReport(none, "ok", updates, {}).empty());
}

TEST_CASE("BuildReport: a report over 64k is split across side-band packets", "[hub][receive-pack]") {
  std::vector<RefUpdate> updates;
  for (int i = 0; i < 2000; ++i) updates.push_back({"refs/heads/branch-number-" + std::to_string(i), kA, kB, true, ""});
  PushCommands sb;
  sb.caps = {"report-status", "side-band-64k"};
  std::string body = BuildReport(sb, "ok", updates, {});
  // Decode: every packet is band 1 and the concatenation is the plain report.
  pkt::Decoder d;
  d.Feed(body);
  std::string joined;
  int packets = 0;
  for (;;) {
    auto p = d.Next();
    REQUIRE(p.ok());
    REQUIRE(p->has_value());
    if ((*p)->flush) break;
    REQUIRE((*p)->payload[0] == '\1');
    joined += (*p)->payload.substr(1);
    ++packets;
  }
  CHECK(packets >= 2);
  sb.caps = {"report-status"};
  CHECK(joined == BuildReport(sb, "ok", updates, {}));
}

// PushSession against a real repository, without HTTP.
struct SessionFixture {
  TempDir tmp;
  std::unique_ptr<RepoStore> store;
  std::string head;
  SessionFixture() {
    store = std::move(RepoStore::Open(tmp.path() + "/repos").value());
    head = testing::MakeWorkRepo(tmp.path(), tmp.path() + "/work");
    REQUIRE(Run(Git(tmp.path()) + "init -q --bare " + store->RepoPath("app")).exit == 0);
    REQUIRE(Run(Git(tmp.path(), tmp.path() + "/work") + "push -q " + store->RepoPath("app") + " master").exit == 0);
  }
  std::string Refs() { return Run(Git(tmp.path(), store->RepoPath("app")) + "for-each-ref").out; }
};

TEST_CASE("PushSession: corrupt pack is an unpack error and changes nothing", "[hub][receive-pack]") {
  SessionFixture f;
  std::string before = f.Refs();
  {
    PushSession s(f.store.get(), "app", nullptr);
    std::string body = pkt::EncodeShort(f.head + " " + kA + " refs/heads/master" + std::string(1, '\0') + "report-status\n") +
                       "0000" + "PACK\0\0\0\2\0\0\0\1garbage-garbage-garbage"s;
    REQUIRE(s.Feed(body).ok());
    auto out = s.Finish();
    REQUIRE(out.ok());
    CHECK(out->body.find("unpack ") != std::string::npos);
    CHECK(out->body.find("unpack ok") == std::string::npos);
    CHECK(out->body.find("ng refs/heads/master unpacker error") != std::string::npos);
    CHECK(f.Refs() == before);
  }
  // The quarantine is removed with the session.
  CHECK(std::filesystem::is_empty(f.store->IncomingDir()));
}

TEST_CASE("PushSession: probe, truncated command list, stale and missing objects", "[hub][receive-pack]") {
  SessionFixture f;
  {
    PushSession s(f.store.get(), "app", nullptr);
    REQUIRE(s.Feed("0000").ok());
    auto out = s.Finish();
    REQUIRE(out.ok());
    CHECK(out->body.empty());
    CHECK(out->event.updates.empty());
  }
  {
    PushSession s(f.store.get(), "app", nullptr);
    REQUIRE(s.Feed("0032" + std::string(10, 'x')).ok());
    CHECK(s.Finish().status().code() == Code::kInvalidArgument);
  }
  {
    PushSession s(f.store.get(), "app", nullptr);
    CHECK(s.Feed("00zz").code() == Code::kInvalidArgument);
  }
  {
    // Old id does not match; new object missing (no pack).
    PushSession s(f.store.get(), "app", nullptr);
    std::string caps = std::string(1, '\0') + "report-status";
    REQUIRE(s.Feed(pkt::EncodeShort(kB + " " + f.head + " refs/heads/master" + caps + "\n") +
                   pkt::EncodeShort(kZ + " " + kA + " refs/heads/new\n") + "0000")
                .ok());
    auto out = s.Finish();
    REQUIRE(out.ok());
    REQUIRE(out->event.updates.size() == 2);
    CHECK(out->event.updates[0].error == "stale info");
    CHECK(out->event.updates[1].error == "missing necessary objects");
    CHECK(out->body.find("unpack ok") != std::string::npos);
  }
  {
    // A push to a new app that is refused leaves no repository behind.
    PushSession s(f.store.get(), "other", nullptr);
    REQUIRE(s.Feed(pkt::EncodeShort(kZ + " " + kA + " refs/heads/master\n") + "0000").ok());
    auto out = s.Finish();
    REQUIRE(out.ok());
    CHECK(!out->event.updates[0].ok);
    CHECK(!std::filesystem::exists(f.store->RepoPath("other")));
  }
  CHECK(Trim(Run(Git(f.tmp.path(), f.store->RepoPath("app")) + "rev-parse master").out) == f.head);
}

TEST_CASE("PushSession: more refs than allowed is an unpack error naming the limit", "[hub][receive-pack]") {
  SessionFixture f;
  std::string before = f.Refs();
  PushLimits limits;
  limits.max_refs = 2;
  PushSession s(f.store.get(), "app", nullptr, limits);
  std::string caps = std::string(1, '\0') + "report-status";
  REQUIRE(s.Feed(pkt::EncodeShort(kZ + " " + f.head + " refs/heads/a" + caps + "\n") +
                 pkt::EncodeShort(kZ + " " + f.head + " refs/heads/b\n") +
                 pkt::EncodeShort(kZ + " " + f.head + " refs/heads/c\n") + "0000")
              .ok());
  auto out = s.Finish();
  REQUIRE(out.ok());
  CHECK(out->refused_by == "refs");
  CHECK(out->body.find("unpack push updates 3 refs") != std::string::npos);
  CHECK(out->body.find("limit is 2 refs per push") != std::string::npos);
  REQUIRE(out->event.updates.size() == 2);  // the first max_refs are answered
  CHECK(out->event.updates[0].error == "unpacker error");
  CHECK(f.Refs() == before);
}

}  // namespace
}  // namespace skyport::hub
