#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "drone/disk_janitor.h"
#include "drone/log_file.h"
#include "drone/retention.h"
#include "drone/stored_logs.h"
#include "tests/unit/test_util.h"

using namespace skyport;
using namespace skyport::drone;
namespace fs = std::filesystem;
using skyport::testing::TempDir;

namespace {

const std::string kA(40, 'a'), kB(40, 'b'), kC(40, 'c'), kD(40, 'd');
constexpr int64_t kDay = 24LL * 3600 * 1000;

StoredCommit Stored(std::string commit, int64_t last, bool checkout = true, bool logs = true) {
  return StoredCommit{"webapp", std::move(commit), checkout, logs, last};
}

// Sets the mtime of `path` (not following links) to `unix_ms`.
void Touch(const std::string& path, int64_t unix_ms) {
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = unix_ms / 1000;
  ts[0].tv_nsec = ts[1].tv_nsec = (unix_ms % 1000) * 1'000'000;
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

void Write(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

}  // namespace

TEST_CASE("SelectExpired: what runs never goes; the rest after the retention, oldest first", "[drone][gc]") {
  RetentionPolicy p;
  p.retention_ms = 7 * kDay;
  p.max_per_pass = 10;
  const int64_t now = 100 * kDay;
  const std::vector<StoredCommit> stored = {
      Stored(kA, now - 30 * kDay),          // old, but it runs
      Stored(kB, now - 8 * kDay),           // stopped 8 days ago: expired
      Stored(kC, now - 7 * kDay + 1),       // just inside the retention
      Stored(kD, now - 9 * kDay, false),    // logs only (a failed deploy): expired
  };
  const auto out = SelectExpired(stored, {{"webapp", kA}}, now, p);
  REQUIRE(out.size() == 2);
  CHECK(out[0].commit == kD);  // the longest unused first
  CHECK(out[1].commit == kB);
  CHECK(SelectExpired(stored, {{"webapp", kA}}, now, RetentionPolicy{7 * kDay, 1}).size() == 1);  // bounded
  CHECK(SelectExpired(stored, {{"other", kB}}, now, p).size() == 3);  // in use is per app
  CHECK(SelectExpired({Stored(kB, 0, false, false)}, {}, now, p).empty());
  // A clock behind the files (a fresh write "from the future") keeps them.
  CHECK(SelectExpired({Stored(kB, now + kDay)}, {}, now, p).empty());
}

TEST_CASE("DiskJanitor: removes an expired stopped commit's checkout and logs, keeps the rest", "[drone][gc]") {
  TempDir tmp;
  const std::string data = tmp.path();
  const int64_t now = 1'780'000'000'000;
  const int64_t old = now - 8 * kDay;
  // kA runs (old files), kB stopped 8 days ago, kC stopped an hour ago, kD is locked by a deploy.
  for (const auto& c : {kA, kB, kC, kD}) {
    Write(data + "/deploy/webapp/" + c + "/Procfile", "web: x\n");
    Write(data + "/logs/webapp/" + c + "/web.0.log", "2026-01-01T00:00:00.000Z stdout hi\n");
    const int64_t t = c == kC ? now - 3600'000 : old;
    Touch(data + "/logs/webapp/" + c + "/web.0.log", t);
    Touch(data + "/logs/webapp/" + c, t);
    Touch(data + "/deploy/webapp/" + c, t);
  }
  Write(data + "/deploy/webapp/.tmp-aaaa-1/x", "half made");  // not a commit: left to PrepareDataDir
  std::mutex a_lock, d_lock, other;
  DiskJanitorOptions o;
  o.data_dir = data;
  o.policy.retention_ms = 7 * kDay;
  DiskJanitor j(
      o, [] { return std::set<CommitKey>{{"webapp", kA}}; },
      [&](const std::string&, const std::string& commit) -> std::mutex& {
        return commit == kA ? a_lock : commit == kD ? d_lock : other;
      });
  std::unique_lock deploying(d_lock);
  const JanitorPass pass = j.RunPass(now);
  CHECK(pass.commits == 1);
  CHECK(pass.checkouts == 1);
  CHECK(pass.log_dirs == 1);
  CHECK(pass.bytes > 0);
  CHECK(!fs::exists(data + "/deploy/webapp/" + kB));
  CHECK(!fs::exists(data + "/logs/webapp/" + kB));
  for (const auto& kept : {kA, kC, kD}) {
    CHECK(fs::exists(data + "/deploy/webapp/" + kept));
    CHECK(fs::exists(data + "/logs/webapp/" + kept));
  }
  CHECK(fs::exists(data + "/deploy/webapp/.tmp-aaaa-1/x"));
  deploying.unlock();
  CHECK(j.RunPass(now).commits == 1);  // kD once its deploy lock is free
  CHECK(!fs::exists(data + "/deploy/webapp/" + kD));
}

TEST_CASE("ParseLogLine reads FormatLogLine back", "[drone][gc]") {
  auto p = ParseLogLine("2026-05-28T20:26:40.123Z stderr hello world ");
  REQUIRE(p);
  CHECK(p->unix_ms == 1'780'000'000'123);
  CHECK(p->stream == "stderr");
  CHECK(p->text == "hello world ");
  auto empty = ParseLogLine("1970-01-01T00:00:00.000Z stdout ");
  REQUIRE(empty);
  CHECK(empty->text.empty());
  CHECK(!ParseLogLine(""));
  CHECK(!ParseLogLine("garbage line"));
  CHECK(!ParseLogLine("2026-05-28T20:26:40.123Z"));
  CHECK(!ParseLogLine("2026-05-28T20:26:40.123Z stdout"));
}

TEST_CASE("ReadStoredLogs: rotated files in order, role filter, prefix, release log", "[drone][gc]") {
  TempDir tmp;
  const std::string dir = tmp.path() + "/logs";
  const std::string base = dir + "/webapp/" + kA;
  Write(base + "/web.0.log.2", FormatLogLine(1000, "stdout", "one"));
  Write(base + "/web.0.log.1", FormatLogLine(2000, "stdout", "two"));
  Write(base + "/web.0.log", FormatLogLine(3000, "stderr", "three") + "cut line without a time\n");
  Write(base + "/say.1.log", FormatLogLine(4000, "stdout", "said"));
  Write(base + "/release.log", FormatLogLine(500, "status", "release step: make") +
                                   FormatLogLine(600, "output", "compiling") +
                                   FormatLogLine(700, "status", "exited with 2 after 0.2 s"));
  auto all = ReadStoredLogs(dir, "webapp", "aaaa", "", 100);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 4);
  CHECK((*all)[0].key.role == "say");
  CHECK((*all)[0].key.instance == 1);
  CHECK((*all)[1].text == "one");
  CHECK((*all)[2].text == "two");
  CHECK((*all)[3].text == "three");
  CHECK((*all)[3].stream == "stderr");
  CHECK((*all)[3].key.commit == kA);
  auto last = ReadStoredLogs(dir, "webapp", kA, "web", 2);
  REQUIRE(last.ok());
  REQUIRE(last->size() == 2);
  CHECK((*last)[0].text == "two");
  CHECK(ReadStoredLogs(dir, "webapp", "bbbb", "", 10)->empty());
  CHECK(ReadStoredLogs(dir, "nothing", "aaaa", "", 10)->empty());
  CHECK(ReadStoredLogs(dir, "webapp", "../x", "", 10).status().code() == Code::kInvalidArgument);
  CHECK(ReadStoredLogs(dir, "../etc", "aaaa", "", 10).status().code() == Code::kInvalidArgument);

  auto release = ReadReleaseLog(dir, "webapp", "aaaa", 100);
  REQUIRE(release.ok());
  REQUIRE(release->size() == 3);
  CHECK((*release)[0].key.role == "release");
  CHECK((*release)[1].stream == "output");
  CHECK((*release)[2].text == "exited with 2 after 0.2 s");

  // A link in place of a log file is not followed.
  fs::create_symlink("/etc/passwd", base + "/web.9.log");
  auto linked = ReadStoredLogs(dir, "webapp", kA, "web", 100);
  REQUIRE(linked.ok());
  CHECK(linked->size() == 3);
}
