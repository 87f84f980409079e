// The etcd client's pure parts: endpoints, options from flags, PrefixEnd,
// the retry decision table and its backoff.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <fstream>
#include <map>

#include "core/etcd_flags.h"
#include "core/flags.h"
#include "rpc/etcd_client.h"
#include "rpc/etcd_options.h"
#include "rpc/etcd_retry.h"
#include "rpc/etcd_timer.h"

namespace skyport::etcd {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

TEST_CASE("ParseEndpoint: schemes, hosts, ports", "[etcd]") {
  struct Case {
    const char* text;
    bool tls_default;
    bool ok;
    const char* target;
    bool tls;
  };
  for (const Case& c : std::vector<Case>{
           {"http://127.0.0.1:2379", true, true, "127.0.0.1:2379", false},
           {"https://etcd-1.example.com:2379/", false, true, "etcd-1.example.com:2379", true},
           {"10.0.0.1:2379", false, true, "10.0.0.1:2379", false},
           {"10.0.0.1:2379", true, true, "10.0.0.1:2379", true},
           {"http://[::1]:2379", false, true, "[::1]:2379", false},
           {"http://[fe80::1%eth0]:2379", false, false, "", false},
           {"::1:2379", false, false, "", false},
           {"unix:///tmp/etcd.sock", false, false, "", false},
           {"http://127.0.0.1", false, false, "", false},
           {"http://127.0.0.1:0", false, false, "", false},
           {"http://127.0.0.1:65536", false, false, "", false},
           {"http://127.0.0.1:2379/v3", false, false, "", false},
           {"http://:2379", false, false, "", false},
           {"http://a b:2379", false, false, "", false},
           {"http://user@h:2379", false, false, "", false},
           {"http://h:23x9", false, false, "", false},
       }) {
    CAPTURE(c.text);
    auto ep = ParseEndpoint(c.text, c.tls_default);
    REQUIRE(ep.ok() == c.ok);
    if (!c.ok) {
      CHECK(ep.status().code() == Code::kInvalidArgument);
      continue;
    }
    CHECK(ep->target == c.target);
    CHECK(ep->tls == c.tls);
    CHECK(ep->url == c.text);
  }
  std::string long_host(254, 'a');
  CHECK_FALSE(ParseEndpoint("http://" + long_host + ":1", false).ok());
}

TEST_CASE("CheckOptions: one scheme, no duplicates, credentials in pairs, bounded", "[etcd]") {
  Options o;
  CHECK_FALSE(CheckOptions(o).ok());  // no endpoint
  o.endpoints = {"http://a:1", "http://b:2"};
  REQUIRE(CheckOptions(o).ok());
  o.endpoints = {"http://a:1", "https://b:2"};
  CHECK(CheckOptions(o).status().message().find("mixes https and http") != std::string::npos);
  o.endpoints = {"http://a:1", "a:1"};
  CHECK(CheckOptions(o).status().message().find("listed twice") != std::string::npos);
  o.endpoints = {"http://a:1"};
  o.ca_file = "/ca.pem";
  CHECK(CheckOptions(o).status().message().find("use https://") != std::string::npos);
  o.endpoints = {"a:1", "b:2"};
  auto eps = CheckOptions(o);  // bare endpoints take TLS from the files
  REQUIRE(eps.ok());
  CHECK(eps->at(0).tls);
  CHECK(eps->at(1).tls);
  o.cert_file = "/c.pem";
  CHECK_FALSE(CheckOptions(o).ok());  // a cert without its key
  o.key_file = "/k.pem";
  CHECK(CheckOptions(o).ok());
  o.user = "skyport";
  CHECK(CheckOptions(o).status().message().find("needs a password") != std::string::npos);
  o.password = "pw";
  CHECK(CheckOptions(o).ok());
  o.user = "a:b";
  CHECK_FALSE(CheckOptions(o).ok());
  o.user.clear();
  CHECK(CheckOptions(o).status().message().find("without a user") != std::string::npos);
  o.password.clear();
  o.request_timeout_ms = 50;
  CHECK_FALSE(CheckOptions(o).ok());
  o.request_timeout_ms = 5000;
  o.endpoints.clear();
  for (int i = 0; i < 33; ++i) o.endpoints.push_back("h:" + std::to_string(i + 1));
  CHECK(CheckOptions(o).status().message().find("at most 32") != std::string::npos);
}

TEST_CASE("PrefixEnd follows etcd's rule", "[etcd]") {
  CHECK(PrefixEnd("/skyport/") == "/skyport0");
  CHECK(PrefixEnd("a") == "b");
  CHECK(PrefixEnd(std::string("a\xff", 2)) == "b");
  CHECK(PrefixEnd(std::string("a\xfe\xff\xff", 4)) == std::string("a\xff", 2));
  CHECK(PrefixEnd("") == std::string(1, '\0'));
  CHECK(PrefixEnd(std::string("\xff\xff", 2)) == std::string(1, '\0'));
  CHECK(PrefixEnd(std::string("a\0", 2)) == std::string("a\x01", 2));
}

TEST_CASE("ValidKeyPrefix", "[etcd]") {
  CHECK(ValidKeyPrefix("/skyport/").ok());
  CHECK(ValidKeyPrefix("/a").ok());
  CHECK_FALSE(ValidKeyPrefix("").ok());
  CHECK_FALSE(ValidKeyPrefix("skyport/").ok());
  CHECK_FALSE(ValidKeyPrefix("/sky port/").ok());
  CHECK_FALSE(ValidKeyPrefix(std::string("/a\0", 3)).ok());
  CHECK_FALSE(ValidKeyPrefix("/" + std::string(256, 'a')).ok());
}

TEST_CASE("Retry decisions: reads retry, writes only when never sent", "[etcd]") {
  struct Case {
    OpKind kind;
    Code code;
    const char* msg;
    bool token_renewed;
    Next next;
    bool fail_over;
    bool backoff;
  };
  const char* kPick = "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused";
  const char* kReset = "recvmsg:Connection reset by peer";
  auto R = OpKind::kRead;
  auto W = OpKind::kWrite;
  for (const Case& c : std::vector<Case>{
           {R, Code::kUnavailable, kPick, false, Next::kRetry, true, false},
           {W, Code::kUnavailable, kPick, false, Next::kRetry, true, false},
           {W, Code::kUnavailable, "DNS resolution failed for etcd-1:2379", false, Next::kRetry, true, false},
           {R, Code::kUnavailable, kReset, false, Next::kRetry, true, true},
           {W, Code::kUnavailable, kReset, false, Next::kUnknownOutcome, true, false},
           {W, Code::kUnavailable, "Socket closed", false, Next::kUnknownOutcome, true, false},
           {R, Code::kDeadlineExceeded, "Deadline Exceeded", false, Next::kRetry, true, true},
           {W, Code::kDeadlineExceeded, "Deadline Exceeded", false, Next::kUnknownOutcome, true, false},
           {R, Code::kUnavailable, "etcdserver: leader changed", false, Next::kRetry, true, true},
           {W, Code::kUnavailable, "etcdserver: leader changed", false, Next::kUnknownOutcome, true, false},
           {W, Code::kUnavailable, "etcdserver: no leader", false, Next::kRetry, true, true},
           {W, Code::kResourceExhausted, "etcdserver: too many requests", false, Next::kRetry, false, true},
           {R, Code::kUnavailable, "etcdserver: request timed out", false, Next::kRetry, true, true},
           {W, Code::kUnavailable, "etcdserver: request timed out, possibly due to previous leader failure", false,
            Next::kUnknownOutcome, true, false},
           {W, Code::kUnauthenticated, "etcdserver: invalid auth token", false, Next::kRenewToken, false, false},
           {W, Code::kUnauthenticated, "etcdserver: invalid auth token", true, Next::kDone, false, false},
           {R, Code::kInvalidArgument, "etcdserver: user name is empty", false, Next::kRenewToken, false, false},
           {R, Code::kInvalidArgument, "etcdserver: revision of auth store is old", false, Next::kRenewToken, false,
            false},
           {R, Code::kInvalidArgument, "etcdserver: authentication failed, invalid user ID or password", false,
            Next::kDone, false, false},
           {R, Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted", false, Next::kDone, false,
            false},
           {R, Code::kNotFound, "etcdserver: requested lease not found", false, Next::kDone, false, false},
           {R, Code::kPermissionDenied, "etcdserver: permission denied", false, Next::kDone, false, false},
           {W, Code::kResourceExhausted, "etcdserver: mvcc: database space exceeded", false, Next::kDone, false, false},
           {W, Code::kCancelled, "Cancelled", false, Next::kDone, false, false},
       }) {
    CAPTURE(c.msg, static_cast<int>(c.kind), CodeName(c.code));
    RetryDecision d = DecideRetry(c.kind, c.code, c.msg, c.token_renewed);
    CHECK(d.next == c.next);
    CHECK(d.fail_over == c.fail_over);
    CHECK(d.backoff == c.backoff);
  }
}

TEST_CASE("NeverSent recognizes only pick failures", "[etcd]") {
  CHECK(NeverSent(Code::kUnavailable, "failed to connect to all addresses"));
  CHECK_FALSE(NeverSent(Code::kDeadlineExceeded, "failed to connect to all addresses"));
  CHECK_FALSE(NeverSent(Code::kUnavailable, "Broken pipe"));
  CHECK_FALSE(NeverSent(Code::kUnavailable, "GOAWAY received"));
  CHECK(Hint(Code::kInvalidArgument, "etcdserver: user name is empty", false).find("--etcd-user") !=
        std::string_view::npos);
  CHECK(Hint(Code::kInvalidArgument, "etcdserver: user name is empty", true).empty());
  CHECK(StaleTokenReason("rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"));
  CHECK(StaleTokenReason("rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old"));
  CHECK_FALSE(StaleTokenReason("rpc error: code = PermissionDenied desc = etcdserver: permission denied"));
}

TEST_CASE("Retry delays: a first fail-over round is immediate, then bounded backoff", "[etcd]") {
  RetryDecision move{Next::kRetry, true, false};
  RetryDecision busy{Next::kRetry, true, true};
  CHECK(RetryDelayMs(move, 0, 3, 0.5) == 0);
  CHECK(RetryDelayMs(move, 2, 3, 0.5) == 0);
  CHECK(RetryDelayMs(move, 3, 3, 0.5) > 0);  // every endpoint failed once: wait
  CHECK(RetryDelayMs(busy, 0, 3, 0.5) == 50);
  CHECK(RetryDelayMs(busy, 1, 3, 0.5) == 100);
  for (int attempt = 0; attempt < 64; ++attempt)
    for (double u : {0.0, 0.999}) CHECK(RetryDelayMs(busy, attempt, 3, u) <= 1200);
}

TEST_CASE("ParseDurationMs and SplitList", "[etcd]") {
  CHECK(*ParseDurationMs("500ms", "f") == 500);
  CHECK(*ParseDurationMs("2s", "f") == 2000);
  CHECK(*ParseDurationMs("1m", "f") == 60'000);
  CHECK(*ParseDurationMs("750", "f") == 750);
  for (const char* bad : {"", "0", "-1s", "2h", "61m", "1.5s", "s", "2 s", "99999999999999999999"}) {
    CAPTURE(bad);
    auto r = ParseDurationMs(bad, "etcd-dial-timeout");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().starts_with("etcd-dial-timeout: "));
  }
  CHECK(SplitList(" a, b,,c ,") == std::vector<std::string>{"a", "b", "c"});
  CHECK(SplitList("").empty());
}

TEST_CASE("--etcd-* flags: from the command line, the environment and a password file", "[etcd]") {
  char dir[] = "/tmp/skyport-etcd-flags-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string pw = std::string(dir) + "/pw";
  std::ofstream(pw) << "  s3cret \n";
  EtcdFlags f;
  CLI::App app;
  AddEtcdFlags(app, f, "");
  ::setenv("SKYPORT_ETCD_REQUEST_TIMEOUT", "3s", 1);
  EnableEnvAndConfig(app, "", "");
  std::vector<std::string> args = {"--etcd-password-file", pw, "--etcd-user", "sky", "--etcd-endpoints",
                                   "http://a:1, http://b:2"};
  std::reverse(args.begin(), args.end());
  app.parse(args);
  ::unsetenv("SKYPORT_ETCD_REQUEST_TIMEOUT");
  auto s = SettingsFromFlags(f, NoEnv());
  ::unlink(pw.c_str());
  ::rmdir(dir);
  REQUIRE(s.ok());
  CHECK(s->options.endpoints == std::vector<std::string>{"http://a:1", "http://b:2"});
  CHECK(s->options.password == "s3cret");
  CHECK(s->options.user == "sky");
  CHECK(s->options.request_timeout_ms == 3000);
  CHECK(s->options.dial_timeout_ms == 2000);
  CHECK(s->prefix == "/skyport/");
}

TEST_CASE("SettingsFromFlags: the password from the environment, problems named by flag", "[etcd]") {
  EtcdFlags f;
  CHECK(SettingsFromFlags(f, NoEnv()).status().message().starts_with("etcd-endpoints:"));
  f.endpoints = "http://a:1";
  f.user = "sky";
  CHECK(SettingsFromFlags(f, NoEnv()).status().message().find("needs a password") != std::string::npos);
  EnvLookup env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "SKYPORT_ETCD_PASSWORD") return "from-env";
    return std::nullopt;
  };
  auto s = SettingsFromFlags(f, env);
  REQUIRE(s.ok());
  CHECK(s->options.password == "from-env");
  f.password_file = "/nonexistent/pw";
  auto missing = SettingsFromFlags(f, env);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().starts_with("etcd-password-file:"));
  f.password_file.clear();
  f.prefix = "skyport";
  CHECK(SettingsFromFlags(f, env).status().message().starts_with("etcd prefix:"));
  f.prefix = "/skyport/";
  f.dial_timeout = "forever";
  CHECK(SettingsFromFlags(f, env).status().message().starts_with("etcd-dial-timeout:"));
}

TEST_CASE("Client::Create checks its options and does not connect", "[etcd]") {
  Options o;
  o.endpoints = {"http://127.0.0.1:1"};
  auto c = Client::Create(o);
  REQUIRE(c.ok());
  CHECK((*c)->current_endpoint() == "http://127.0.0.1:1");
  o.ca_file = "/nonexistent/ca.pem";
  o.endpoints = {"https://127.0.0.1:1"};
  auto bad = Client::Create(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("etcd-cacert") != std::string::npos);
}

TEST_CASE("TimerThread runs tasks by due time and drops the rest when destroyed", "[etcd]") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> order;
  {
    TimerThread timer;
    auto add = [&](int n) {
      std::lock_guard lock(mu);
      order.push_back(n);
      cv.notify_all();
    };
    timer.After(60'000, [&] { add(99); });  // never due: dropped by the destructor
    timer.After(30, [&] { add(2); });
    timer.After(0, [&] { add(1); });
    timer.After(30, [&] { add(3); });  // same due time: in the order given (or later)
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() == 3; }));
  }
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("Client metrics: every family, the endpoint in use at 1", "[etcd]") {
  Options o;
  o.endpoints = {"http://127.0.0.1:1", "http://127.0.0.1:2"};
  auto c = Client::Create(o);
  REQUIRE(c.ok());
  PromText out;
  (*c)->WriteMetrics(out);
  for (const char* family : {"skyport_etcd_requests_total", "skyport_etcd_retries_total",
                             "skyport_etcd_failovers_total 0", "skyport_etcd_watch_resumes_total 0",
                             "skyport_etcd_oversized_total 0",
                             "skyport_etcd_current_endpoint{endpoint=\"http://127.0.0.1:1\"} 1",
                             "skyport_etcd_current_endpoint{endpoint=\"http://127.0.0.1:2\"} 0"}) {
    CAPTURE(family);
    CHECK(out.str().find(family) != std::string::npos);
  }
}

}  // namespace
}  // namespace skyport::etcd
