// The supervisor against real processes (sh, sleep, python3) on 127.0.0.1
// with free ports, temp dirs and millisecond timings. Waits poll with
// deadlines; only processes these tests started are ever signalled.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/children.h"
#include "core/clock.h"
#include "core/proc_stat.h"
#include "drone/readiness.h"
#include "drone/state_file.h"
#include "drone/supervisor.h"
#include "tests/unit/test_util.h"

using namespace skyport;
using namespace skyport::drone;
namespace fs = std::filesystem;
using skyport::testing::Slurp;
using skyport::testing::TempDir;

namespace {

int64_t Mono() { return SystemClock::Get()->MonoMs(); }

template <class F>
bool WaitUntil(F done, int64_t timeout_ms = 5'000) {
  const int64_t deadline = Mono() + timeout_ms;
  while (!done()) {
    if (Mono() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a poll interval, not a wait for an event
  }
  return true;
}

uint32_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Alive = exists and is not a zombie.
bool Alive(pid_t pid) {
  auto st = ReadProcStat(pid);
  return st.ok() && st->state != 'Z';
}
bool Exists(pid_t pid) { return ReadProcStat(pid).ok(); }

std::vector<pid_t> ZombieChildren() {
  std::vector<pid_t> out;
  for (const auto& p : ListProcesses())
    if (p.ppid == getpid() && p.state == 'Z') out.push_back(p.pid);
  return out;
}

// A TCP server on $PORT that never writes a byte (a quiet app).
const std::string kListen =
    R"(python3 -c 'import os,socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen(16); time.sleep(1000)')";

struct Recorder {
  std::mutex mu;
  std::vector<ProcStatus> events;
  std::function<void(const ProcStatus&)> extra;

  Supervisor::OnChange Fn() {
    return [this](const ProcStatus& s) {
      if (extra) extra(s);
      std::lock_guard lock(mu);
      events.push_back(s);
    };
  }
  std::vector<ProcStatus> Events() {
    std::lock_guard lock(mu);
    return events;
  }
  std::vector<ProcState> States() {
    std::vector<ProcState> out;
    for (const auto& e : Events()) out.push_back(e.state);
    return out;
  }
  bool Saw(ProcState s) {
    for (auto st : States())
      if (st == s) return true;
    return false;
  }
};

SupervisorOptions Options(const TempDir& dir) {
  SupervisorOptions o;
  o.log_dir = (fs::path(dir.path()) / "logs").string();
  o.restart_backoff = {20, 200, 2.0, 0.0};
  o.stable_after_ms = 10'000;
  o.term_timeout_ms = 2'000;
  o.state_file = (fs::path(dir.path()) / "state.json").string();
  return o;
}

ProcessSpec Spec(const std::string& role, const std::string& command, uint32_t port = 0) {
  ProcessSpec s;
  s.key = {"webapp", "abc123", role, 0};
  s.command = command;
  s.port = port;
  if (port != 0) s.env["PORT"] = std::to_string(port);
  s.ready_timeout_ms = 5'000;
  return s;
}

std::optional<ProcStatus> Find(const Supervisor& sup, const InstanceKey& key) {
  for (const auto& s : sup.List())
    if (s.key == key) return s;
  return std::nullopt;
}

ProcState StateOf(const Supervisor& sup, const InstanceKey& key) {
  auto s = Find(sup, key);
  return s ? s->state : ProcState::kStopped;
}

bool TailHas(const Supervisor& sup, const std::string& text) {
  for (const auto& l : sup.Tail("webapp", "", "", 100))
    if (l.text == text) return true;
  return false;
}

// The pid an app printed as "grandchild PID" (0 if not yet).
pid_t GrandchildPid(const Supervisor& sup) {
  for (const auto& l : sup.Tail("webapp", "", "", 100))
    if (l.text.rfind("grandchild ", 0) == 0) return std::stoi(l.text.substr(11));
  return 0;
}

std::unique_ptr<Supervisor> StartSupervisor(SupervisorOptions opts, Recorder& rec) {
  // As the drone does in main: orphans of the apps come to us.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto sup = Supervisor::Start(std::move(opts), rec.Fn());
  REQUIRE(sup.ok());
  return std::move(sup).value();
}

// A test's temp dir, recorder and options (changed before Start).
struct SupervisorRig {
  TempDir dir;
  Recorder rec;
  SupervisorOptions opts = Options(dir);
  std::unique_ptr<Supervisor> Start() { return StartSupervisor(opts, rec); }
};

}  // namespace

TEST_CASE_METHOD(SupervisorRig, "Supervisor: ready only after the port answers", "[drone]") {
  const uint32_t port = FreePort();
  // Readiness seen from inside the callbacks, at the moment of the report.
  std::atomic<int> answered_when_starting{0}, answered_when_ready{0};
  rec.extra = [&](const ProcStatus& s) {
    if (s.state == ProcState::kStarting && s.pid != 0 && CheckReady("127.0.0.1", port, "", 200)) ++answered_when_starting;
    if (s.state == ProcState::kReady && CheckReady("127.0.0.1", port, "", 200)) ++answered_when_ready;
  };
  auto sup = Start();
  auto spec = Spec("web", "sleep 0.3; exec " + kListen, port);
  REQUIRE(sup->Run(spec).ok());
  CHECK(sup->Run(spec).code() == Code::kAlreadyExists);
  REQUIRE(WaitUntil([&] { return rec.Saw(ProcState::kReady); }));  // List() may be a little ahead
  CHECK(answered_when_starting == 0);
  CHECK(answered_when_ready == 1);
  auto states = rec.States();
  REQUIRE(states.size() >= 2);
  CHECK(states[0] == ProcState::kStarting);
  CHECK(states[1] == ProcState::kReady);
  auto st = Find(*sup, spec.key);
  CHECK(st->pid > 0);
  CHECK(st->port == port);
  CHECK(st->restarts == 0);
  REQUIRE(sup->Stop(spec.key, 0).ok());
  CHECK(sup->List().empty());
  CHECK(sup->Stop(spec.key, 0).code() == Code::kNotFound);
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: HTTP health path", "[drone]") {
  auto sup = Start();
  const uint32_t port = FreePort();
  auto ok = Spec("web", "exec python3 -m http.server $PORT --bind 127.0.0.1", port);
  ok.health_path = "/";
  ok.cwd = fs::path(dir.path()).string();
  REQUIRE(sup->Run(ok).ok());
  REQUIRE(WaitUntil([&] { return StateOf(*sup, ok.key) == ProcState::kReady; }));
  // The GET reached the app: http.server logs it on stderr.
  REQUIRE(WaitUntil([&] {
    for (const auto& l : sup->Tail("webapp", "abc", "web", 10))
      if (l.stream == "stderr" && l.text.find("\"GET / HTTP/1.0\" 200") != std::string::npos) return true;
    return false;
  }));

  // A path that answers 404 never makes it ready.
  const uint32_t port2 = FreePort();
  auto bad = Spec("api", "exec python3 -m http.server $PORT --bind 127.0.0.1", port2);
  bad.health_path = "/missing";
  bad.cwd = fs::path(dir.path()).string();
  bad.ready_timeout_ms = 700;
  REQUIRE(sup->Run(bad).ok());
  REQUIRE(WaitUntil([&] { return rec.Saw(ProcState::kBackoff); }));
  auto st = Find(*sup, bad.key);
  REQUIRE(st);
  CHECK(st->last_error == fmt::format("not ready on port {} after 700ms (last probe: health check answered 404)", port2));
  CHECK_FALSE(rec.Saw(ProcState::kFailed));
  for (const auto& e : rec.Events())
    if (e.key == bad.key) CHECK(e.state != ProcState::kReady);
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a worker is ready once spawned; Stop reports stopping first", "[drone]") {
  auto sup = Start();
  auto spec = Spec("worker", "exec sleep 1000");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return StateOf(*sup, spec.key) == ProcState::kReady; }));
  const pid_t pid = static_cast<pid_t>(Find(*sup, spec.key)->pid);
  REQUIRE(pid > 0);
  CHECK(ReadProcStat(pid)->pgid == pid);  // its own process group
  REQUIRE(sup->Stop(spec.key, 50).ok());
  CHECK(rec.States() == std::vector<ProcState>{ProcState::kReady, ProcState::kStopping, ProcState::kStopped});
  CHECK_FALSE(Alive(pid));
  CHECK(WaitUntil([&] { return !Exists(pid); }));  // reaped
  CHECK(sup->List().empty());
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a crash is reported and restarted with backoff", "[drone]") {
  auto sup = Start();  // backoff 20, 40, 80, ...
  auto spec = Spec("worker", "echo boom; exit 3");
  REQUIRE(sup->Run(spec).ok());
  // Starts move apart as the backoff grows (from the callbacks, which may
  // trail List() a little).
  std::vector<int64_t> starts;
  std::optional<ProcStatus> first_backoff;
  REQUIRE(WaitUntil([&] {
    starts.clear();
    first_backoff.reset();
    for (const auto& e : rec.Events()) {
      if (e.state == ProcState::kReady && (starts.empty() || starts.back() != e.started_unix_ms))
        starts.push_back(e.started_unix_ms);
      if (e.state == ProcState::kBackoff && !first_backoff) first_backoff = e;
    }
    return starts.size() >= 4;
  }));
  CHECK(starts[3] - starts[0] >= 20 + 40 + 80);
  CHECK(starts[1] - starts[0] >= 20);
  CHECK(starts[2] - starts[1] >= 40);
  CHECK(starts[3] - starts[2] >= 80);
  REQUIRE(first_backoff);
  CHECK(first_backoff->last_error == "exited with code 3");
  CHECK(first_backoff->pid == 0);
  CHECK(first_backoff->next_restart_unix_ms > 0);
  CHECK_FALSE(first_backoff->crash_loop);
  // Three quick crashes in a row: a crash loop.
  REQUIRE(WaitUntil([&] {
    auto s = Find(*sup, spec.key);
    return s && s->crash_loop;
  }));
  CHECK(TailHas(*sup, "boom"));
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: gives up after max_quick_restarts", "[drone]") {
  opts.max_quick_restarts = 2;
  auto sup = Start();
  auto spec = Spec("worker", "exit 1");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return StateOf(*sup, spec.key) == ProcState::kFailed; }));
  auto s = Find(*sup, spec.key);
  CHECK(s->restarts == 2);
  CHECK(s->crash_loop);
  CHECK(s->pid == 0);
  CHECK(s->last_error == "exited with code 1");
  REQUIRE(sup->Stop(spec.key, 0).ok());
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: not ready in time is killed and counted as a crash", "[drone]") {
  auto sup = Start();
  auto spec = Spec("web", "exec sleep 1000", FreePort());  // never listens
  spec.ready_timeout_ms = 300;
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return Find(*sup, spec.key) && Find(*sup, spec.key)->pid > 0; }));
  const pid_t first = static_cast<pid_t>(Find(*sup, spec.key)->pid);
  REQUIRE(WaitUntil([&] { return rec.Saw(ProcState::kBackoff); }));
  CHECK(Find(*sup, spec.key)->last_error ==
        fmt::format("not ready on port {} after 300ms (last probe: connect: Connection refused)", spec.port));
  CHECK(WaitUntil([&] { return !Exists(first); }));
  REQUIRE(WaitUntil([&] { return Find(*sup, spec.key)->restarts >= 1; }));
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: Stop sends SIGTERM to the group", "[drone]") {
  auto sup = Start();
  const fs::path marker = fs::path(dir.path()) / "got-term";
  auto spec = Spec("worker", "trap 'echo term > " + marker.string() +
                                 "; exit 0' TERM; echo armed; while :; do sleep 0.05; done");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return TailHas(*sup, "armed"); }));
  const int64_t t0 = Mono();
  REQUIRE(sup->Stop(spec.key, 0).ok());
  CHECK(Mono() - t0 < 1'500);  // well before the SIGKILL at 2 s
  CHECK(Slurp(marker) == "term\n");
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: SIGKILL after term_timeout for a process that ignores SIGTERM", "[drone]") {
  opts.term_timeout_ms = 300;
  auto sup = Start();
  auto spec = Spec("worker", "trap '' TERM; echo armed; while :; do sleep 0.05; done");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return TailHas(*sup, "armed"); }));
  const pid_t pid = static_cast<pid_t>(Find(*sup, spec.key)->pid);
  const int64_t t0 = Mono();
  REQUIRE(sup->Stop(spec.key, 0).ok());
  const int64_t took = Mono() - t0;
  CHECK(took >= 300);
  CHECK(took < 2'000);
  CHECK_FALSE(Alive(pid));
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: Stop leaves no grandchild, no zombie", "[drone]") {
  auto sup = Start();
  const uint32_t port = FreePort();
  auto spec = Spec("web", "sleep 1000 & echo grandchild $!; exec " + kListen, port);
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return StateOf(*sup, spec.key) == ProcState::kReady; }));
  REQUIRE(WaitUntil([&] { return GrandchildPid(*sup) > 0; }));
  const pid_t grandchild = GrandchildPid(*sup);
  REQUIRE(Alive(grandchild));
  const pid_t pid = static_cast<pid_t>(Find(*sup, spec.key)->pid);
  CHECK(ReadProcStat(grandchild)->pgid == pid);
  REQUIRE(sup->Stop(spec.key, 0).ok());
  CHECK_FALSE(Alive(grandchild));
  // Orphaned grandchildren come to us (subreaper) and the owner thread reaps them.
  CHECK(WaitUntil([&] { return !Exists(grandchild) && !Exists(pid); }));
  CHECK(WaitUntil([&] { return ZombieChildren().empty(); }));
  CHECK_FALSE(CheckReady("127.0.0.1", port, "", 200));
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a crash kills the rest of the old group before the restart", "[drone]") {
  auto sup = Start();
  const fs::path flag = fs::path(dir.path()) / "ran-once";
  // The first run leaves a grandchild behind and dies; later runs stay up.
  auto spec = Spec("worker", "if [ -e " + flag.string() + " ]; then exec sleep 1000; fi; touch " + flag.string() +
                                 "; sleep 1000 & echo grandchild $!; exit 7");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] {
    auto s = Find(*sup, spec.key);
    return s && s->restarts == 1 && s->state == ProcState::kReady;
  }));
  const pid_t grandchild = GrandchildPid(*sup);
  REQUIRE(grandchild > 0);
  CHECK(WaitUntil([&] { return !Exists(grandchild); }));
  CHECK(Find(*sup, spec.key)->last_error == "exited with code 7");
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: the child inherits no fd of ours", "[drone]") {
  // A listening socket without CLOEXEC, as Asio 1.74 makes them.
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(lfd, 4) == 0);
  auto sup = Start();
  auto spec = Spec("worker", "exec sleep 1000");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return StateOf(*sup, spec.key) == ProcState::kReady; }));
  const pid_t pid = static_cast<pid_t>(Find(*sup, spec.key)->pid);
  // After exec sleep, the fds are exactly stdin (/dev/null), stdout, stderr.
  REQUIRE(WaitUntil([&] { return fs::read_symlink(fmt::format("/proc/{}/exe", pid)).filename() == "sleep"; }));
  std::vector<int> fds;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid)))
    fds.push_back(std::stoi(e.path().filename().string()));
  std::sort(fds.begin(), fds.end());
  CHECK(fds == std::vector<int>{0, 1, 2});
  CHECK(fs::read_symlink(fmt::format("/proc/{}/fd/0", pid)) == "/dev/null");
  REQUIRE(sup->Stop(spec.key, 0).ok());
  close(lfd);
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: logs go to the file, the tail and subscribers", "[drone]") {
  opts.tail_lines = 3;
  auto sup = Start();
  std::mutex mu;
  std::vector<LogLine> got;
  uint64_t sub = sup->Subscribe([&](const LogLine& l) {
    std::lock_guard lock(mu);
    got.push_back(l);
  });
  auto has = [&](const std::string& stream, const std::string& text) {
    std::lock_guard lock(mu);
    for (const auto& l : got)
      if (l.stream == stream && l.text == text) return true;
    return false;
  };
  auto spec = Spec("worker", "echo out1; echo err1 >&2; echo out2; echo out3; printf partial; exec sleep 1000");
  spec.key.instance = 2;
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return has("stdout", "out3") && has("stderr", "err1"); }));
  auto tail = sup->Tail("webapp", "abc123", "worker", 100);
  // The ring holds 3. Lines keep their order within a stream; stdout and
  // stderr are two pipes, so their relative order is not kept.
  REQUIRE(tail.size() == 3);
  CHECK(std::count_if(tail.begin(), tail.end(), [](const LogLine& l) { return l.text == "out3"; }) == 1);
  CHECK(sup->Tail("other", "", "", 100).empty());
  CHECK(sup->Tail("", "abc", "", 1).size() == 1);
  const fs::path log = fs::path(dir.path()) / "logs" / "webapp" / "abc123" / "worker.2.log";
  REQUIRE(WaitUntil([&] { return Slurp(log).find(" stdout out3\n") != std::string::npos; }));
  std::string text = Slurp(log);
  CHECK(text.find(" stdout out1\n") != std::string::npos);
  CHECK(text.find(" stderr err1\n") != std::string::npos);
  CHECK(text.find("Z stdout out2\n") != std::string::npos);  // after the UTC timestamp
  // The unterminated rest arrives when the instance stops.
  REQUIRE(sup->Stop(spec.key, 0).ok());
  CHECK(has("stdout", "partial"));
  sup->Unsubscribe(sub);
  for (const auto& l : got) CHECK(l.key == spec.key);
}

TEST_CASE("Supervisor: the next run stops what a crashed one left, by the state file", "[drone]") {
  TempDir dir;
  auto opts = Options(dir);
  opts.term_timeout_ms = 500;
  // If a REQUIRE fails while the first run's processes are abandoned, they
  // must not outlive the test.
  struct Cleanup {
    std::string state_file;
    pid_t bystander = 0;
    ~Cleanup() {
      if (bystander > 0) kill(bystander, SIGKILL);
      auto left = ReadStateFile(state_file);
      if (left.ok()) StopLeftovers(*left, 100, [](const std::string&) {});
    }
  } cleanup{opts.state_file};
  pid_t pid = 0, grandchild = 0;
  {
    Recorder rec;
    auto abandon = opts;
    abandon.leave_running_on_destroy = true;
    auto sup = StartSupervisor(abandon, rec);
    auto spec = Spec("web", "sleep 1000 & echo grandchild $!; exec " + kListen, FreePort());
    REQUIRE(sup->Run(spec).ok());
    REQUIRE(WaitUntil([&] { return StateOf(*sup, spec.key) == ProcState::kReady && GrandchildPid(*sup) > 0; }));
    grandchild = GrandchildPid(*sup);
    pid = static_cast<pid_t>(Find(*sup, spec.key)->pid);
    auto entries = ReadStateFile(opts.state_file);
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == 1);
    CHECK((*entries)[0].pid == pid);
    CHECK((*entries)[0].pgid == pid);
    CHECK((*entries)[0].start_time == ReadProcStat(pid)->start_time);
  }
  REQUIRE(grandchild > 0);
  REQUIRE(Alive(pid));  // the "crashed" supervisor left it running
  REQUIRE(Alive(grandchild));

  // A stale entry: a live process whose start time does not match is a
  // reused pid and must be left alone.
  pid_t bystander = fork();
  if (bystander == 0) {
    setpgid(0, 0);
    execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(bystander > 0);
  cleanup.bystander = bystander;
  REQUIRE(WaitUntil([&] { return Alive(bystander); }));
  {
    auto entries = *ReadStateFile(opts.state_file);
    entries.push_back({"stale", bystander, bystander, ReadProcStat(bystander)->start_time + 1, {}});
    REQUIRE(WriteStateFile(opts.state_file, entries).ok());
  }

  Recorder rec2;
  auto sup2 = StartSupervisor(opts, rec2);
  CHECK_FALSE(Alive(pid));
  CHECK_FALSE(Alive(grandchild));
  CHECK(Alive(bystander));
  CHECK(WaitUntil([&] { return !Exists(pid) && !Exists(grandchild); }));  // reaped by sup2
  auto entries = ReadStateFile(opts.state_file);
  REQUIRE(entries.ok());
  CHECK(entries->empty());
  kill(bystander, SIGKILL);
  int st;
  waitpid(bystander, &st, 0);  // ECHILD if sup2 reaped it first: fine
  cleanup.bystander = 0;
  CHECK(WaitUntil([&] { return !Exists(bystander); }));
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a child claimed by another waiter keeps its status", "[drone]") {
  auto sup = Start();
  // As drone/run_command does: the child waits on a pipe until claimed.
  int go[2];
  REQUIRE(pipe2(go, O_CLOEXEC) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    char c;
    ssize_t n = read(go[0], &c, 1);
    _exit(n == 0 ? 5 : 6);
  }
  REQUIRE(child > 0);
  children::Claim(child);
  close(go[0]);
  close(go[1]);  // the child exits 5 now
  REQUIRE(WaitUntil([&] { return ReadProcStat(child).ok() && ReadProcStat(child)->state == 'Z'; }));
  // While that zombie waits for its owner, ours are still reaped.
  auto spec = Spec("worker", "exit 2");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] {
    auto s = Find(*sup, spec.key);
    return s && s->restarts >= 2;
  }));
  int st = 0;
  CHECK(waitpid(child, &st, WNOHANG) == child);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 5);
  children::Release(child);
}

namespace {

// An app that daemonizes the classic way: fork, setsid, fork again; the
// daemon writes its pid to `pidfile` and lives on; the app's own process
// waits (so the instance stays up).
std::string DoubleForkApp(const std::string& pidfile) {
  return "python3 -c 'import os,sys,time\n"
         "if os.fork() == 0:\n"
         "    os.setsid()\n"
         "    if os.fork() == 0:\n"
         "        open(\"" + pidfile + ".tmp\", \"w\").write(str(os.getpid())); os.rename(\"" + pidfile + ".tmp\", \"" + pidfile + "\")\n"
         "        time.sleep(1000)\n"
         "    os._exit(0)\n"
         "time.sleep(1000)'";
}

pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

ProcessSpec EscapingSpec(const std::string& pidfile) {
  auto spec = Spec("worker", DoubleForkApp(pidfile));
  // As the agent sets them: how an adopted orphan is attributed.
  spec.env = {{"SKYPORT_APP", "webapp"}, {"SKYPORT_COMMIT", "abc123"}, {"SKYPORT_ROLE", "worker"},
              {"SKYPORT_INSTANCE", "0"}, {"SKYPORT_DRONE", "d1"}};
  return spec;
}

}  // namespace

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a double-forked, setsid daemon is stopped with its instance (no cgroup)", "[drone]") {
  opts.drone_name = "d1";
  opts.orphan_scan_ms = 20;
  auto sup = Start();
  const std::string pidfile = dir.path() + "/daemon.pid";
  auto spec = EscapingSpec(pidfile);
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return ReadPid(pidfile) > 0; }));
  const pid_t daemon = ReadPid(pidfile);
  struct Kill {
    pid_t pid;
    ~Kill() {
      if (Alive(pid)) kill(pid, SIGKILL);
    }
  } guard{daemon};
  REQUIRE(Alive(daemon));
  const pid_t leader = static_cast<pid_t>(Find(*sup, spec.key)->pid);
  CHECK(ReadProcStat(daemon)->pgid != leader);  // out of the group
  // Adopted by us (the subreaper), attributed by its environment, recorded
  // for the next run.
  REQUIRE(WaitUntil([&] {
    auto e = ReadStateFile(opts.state_file);
    return e.ok() && e->size() == 1 && (*e)[0].others.size() == 1 && (*e)[0].others[0].first == daemon;
  }));
  REQUIRE(sup->Stop(spec.key, 0).ok());
  CHECK_FALSE(Alive(daemon));
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: an orphan that belongs to no instance is killed", "[drone]") {
  opts.drone_name = "d1";
  opts.orphan_scan_ms = 20;
  auto sup = Start();
  const std::string pidfile = dir.path() + "/daemon.pid";
  auto spec = EscapingSpec(pidfile);
  spec.env.clear();  // a daemon that scrubbed its environment
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return ReadPid(pidfile) > 0; }));
  const pid_t daemon = ReadPid(pidfile);
  struct Kill {
    pid_t pid;
    ~Kill() {
      if (Alive(pid)) kill(pid, SIGKILL);
    }
  } guard{daemon};
  CHECK(WaitUntil([&] { return !Alive(daemon); }));
  CHECK(StateOf(*sup, spec.key) == ProcState::kReady);  // the instance itself runs on
}

TEST_CASE("Supervisor: the next run stops an escaped daemon the crashed one recorded", "[drone]") {
  TempDir dir;
  auto opts = Options(dir);
  opts.drone_name = "d1";
  opts.orphan_scan_ms = 20;
  opts.term_timeout_ms = 500;
  const std::string pidfile = dir.path() + "/daemon.pid";
  pid_t daemon = 0;
  struct Cleanup {
    std::string state_file;
    ~Cleanup() {
      auto left = ReadStateFile(state_file);
      if (left.ok()) StopLeftovers(*left, 100, [](const std::string&) {});
    }
  } cleanup{opts.state_file};
  {
    Recorder rec;
    auto abandon = opts;
    abandon.leave_running_on_destroy = true;
    auto sup = StartSupervisor(abandon, rec);
    REQUIRE(sup->Run(EscapingSpec(pidfile)).ok());
    REQUIRE(WaitUntil([&] { return ReadPid(pidfile) > 0; }));
    daemon = ReadPid(pidfile);
    REQUIRE(WaitUntil([&] {
      auto e = ReadStateFile(opts.state_file);
      return e.ok() && e->size() == 1 && (*e)[0].others.size() == 1;
    }));
  }
  REQUIRE(Alive(daemon));
  Recorder rec2;
  auto sup2 = StartSupervisor(opts, rec2);
  CHECK_FALSE(Alive(daemon));
}

TEST_CASE("Supervisor: with cgroups, everything an instance started is in its cgroup and stopped", "[drone]") {
  if (geteuid() != 0) {
    WARN("skipped: cgroups need root");
    return;
  }
  TempDir dir;
  auto tree = CgroupTree::Open(dir.path());
  if (!tree.ok()) {
    WARN("skipped: no writable cgroup v2 here: " << tree.status().message());
    return;
  }
  std::shared_ptr<CgroupTree> cgroups = std::move(*tree);
  struct RemoveBase {
    std::string base;
    ~RemoveBase() { (void)CgroupTree::Remove(base); }
  } remove_base{cgroups->base()};
  Recorder rec;
  auto opts = Options(dir);
  opts.cgroups = cgroups;
  auto sup = StartSupervisor(opts, rec);
  const std::string pidfile = dir.path() + "/daemon.pid";
  auto spec = EscapingSpec(pidfile);
  spec.env.clear();  // no environment to go by: the cgroup holds it anyway
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return ReadPid(pidfile) > 0; }));
  const pid_t daemon = ReadPid(pidfile);
  struct Kill {
    pid_t pid;
    ~Kill() {
      if (Alive(pid)) kill(pid, SIGKILL);
    }
  } guard{daemon};
  const std::string cg = cgroups->base() + "/webapp.abc123.worker.0";
  auto members = CgroupTree::Members(cg);
  INFO("daemon cgroup: " << Slurp(fmt::format("/proc/{}/cgroup", daemon)) << " members: " << fmt::format("{}", fmt::join(members, ",")) << " daemon: " << daemon
                         << " cg: " << cg);
  CHECK(std::find(members.begin(), members.end(), daemon) != members.end());
  REQUIRE(sup->Stop(spec.key, 0).ok());
  CHECK_FALSE(Alive(daemon));
  CHECK_FALSE(fs::exists(cg));  // removed with the instance
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a spec's stop_timeout_ms overrides term_timeout_ms", "[drone]") {
  opts.term_timeout_ms = 10'000;
  auto sup = Start();
  auto spec = Spec("worker", "trap '' TERM; echo up; while :; do sleep 0.05; done");
  spec.stop_timeout_ms = 300;
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return !sup->Tail("webapp", "", "", 10).empty(); }));
  const int64_t t0 = Mono();
  REQUIRE(sup->Stop(spec.key, 0).ok());
  const int64_t took = Mono() - t0;
  CHECK(took >= 300);
  CHECK(took < 3'000);
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a stranger listening on the port is a port clash, never ready", "[drone]") {
  auto sup = Start();
  // The stranger: a listener of this test process, outside the instance's tree.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 4) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const uint32_t port = ntohs(a.sin_port);
  auto spec = Spec("web", "exec sleep 1000", port);  // never binds; the stranger answers the probe
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return StateOf(*sup, spec.key) == ProcState::kFailed; }));
  auto st = Find(*sup, spec.key);
  CHECK(st->port_clash);
  CHECK(st->last_error == fmt::format("port clash: port {} is held by pid {} (unit_tests)", port, getpid()));
  CHECK_FALSE(rec.Saw(ProcState::kReady));
  REQUIRE(sup->Stop(spec.key, 0).ok());
  close(fd);
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: settled only after min_uptime of readiness; a quick exit never settles", "[drone]") {
  auto sup = Start();
  auto spec = Spec("web", kListen, FreePort());
  spec.min_uptime_ms = 400;
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return rec.Saw(ProcState::kReady); }));
  REQUIRE(WaitUntil([&] { return Find(*sup, spec.key)->settled; }));
  std::vector<bool> settled_when_ready;
  for (const auto& e : rec.Events())
    if (e.key == spec.key && e.state == ProcState::kReady) settled_when_ready.push_back(e.settled);
  // Reported ready first (not settled), then settled: two reports.
  CHECK(settled_when_ready == std::vector<bool>{false, true});

  // Binds, then dies 100 ms later: ready, never settled; last_run_ms says how long it ran.
  auto quick = Spec("api", "python3 -c 'import os,socket,time; s=socket.socket(); "
                           "s.bind((\"127.0.0.1\", int(os.environ[\"PORT\"]))); s.listen(); time.sleep(0.1)'",
                    FreePort());
  quick.key.role = "api";
  quick.min_uptime_ms = 2'000;
  REQUIRE(sup->Run(quick).ok());
  REQUIRE(WaitUntil([&] { auto q = Find(*sup, quick.key); return q && q->state == ProcState::kBackoff; }));
  auto q = Find(*sup, quick.key);
  CHECK(q->last_run_ms >= 100);
  CHECK(q->last_run_ms < 2'000);
  for (const auto& e : rec.Events())
    if (e.key == quick.key) CHECK_FALSE(e.settled);
  REQUIRE(sup->Stop(quick.key, 0).ok());
  REQUIRE(sup->Stop(spec.key, 0).ok());
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: a stopped instance's tail stays readable by commit", "[drone]") {
  auto sup = Start();
  auto spec = Spec("worker", "echo last words; exec sleep 1000");
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return !sup->Tail("webapp", "abc123", "worker", 10).empty(); }));
  REQUIRE(sup->Stop(spec.key, 0).ok());
  auto kept = sup->Tail("webapp", "abc1", "", 10);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].text == "last words");
  CHECK(sup->Tail("webapp", "", "", 10).empty());  // without a commit: live instances only
  // Running it again: the live tail, not the old one.
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return sup->Tail("webapp", "abc123", "", 10).size() == 1; }));
  REQUIRE(sup->Stop(spec.key, 0).ok());
}

TEST_CASE_METHOD(SupervisorRig, "Supervisor: the tail of an instance stopped in backoff (a failed deploy) stays readable", "[drone]") {
  auto sup = Start();
  auto spec = Spec("web", "echo hello from the deaf app; exec sleep 1000", FreePort());
  spec.ready_timeout_ms = 300;
  REQUIRE(sup->Run(spec).ok());
  REQUIRE(WaitUntil([&] { return rec.Saw(ProcState::kBackoff); }));
  REQUIRE(sup->Stop(spec.key, 0).ok());
  auto kept = sup->Tail("webapp", "abc123", "", 100);
  REQUIRE_FALSE(kept.empty());
  CHECK(kept[0].text == "hello from the deaf app");
}
