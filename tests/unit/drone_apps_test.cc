// What an app gets and what it cannot do to the drone: its environment,
// the files the drone reads from its checkout, its limits (pure parts and
// small real processes).
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "drone/app_env.h"
#include "drone/app_runtime.h"
#include "drone/cgroup.h"
#include "drone/checkout_files.h"
#include "drone/child_setup.h"
#include "drone/proc_tree.h"
#include "drone/procfile.h"
#include "drone/run_command.h"
#include "tests/unit/test_util.h"

using namespace skyport;
using namespace skyport::drone;
using skyport::testing::TempDir;
namespace fs = std::filesystem;

TEST_CASE("BuildAppEnv: nothing of the drone's environment but the names passed", "[drone]") {
  AppEnvInput in;
  in.drone_environ = {"SKYPORT_TOKEN=s3cret", "SKYPORT_TOKEN_FILE=/etc/skyport/token", "PATH=/opt/drone/bin",
                      "HOME=/root", "AWS_SECRET_ACCESS_KEY=k", "TZ=Europe/Paris", "LANG=de_DE.UTF-8",
                      "HTTP_PROXY=http://proxy:3128", "TZX=no"};
  in.home = "/srv/deploy/webapp/abc";
  in.config = {{"GREETING", "hi"}, {"PORT", "1"}, {"SKYPORT_APP", "evil"}, {"SKYPORT_TOKEN", "x"}, {"LANG", "fr_FR"}};
  in.skyport = {{"PORT", "8080"}, {"SKYPORT_APP", "webapp"}, {"SKYPORT_DRONE", "d1"}};
  SECTION("no pass list") {
    CHECK(BuildAppEnv(in) == std::vector<std::string>{"GREETING=hi", "HOME=/srv/deploy/webapp/abc", "LANG=fr_FR",
                                                      std::string("PATH=") + kAppPath, "PORT=8080",
                                                      "SKYPORT_APP=webapp", "SKYPORT_DRONE=d1"});
  }
  SECTION("names passed by the operator; missing ones are skipped; never a SKYPORT_ one") {
    in.pass = {"TZ", "HTTP_PROXY", "NOT_SET", "SKYPORT_TOKEN"};
    in.config.erase("LANG");
    auto env = BuildAppEnv(in);
    CHECK(env == std::vector<std::string>{"GREETING=hi", "HOME=/srv/deploy/webapp/abc", "HTTP_PROXY=http://proxy:3128",
                                          std::string("LANG=") + kAppLang, std::string("PATH=") + kAppPath,
                                          "PORT=8080", "SKYPORT_APP=webapp", "SKYPORT_DRONE=d1", "TZ=Europe/Paris"});
  }
  for (const auto& kv : BuildAppEnv(in)) {
    CHECK(kv.find("s3cret") == std::string::npos);
    CHECK(kv.find("SKYPORT_TOKEN") == std::string::npos);
  }
}

TEST_CASE("ValidateEnvPass refuses the drone's own names and bad names", "[drone]") {
  CHECK(ValidateEnvPass({}).ok());
  CHECK(ValidateEnvPass({"TZ", "HTTP_PROXY", "_X1"}).ok());
  for (const char* bad : {"SKYPORT_TOKEN", "SKYPORT_TOKEN_FILE", "PORT", "", "1X", "A=B", "A B", "A-B"}) {
    INFO(bad);
    auto s = ValidateEnvPass({bad});
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("app-env-pass") != std::string::npos);
  }
}

TEST_CASE("RunCommand: the app environment reaches a build step and the token does not", "[drone][run_command]") {
  TempDir dir;
  ::setenv("SKYPORT_TOKEN", "drone-secret-for-test", 1);
  AppEnvInput in;
  in.drone_environ = ProcessEnviron();
  in.home = dir.path();
  std::map<std::string, std::string> env;
  for (const auto& kv : BuildAppEnv(in)) env[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  auto r = RunCommand("env", dir.path(), env, 10'000);
  ::unsetenv("SKYPORT_TOKEN");
  REQUIRE(r.ok());
  CHECK(r->output.find("drone-secret-for-test") == std::string::npos);
  CHECK(r->output.find("HOME=" + dir.path()) != std::string::npos);
}

TEST_CASE("ReadCheckoutFile: regular files only, inside the checkout, up to a cap", "[drone]") {
  TempDir dir;
  const std::string d = dir.path();
  std::ofstream(d + "/Procfile") << "web: python3 app.py\n";
  fs::create_symlink("/etc/passwd", d + "/passwd-link");
  fs::create_symlink("/dev/zero", d + "/zero-link");
  fs::create_symlink("Procfile", d + "/inner-link");  // even one that stays inside
  fs::create_directory(d + "/adir");
  REQUIRE(mkfifo((d + "/fifo").c_str(), 0644) == 0);
  std::ofstream(d + "/big") << std::string(kMaxSpecFileBytes + 1, 'x');
  std::ofstream(d + "/exact") << std::string(kMaxSpecFileBytes, 'y');

  auto ok = ReadCheckoutFile(d, "Procfile");
  REQUIRE(ok.ok());
  CHECK(*ok == "web: python3 app.py\n");
  CHECK(ReadCheckoutFile(d, "exact")->size() == kMaxSpecFileBytes);
  CHECK(ReadCheckoutFile(d, "missing").status().code() == Code::kNotFound);

  struct Row {
    const char* name;
    const char* message_has;
  };
  for (const Row& r : {Row{"passwd-link", "symbolic link"}, Row{"zero-link", "symbolic link"},
                       Row{"inner-link", "symbolic link"}, Row{"adir", "regular file"}, Row{"fifo", "regular file"},
                       Row{"big", "65536 byte limit"}}) {
    INFO(r.name);
    auto s = ReadCheckoutFile(d, r.name);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == Code::kFailedPrecondition);
    CHECK(s.status().message().find(r.message_has) != std::string::npos);
    CHECK(s.status().message().find("root:") == std::string::npos);
  }
  for (const char* bad : {"../Procfile", "a/b", "", ".", ".."})
    CHECK(ReadCheckoutFile(d, bad).status().code() == Code::kInvalidArgument);
}

TEST_CASE("ApplySkyportJson: limits, cpu, memory_mb, stop_timeout_s", "[drone][procfile]") {
  AppSpec spec = *ParseProcfile("web: x\n");
  REQUIRE(ApplySkyportJson(R"({"limits": {"nofile": 256, "nproc": 64, "as_mb": 1024}, "cpu": 0.5,
                               "memory_mb": 256, "stop_timeout_s": 12})", spec).ok());
  CHECK(spec.resources.nofile == 256u);
  CHECK(spec.resources.nproc == 64u);
  CHECK(spec.resources.as_mb == 1024u);
  CHECK(spec.resources.cpu == 0.5);
  CHECK(spec.resources.memory_mb == 256u);
  CHECK(spec.resources.stop_timeout_ms == 12'000);
  struct Row {
    const char* text;
    const char* message_has;
  };
  for (const Row& r : {Row{R"({"limits": {"nofile": 0}})", "limits.nofile: must be an integer from 16 to 1048576"},
                       Row{R"({"limits": {"nofile": 2000000}})", "limits.nofile"},
                       Row{R"({"limits": {"nproc": -1}})", "limits.nproc"},
                       Row{R"({"limits": {"as_mb": 1}})", "limits.as_mb"},
                       Row{R"({"limits": {"files": 1}})", "limits.files: unknown key"},
                       Row{R"({"limits": 5})", "limits: must be an object"},
                       Row{R"({"cpu": 0})", "cpu"}, Row{R"({"cpu": "1"})", "cpu"}, Row{R"({"cpu": 5000})", "cpu"},
                       Row{R"({"memory_mb": 1})", "memory_mb"},
                       Row{R"({"stop_timeout_s": 0})", "stop_timeout_s: must be an integer from 1 to 3600"},
                       Row{R"({"stop_timeout_s": 99999})", "stop_timeout_s"}}) {
    INFO(r.text);
    AppSpec s2 = *ParseProcfile("web: x\n");
    auto st = ApplySkyportJson(r.text, s2);
    CHECK(st.code() == Code::kInvalidArgument);
    CHECK(st.message().find(r.message_has) != std::string::npos);
  }
}

TEST_CASE("ResolveAppRuntime: the drone's settings are defaults and ceilings", "[drone]") {
  AppRuntimeDefaults d;
  d.limits = {1024, 512, 0};
  d.cgroup = {2.0, 0};
  d.nice = 7;
  d.stop_timeout_ms = 5'000;
  AppResources none;
  auto r = ResolveAppRuntime(d, none);
  CHECK(r.setup.limits == AppLimits{1024, 512, 0});
  CHECK(r.setup.nice == 7);
  CHECK(r.cgroup.cpus == 2.0);
  CHECK(r.cgroup.memory_mb == 0u);
  CHECK(r.stop_timeout_ms == 5'000);
  AppResources asked;
  asked.nofile = 100;      // lower: taken
  asked.nproc = 100000;    // higher: capped
  asked.as_mb = 2048;      // the drone sets none: taken
  asked.cpu = 8;           // capped at 2
  asked.memory_mb = 300;   // taken
  asked.stop_timeout_ms = 30'000;
  r = ResolveAppRuntime(d, asked);
  CHECK(r.setup.limits == AppLimits{100, 512, 2048});
  CHECK(r.cgroup.cpus == 2.0);
  CHECK(r.cgroup.memory_mb == 300u);
  CHECK(r.stop_timeout_ms == 30'000);
}

TEST_CASE("cgroup v2: mount, own cgroup, cpu.max", "[drone]") {
  const char* hybrid =
      "30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw\n"
      "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  CHECK(ParseCgroup2Mount(hybrid) == "/sys/fs/cgroup/unified");
  CHECK(ParseCgroup2Mount("36 35 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n") ==
        "/sys/fs/cgroup");
  CHECK_FALSE(ParseCgroup2Mount("32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"));
  CHECK_FALSE(ParseCgroup2Mount(""));
  CHECK(ParseOwnCgroup("4:memory:/x\n0::/system.slice/skyport-drone.service\n") == "/system.slice/skyport-drone.service");
  CHECK(ParseOwnCgroup("0::/\n") == "/");
  CHECK_FALSE(ParseOwnCgroup("4:memory:/x\n"));
  CHECK(CpuMaxValue(0.5) == "50000 100000");
  CHECK(CpuMaxValue(2) == "200000 100000");
  CHECK(CpuMaxValue(0.001) == "1000 100000");  // the kernel's minimum quota
  CHECK(CpuMaxValue(0) == "max 100000");
}

TEST_CASE("Descendants: the group, the leader's tree, and trees of what was found before", "[drone]") {
  auto P = [](pid_t pid, pid_t ppid, pid_t pgid, char state = 'S') {
    ProcStat s;
    s.pid = pid;
    s.ppid = ppid;
    s.pgid = pgid;
    s.state = state;
    return s;
  };
  // 100 leads group 100; 101 is in it; 102 (child of 101) called setsid;
  // 103 its child; 200 an adopted orphan (child of the drone, 1) tracked
  // before, 201 its child; 300 unrelated; 104 a zombie.
  std::vector<ProcStat> procs = {P(1, 0, 1), P(100, 1, 100), P(101, 100, 100), P(102, 101, 102), P(103, 102, 102),
                                 P(104, 100, 100, 'Z'), P(200, 1, 200), P(201, 200, 200), P(300, 1, 300)};
  CHECK(Descendants(procs, {100}, 100) == std::set<pid_t>{100, 101, 102, 103});
  CHECK(Descendants(procs, {}, 100) == std::set<pid_t>{100, 101, 102, 103});  // leader gone: the group
  CHECK(Descendants(procs, {200}, 0) == std::set<pid_t>{200, 201});
  CHECK(Descendants(procs, {1}, 0).count(1) == 0);  // never init
  CHECK(Descendants(procs, {999}, 0).empty());
}

TEST_CASE("Environ of an adopted orphan names its instance", "[drone]") {
  static const char kText[] =
      "PATH=/bin\0SKYPORT_APP=webapp\0SKYPORT_COMMIT=abc\0SKYPORT_ROLE=web\0SKYPORT_INSTANCE=0\0"
      "SKYPORT_DRONE=d1\0NOEQ\0";
  std::string text(kText, sizeof kText - 1);
  auto env = ParseEnviron(text);
  CHECK(env.at("SKYPORT_APP") == "webapp");
  CHECK(env.count("NOEQ") == 0);
  CHECK(InstanceFromEnviron(env, "d1") == "webapp@abc/web.0");
  CHECK(InstanceFromEnviron(env, "d2") == "");  // another drone's
  env.erase("SKYPORT_ROLE");
  CHECK(InstanceFromEnviron(env, "d1") == "");
  CHECK(ParseEnviron(std::string("A=1\0B=2\0C=3", 11), 2).size() == 2);
}

TEST_CASE("RunCommand: rlimits and nice are applied before exec", "[drone][run_command]") {
  TempDir dir;
  ChildSetup setup;
  setup.limits.nofile = 64;
  setup.nice = AppNice(5);
  auto r = RunCommand("ulimit -n; ulimit -Hn; cut -d' ' -f19 /proc/self/stat", dir.path(), {}, 10'000, 4096, setup);
  REQUIRE(r.ok());
  CHECK(r->output == "64\n64\n" + std::to_string(AppNice(5)) + "\n");
}

TEST_CASE("LookupAppUser, ReadableBy, SearchableBy: the token-file check", "[drone]") {
  CHECK(LookupAppUser("no-such-user-skyport").status().code() == Code::kNotFound);
  CHECK(LookupAppUser("root").status().code() == Code::kInvalidArgument);
  auto nobody = LookupAppUser("nobody");
  if (!nobody.ok()) {
    WARN("skipped: no user nobody");
    return;
  }
  CHECK(nobody->uid != 0);
  if (geteuid() != 0) {
    WARN("skipped: the ownership cases need root (chown)");
    return;
  }
  TempDir dir;
  const std::string d = dir.path();
  REQUIRE(chmod(d.c_str(), 0711) == 0);
  const std::string token = d + "/token";
  std::ofstream(token) << "secret\n";
  struct Row {
    mode_t mode;
    bool other_group;  // file group = nobody's group
    bool owned;        // file owned by nobody
    bool readable;
  };
  const Row rows[] = {{0600, false, false, false}, {0640, false, false, false}, {0644, false, false, true},
                      {0640, true, false, true},   {0600, false, true, true},   {0060, false, true, false}};
  for (const Row& r : rows) {
    INFO("mode " << std::oct << r.mode << " group " << r.other_group << " owned " << r.owned);
    REQUIRE(chown(token.c_str(), r.owned ? nobody->uid : getuid(), r.other_group ? nobody->gid : getgid()) == 0);
    REQUIRE(chmod(token.c_str(), r.mode) == 0);
    CHECK(ReadableBy(token, *nobody) == r.readable);
  }
  // A world-readable file in a directory the user cannot enter is not readable.
  REQUIRE(chown(token.c_str(), getuid(), getgid()) == 0);
  REQUIRE(chmod(token.c_str(), 0644) == 0);
  REQUIRE(chmod(d.c_str(), 0700) == 0);
  CHECK_FALSE(ReadableBy(token, *nobody));
  CHECK_FALSE(SearchableBy(d, *nobody));
  REQUIRE(chmod(d.c_str(), 0711) == 0);
  CHECK(SearchableBy(d, *nobody));
}
