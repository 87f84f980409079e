// fleet_bench: a simulated fleet of N drones on one hub, and one deploy to all.
//
// Each fake drone is one DroneControl.Attach stream (a callback reactor, no
// thread of its own; by default each on its own connection, as real drones
// are): it sends the hello a drone sends (drone/agent.cc), and answers a
// deploy command as a drone whose deploy succeeds does (drone/hub_messages.cc:
// FETCHING, CHECKED_OUT, STARTING, HEALTHY, REGISTERED, the instance's status
// "running", then done ok) without fetching or starting anything; stop and
// logs commands are answered done ok. Once the hub lists all N connected,
// `skyport deploy APP COMMIT` (the CLI given by --cli) runs against it, and
// the tool reports, from just before the CLI is spawned: when each fake drone
// received its command (p50, last), and when the CLI exited (the deploy
// reported done). With --hub-pid: the hub's RSS, threads and CPU time before
// the attach, after it, and over the fan-out (RSS sampled every 10 ms).
// Prints one JSON line.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_stats.h"
#include "bench/proc_rss.h"
#include "core/token.h"
#include "rpc/auth.h"
#include "skyport/v1/hub.grpc.pb.h"

extern char** environ;

namespace {

namespace v1 = skyport::v1;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using skyport::bench::CpuMs;
using skyport::bench::LatencyJson;
using skyport::bench::Ms;
using skyport::bench::RssKb;
using skyport::bench::StatusField;

struct Options {
  std::string hub, token_file, cli = "skyport", app, commit, prefix = "fake", cli_output = "/dev/null";
  int drones = 1000;
  int per_connection = 1;
  int hub_pid = 0;
  double attach_timeout_s = 60, deploy_timeout_s = 60;
  // After the deploy: stay attached (answering further deploys) until this file exists, at
  // most hold_s seconds; the JSON line is printed first (bench/run_console_bench.py).
  std::string hold_until_file;
  double hold_s = 0;
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// What the fleet learns from its drones; every method is thread-safe.
class FleetLog {
 public:
  explicit FleetLog(int n) : received_(static_cast<size_t>(n)) {}
  void Received(int i, Clock::time_point at) {
    std::lock_guard lock(mu_);
    if (received_[static_cast<size_t>(i)] == Clock::time_point{}) {
      received_[static_cast<size_t>(i)] = at;
      ++count_;
      cv_.notify_all();
    }
  }
  void Ended(const grpc::Status& s) {
    std::lock_guard lock(mu_);
    ++ended_;
    if (s.error_code() != grpc::StatusCode::CANCELLED && first_error_.empty())
      first_error_ = fmt::format("code {}: {}", static_cast<int>(s.error_code()), s.error_message());
    cv_.notify_all();
  }
  // Until `pred(count received, count ended)` or the deadline.
  template <class Pred>
  bool WaitFor(Clock::time_point deadline, Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return pred(count_, ended_); });
  }
  std::vector<Clock::time_point> received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::string first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Clock::time_point> received_;  // guarded by mu_: first deploy command per drone
  int count_ = 0, ended_ = 0;                // guarded by mu_
  std::string first_error_;                  // guarded by mu_
};

// One fake drone: one read and at most one write in flight; replies queue.
class FakeDrone : public grpc::ClientBidiReactor<v1::DroneMessage, v1::HubCommand> {
 public:
  FakeDrone(FleetLog& log, int index, std::string name, const std::string& token)
      : log_(log), index_(index), name_(std::move(name)) {
    skyport::rpc::AttachToken(ctx_, token);
  }
  void Start(v1::DroneControl::Stub& stub) {
    stub.async()->Attach(&ctx_, this);
    v1::DroneMessage hello;
    hello.mutable_hello()->set_name(name_);
    hello.mutable_hello()->set_advertise("127.0.0.1");
    (*hello.mutable_hello()->mutable_labels())["fleet"] = "bench";
    Send(std::move(hello));
    StartRead(&cmd_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is ending; OnDone follows
    const uint64_t id = cmd_.command_id();
    if (cmd_.has_deploy()) {
      log_.Received(index_, Clock::now());
      AnswerDeploy(id, cmd_.deploy());
    } else if (cmd_.has_stop() || cmd_.has_logs()) {
      Send(Done(id));
    }
    StartRead(&cmd_);
  }
  void OnWriteDone(bool ok) override {
    const v1::DroneMessage* next = nullptr;
    {
      std::lock_guard lock(mu_);
      out_.pop_front();
      if (ok && !out_.empty()) next = &out_.front();
      else writing_ = false;
    }
    if (next) StartWrite(next);
  }
  void OnDone(const grpc::Status& s) override { log_.Ended(s); }

 private:
  void AnswerDeploy(uint64_t id, const v1::DeployRequest& d) {
    using P = v1::DeployProgress;
    for (auto stage : {P::FETCHING, P::CHECKED_OUT, P::STARTING, P::HEALTHY, P::REGISTERED}) {
      v1::DroneMessage m;
      m.set_command_id(id);
      auto* p = m.mutable_progress();
      p->set_drone(name_);
      p->set_commit(d.commitish());
      p->set_stage(stage);
      p->set_message(P::Stage_Name(stage));
      p->set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count());
      Send(std::move(m));
    }
    v1::DroneMessage st;
    auto* s = st.mutable_status();
    s->set_app(d.app());
    s->set_commit(d.commitish());
    s->set_role("web");
    s->set_drone(name_);
    s->set_pid(1000000 + index_);  // never a real process of ours: nothing is spawned
    s->set_port(static_cast<uint32_t>(20000 + index_ % 40000));
    s->set_state("running");
    Send(std::move(st));
    Send(Done(id));
  }
  static v1::DroneMessage Done(uint64_t id) {
    v1::DroneMessage m;
    m.set_command_id(id);
    m.mutable_done()->set_ok(true);
    return m;
  }
  void Send(v1::DroneMessage m) {
    const v1::DroneMessage* first = nullptr;
    {
      std::lock_guard lock(mu_);
      out_.push_back(std::move(m));
      if (!writing_) {
        writing_ = true;
        first = &out_.front();
      }
    }
    if (first) StartWrite(first);
  }

  FleetLog& log_;
  const int index_;
  const std::string name_;
  grpc::ClientContext ctx_;
  v1::HubCommand cmd_;  // the read in flight
  std::mutex mu_;
  std::list<v1::DroneMessage> out_;  // guarded by mu_; the front is being written while writing_
  bool writing_ = false;             // guarded by mu_
};

int CountConnected(v1::Hub::Stub& hub, const std::string& token, const std::string& prefix) {
  grpc::ClientContext ctx;
  skyport::rpc::AttachToken(ctx, token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::DronesResponse resp;
  if (!hub.Drones(&ctx, v1::DronesRequest{}, &resp).ok()) return -1;
  int n = 0;
  for (const auto& d : resp.drones())
    if (d.connected() && d.name().rfind(prefix + "-", 0) == 0) ++n;
  return n;
}

// The hub's figures now (all -1 without --hub-pid).
json HubFigures(int pid) {
  if (pid <= 0) return json::object();
  return {{"rss_kb", RssKb(pid)}, {"threads", StatusField(pid, "Threads")}, {"cpu_ms", CpuMs(pid)}};
}

// Spawns `cli deploy APP COMMIT` (env SKYPORT_HUB, SKYPORT_TOKEN_FILE); its pid or -1.
pid_t SpawnDeploy(const Options& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("SKYPORT_", 0) != 0) env.emplace_back(*e);
  env.push_back("SKYPORT_HUB=" + o.hub);
  env.push_back("SKYPORT_TOKEN_FILE=" + o.token_file);
  std::vector<std::string> args = {o.cli, "deploy", o.app, o.commit};
  auto ptrs = [](std::vector<std::string>& v) {
    std::vector<char*> p;
    for (auto& s : v) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  auto argv = ptrs(args), envp = ptrs(env);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, o.cli_output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, o.cli.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

json Run(const Options& o, const std::string& token) {
  json out = {{"mode", "fleet"}, {"drones", o.drones}, {"per_connection", o.per_connection}};
  out["hub_before_attach"] = HubFigures(o.hub_pid);
  FleetLog log(o.drones);
  std::vector<std::unique_ptr<v1::DroneControl::Stub>> stubs;
  std::vector<std::unique_ptr<FakeDrone>> fleet;
  const auto t_attach = Clock::now();
  for (int i = 0; i < o.drones; ++i) {
    if (i % o.per_connection == 0) stubs.push_back(v1::DroneControl::NewStub(NewChannel(o.hub)));
    fleet.push_back(std::make_unique<FakeDrone>(log, i, fmt::format("{}-{:05d}", o.prefix, i), token));
    fleet.back()->Start(*stubs.back());
  }
  auto hub = v1::Hub::NewStub(NewChannel(o.hub));
  const auto attach_deadline = t_attach + std::chrono::milliseconds(static_cast<int64_t>(o.attach_timeout_s * 1000));
  int connected = 0;
  while ((connected = CountConnected(*hub, token, o.prefix)) < o.drones && Clock::now() < attach_deadline &&
         !log.WaitFor(Clock::now() + std::chrono::milliseconds(50), [](int, int ended) { return ended > 0; })) {
  }
  out["attach_s"] = std::chrono::duration<double>(Clock::now() - t_attach).count();
  out["attached"] = connected;
  auto finish = [&](json r) {
    for (auto& d : fleet) d->Cancel();
    if (!log.WaitFor(Clock::now() + std::chrono::seconds(30), [&](int, int ended) { return ended == o.drones; })) {
      for (auto& d : fleet) (void)d.release();  // a stream still running owns its reactor: never free it
      r["error"] = "fake drone streams did not all end within 30 s of their cancel";
    }
    r["stream_error"] = log.first_error();
    return r;
  };
  if (connected < o.drones) {
    out["error"] = fmt::format("{} of {} fake drones attached ({})", connected, o.drones, log.first_error());
    return finish(out);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // settle: the hub's attach work is done
  out["hub_after_attach"] = HubFigures(o.hub_pid);

  std::atomic<bool> sampling{true};
  std::atomic<int64_t> peak_rss{0};
  std::thread sampler([&] {
    while (sampling.load() && o.hub_pid > 0) {
      peak_rss = std::max(peak_rss.load(), RssKb(o.hub_pid));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const int64_t cpu0 = o.hub_pid > 0 ? CpuMs(o.hub_pid) : -1;
  const auto t0 = Clock::now();
  const pid_t cli = SpawnDeploy(o);
  int status = -1;
  double cli_exit_ms = -1;
  if (cli > 0) {
    const auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(o.deploy_timeout_s * 1000));
    for (;;) {  // poll: the fake drones answer on gRPC threads meanwhile
      pid_t r = waitpid(cli, &status, WNOHANG);
      if (r == cli) {
        cli_exit_ms = Ms(Clock::now() - t0);
        break;
      }
      if (r < 0 || Clock::now() > deadline) {
        kill(cli, SIGKILL);
        waitpid(cli, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }
  log.WaitFor(t0 + std::chrono::seconds(5), [&](int received, int) { return received == o.drones; });
  const int64_t cpu1 = o.hub_pid > 0 ? CpuMs(o.hub_pid) : -1;
  sampling = false;
  sampler.join();

  std::vector<double> got;
  for (auto at : log.received())
    if (at != Clock::time_point{}) got.push_back(Ms(at - t0));
  const double last = got.empty() ? -1 : *std::max_element(got.begin(), got.end());
  out["received"] = got.size();
  out["command_received"] = LatencyJson(got);
  out["all_received_ms"] = got.size() == static_cast<size_t>(o.drones) ? last : -1;
  out["deploy_done_ms"] = cli_exit_ms;
  out["cli_exit"] = cli <= 0 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  if (o.hub_pid > 0) {
    out["hub_after_deploy"] = HubFigures(o.hub_pid);
    out["hub_fanout_cpu_ms"] = cpu1 - cpu0;
    out["hub_fanout_peak_rss_kb"] = peak_rss.load();
    const auto& a = out["hub_before_attach"];
    const auto& b = out["hub_after_attach"];
    out["hub_rss_per_drone_kb"] = static_cast<double>(b["rss_kb"].get<int64_t>() - a["rss_kb"].get<int64_t>()) / o.drones;
    out["hub_attach_cpu_ms_per_drone"] =
        static_cast<double>(b["cpu_ms"].get<int64_t>() - a["cpu_ms"].get<int64_t>()) / o.drones;
    out["hub_fanout_cpu_ms_per_drone"] = static_cast<double>(cpu1 - cpu0) / o.drones;
  }
  if (cli <= 0) out["error"] = "cannot spawn " + o.cli;
  else if (out["cli_exit"] != 0) out["error"] = fmt::format("skyport deploy exited {} (see {})", out["cli_exit"].get<int>(), o.cli_output);
  if (o.hold_s > 0 && !out.contains("error")) {
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    const auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.hold_s * 1000));
    while (Clock::now() < until && (o.hold_until_file.empty() || access(o.hold_until_file.c_str(), F_OK) != 0))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    out["held"] = true;
  }
  return finish(out);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"fleet_bench: N fake drones attached to one hub, one `skyport deploy` to all (prints one JSON line)"};
  app.add_option("--hub", o.hub, "HOST:PORT of the hub")->required();
  app.add_option("--token-file", o.token_file, "File holding the cluster token")->required();
  app.add_option("--drones", o.drones, "Fake drones (Attach streams)")->capture_default_str()->check(CLI::Range(1, 20000));
  app.add_option("--per-connection", o.per_connection, "Attach streams per TCP connection")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--prefix", o.prefix, "Fake drones are named PREFIX-00000...")->capture_default_str();
  app.add_option("--cli", o.cli, "The skyport CLI binary")->capture_default_str();
  app.add_option("--app", o.app, "App to deploy (pushed to the hub already)")->required();
  app.add_option("--commit", o.commit, "Commit (or branch) to deploy")->required();
  app.add_option("--cli-output", o.cli_output, "Where the CLI's output goes")->capture_default_str();
  app.add_option("--hub-pid", o.hub_pid, "The hub's pid: RSS, threads and CPU time from /proc");
  app.add_option("--attach-timeout", o.attach_timeout_s, "Seconds for every fake drone to be listed")->capture_default_str();
  app.add_option("--deploy-timeout", o.deploy_timeout_s, "Seconds for the CLI to exit")->capture_default_str();
  app.add_option("--hold", o.hold_s, "After the deploy, seconds to stay attached answering further deploys (prints the JSON line first)")
      ->capture_default_str();
  app.add_option("--hold-until-file", o.hold_until_file, "Stop holding once this file exists");
  CLI11_PARSE(app, argc, argv);
  auto token = skyport::LoadToken(o.token_file, "");
  if (!token.ok()) {
    fmt::print(stderr, "fleet_bench: {}\n", token.status().message());
    return 2;
  }
  json out = Run(o, *token);
  if (!out.contains("held")) std::printf("%s\n", out.dump().c_str());
  return out.contains("error") ? 1 : 0;
}
