#include <catch2/catch.hpp>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/flags.h"

namespace skyport {
namespace {

using Vars = std::map<std::string, std::string>;

// Environment variables set both in the process (CLI11 reads them with
// getenv) and in the map behind the fake EnvLookup; removed on destruction.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  explicit ScopedEnv(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {
    for (const auto& [k, v] : vars_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : vars_) ::unsetenv(k.c_str());
  }
  EnvLookup Lookup() const {
    return [vars = vars_](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }

 private:
  std::map<std::string, std::string> vars_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/skyport-flags-test-XXXXXX";
    char* d = mkdtemp(tmpl);
    REQUIRE(d != nullptr);
    dir_ = d;
  }
  ~TempDir() {
    for (const auto& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    files_.push_back(path);
    return path;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

// An app with top-level options and a subcommand with its own option.
struct TestApp {
  CLI::App app{"test"};
  std::string registry = "default-registry";
  int workers = 2;
  int replicas = 1;
  CLI::App* deploy = nullptr;

  std::string secret_file;
  std::vector<std::string> not_read;

  // `program` "": the CLI's names; else a daemon's (SKYPORT_<PROGRAM>_...).
  TestApp(const std::string& config, EnvLookup env, const std::string& program = "") {
    app.add_option("--ut-registry", registry, "registry address");
    app.add_option("--ut-workers", workers, "how many threads");
    app.add_option("--ut-secret-file", secret_file, "a secret's file (else env ..._UT_SECRET)");
    deploy = app.add_subcommand("deploy", "deploy things");
    deploy->add_option("--ut-replicas", replicas, "how many");
    EnableEnvAndConfig(app, program, config, &not_read, std::move(env));
  }
  // Returns an empty string on success, else the parse error's message.
  std::string Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return std::string(e.get_name()) + ": " + e.what();
    }
    return "";
  }
};

// Top-level options: default < config file < env < flag. Subcommand options
// have no environment variable: default < config file < flag, and a
// same-named SKYPORT_ variable must neither apply nor hide the file's entry.
TEST_CASE("EnableEnvAndConfig: precedence, every combination", "[core][flags]") {
  for (int mask = 0; mask < 8; ++mask) {
    const bool in_file = mask & 1, in_env = mask & 2, on_cli = mask & 4;
    INFO("config file: " << in_file << ", env: " << in_env << ", flag: " << on_cli);
    TempDir dir;
    std::string config = in_file ? dir.Write("c.toml", "ut-registry = \"file-registry\"\n[deploy]\nut-replicas = 3\n")
                                 : dir.Write("c.toml", "# nothing set\n");
    std::map<std::string, std::string> vars;
    if (in_env) vars = {{"SKYPORT_UT_REGISTRY", "env-registry"}, {"SKYPORT_UT_REPLICAS", "4"}};
    ScopedEnv env(vars);
    TestApp t(config, env.Lookup());
    std::vector<std::string> args;
    if (on_cli) args = {"--ut-registry", "flag-registry", "deploy", "--ut-replicas", "5"};
    else args = {"deploy"};
    REQUIRE(t.Parse(args) == "");

    const std::string want_registry = on_cli   ? "flag-registry"
                                      : in_env  ? "env-registry"
                                      : in_file ? "file-registry"
                                                : "default-registry";
    const int want_replicas = on_cli ? 5 : in_file ? 3 : 1;
    CHECK(t.registry == want_registry);
    CHECK(t.replicas == want_replicas);
    CHECK(t.deploy->parsed());
  }
}

TEST_CASE("EnableEnvAndConfig: subcommand options get config without being invoked", "[core][flags]") {
  TempDir dir;
  std::string config = dir.Write("c.toml", "[deploy]\nut-replicas = 7\n");
  ScopedEnv env;
  TestApp t(config, env.Lookup());
  REQUIRE(t.Parse({}) == "");
  CHECK(t.replicas == 7);
  CHECK(t.registry == "default-registry");
}

TEST_CASE("EnableEnvAndConfig: a missing default config file is fine", "[core][flags]") {
  TempDir dir;
  ScopedEnv env;
  TestApp t(dir.Path("does-not-exist.toml"), env.Lookup());
  REQUIRE(t.Parse({"--ut-registry", "r"}) == "");
  CHECK(t.registry == "r");
}

TEST_CASE("EnableEnvAndConfig: --config and SKYPORT_CONFIG choose the file", "[core][flags]") {
  TempDir dir;
  std::string a = dir.Write("a.toml", "ut-registry = \"from-a\"\n");
  std::string b = dir.Write("b.toml", "ut-registry = \"from-b\"\n");
  SECTION("default path") {
    ScopedEnv env;
    TestApp t(a, env.Lookup());
    REQUIRE(t.Parse({}) == "");
    CHECK(t.registry == "from-a");
  }
  SECTION("--config on the command line") {
    ScopedEnv env;
    TestApp t(a, env.Lookup());
    REQUIRE(t.Parse({"--config", b}) == "");
    CHECK(t.registry == "from-b");
  }
  SECTION("SKYPORT_CONFIG in the environment") {
    ScopedEnv env(Vars{{"SKYPORT_CONFIG", b}});
    TestApp t(a, env.Lookup());
    REQUIRE(t.Parse({}) == "");
    CHECK(t.registry == "from-b");
  }
}

TEST_CASE("EnableEnvAndConfig: unknown config keys are rejected", "[core][flags]") {
  TempDir dir;
  std::string config = dir.Write("c.toml", "ut-registry = \"x\"\nno-such-option = 1\n");
  ScopedEnv env;
  TestApp t(config, env.Lookup());
  std::string err = t.Parse({});
  CHECK_THAT(err, Catch::Contains("no-such-option"));
}

TEST_CASE("EnableEnvAndConfig: env names are SKYPORT_<NAME> for top-level options only", "[core][flags]") {
  ScopedEnv env;
  TempDir dir;
  TestApp t(dir.Path("none.toml"), env.Lookup());
  REQUIRE(t.Parse({}) == "");
  CHECK(t.app.get_option("--ut-registry")->get_envname() == "SKYPORT_UT_REGISTRY");
  CHECK(t.app.get_option("--ut-workers")->get_envname() == "SKYPORT_UT_WORKERS");
  CHECK(t.deploy->get_option("--ut-replicas")->get_envname().empty());
  CHECK(t.app.get_option("--config")->get_envname().empty());
  CHECK(t.app.get_option("--help")->get_envname().empty());
}

TEST_CASE("EnableEnvAndConfig: a bad env value is a parse error; subcommands ignore env", "[core][flags]") {
  TempDir dir;
  {
    ScopedEnv env(Vars{{"SKYPORT_UT_WORKERS", "many"}});
    TestApp t(dir.Path("none.toml"), env.Lookup());
    CHECK_THAT(t.Parse({}), Catch::Contains("SKYPORT_UT_WORKERS") || Catch::Contains("many"));
  }
  {
    ScopedEnv env(Vars{{"SKYPORT_UT_WORKERS", "8"}, {"SKYPORT_UT_REPLICAS", "many"}});
    TestApp t(dir.Path("none.toml"), env.Lookup());
    REQUIRE(t.Parse({"deploy"}) == "");
    CHECK(t.workers == 8);
    CHECK(t.replicas == 1);
  }
}

TEST_CASE("ParseOrExit: help exits 0, errors exit 2, success continues", "[core][flags]") {
  struct Row {
    std::vector<std::string> args;
    bool cont;
    int code;
  };
  const Row rows[] = {
      {{"--ut-registry", "x"}, true, -1},
      {{"--help"}, false, 0},
      {{"--no-such-flag"}, false, 2},
      {{"deploy", "--ut-replicas", "notanumber"}, false, 2},
  };
  for (const Row& r : rows) {
    ScopedEnv env;
    TempDir dir;
    TestApp t(dir.Path("none.toml"), env.Lookup());
    std::vector<std::string> args = r.args;
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = -1;
    // Help and errors are printed; keep the test output readable.
    std::streambuf* out = std::cout.rdbuf(nullptr);
    std::streambuf* err = std::cerr.rdbuf(nullptr);
    bool cont = ParseOrExit(t.app, static_cast<int>(argv.size()), argv.data(), code);
    std::cout.rdbuf(out);
    std::cerr.rdbuf(err);
    INFO(args[1]);
    CHECK(cont == r.cont);
    CHECK(code == r.code);
  }
}

}  // namespace
}  // namespace skyport

namespace skyport {
namespace {

// A daemon reads SKYPORT_<DAEMON>_<NAME>, never the CLI's SKYPORT_<NAME>: a shell set up for
// the CLI must not point a daemon at another hub. The CLI's names it would have used are
// reported (names only), unless the daemon has that setting from somewhere else.
TEST_CASE("EnableEnvAndConfig: a daemon's own variables; the CLI's are reported, not read", "[core][flags]") {
  TempDir dir;
  SECTION("the CLI's variable is not read, and reported") {
    ScopedEnv env(Vars{{"SKYPORT_UT_REGISTRY", "cli-registry"}, {"SKYPORT_UT_WORKERS", "9"}});
    TestApp t(dir.Path("none.toml"), env.Lookup(), "router");
    REQUIRE(t.Parse({"--ut-workers", "3"}) == "");
    CHECK(t.registry == "default-registry");
    CHECK(t.workers == 3);
    CHECK(t.app.get_option("--ut-registry")->get_envname() == "SKYPORT_ROUTER_UT_REGISTRY");
    // --ut-workers was given: SKYPORT_UT_WORKERS changes nothing the user could miss.
    CHECK(t.not_read == std::vector<std::string>{"SKYPORT_UT_REGISTRY"});
  }
  SECTION("the daemon's own variable is read, and nothing reported") {
    ScopedEnv env(Vars{{"SKYPORT_UT_REGISTRY", "cli-registry"}, {"SKYPORT_ROUTER_UT_REGISTRY", "own-registry"}});
    TestApp t(dir.Path("none.toml"), env.Lookup(), "router");
    REQUIRE(t.Parse({}) == "");
    CHECK(t.registry == "own-registry");
    CHECK(t.not_read.empty());
  }
  SECTION("a secret the CLI's variable would have given (SKYPORT_UT_SECRET for --ut-secret-file)") {
    ScopedEnv env(Vars{{"SKYPORT_UT_SECRET", "s3cret"}});
    TestApp t(dir.Path("none.toml"), env.Lookup(), "hub");
    REQUIRE(t.Parse({}) == "");
    CHECK(t.not_read == std::vector<std::string>{"SKYPORT_UT_SECRET"});
    TestApp given(dir.Path("none.toml"), env.Lookup(), "hub");
    REQUIRE(given.Parse({"--ut-secret-file", "/x"}) == "");
    CHECK(given.not_read.empty());
  }
  SECTION("the daemon's own secret variable gives the setting: the CLI's file variable is not reported") {
    // The router with SKYPORT_ROUTER_TOKEN in a shell that also has the CLI's SKYPORT_TOKEN_FILE.
    ScopedEnv env(Vars{{"SKYPORT_UT_SECRET_FILE", "/cli/secret"}, {"SKYPORT_UT_SECRET", "cli-s3cret"},
                       {"SKYPORT_HUB_UT_SECRET", "own-s3cret"}});
    TestApp t(dir.Path("none.toml"), env.Lookup(), "hub");
    REQUIRE(t.Parse({}) == "");
    CHECK(t.secret_file.empty());
    CHECK(t.not_read.empty());
  }
  SECTION("the config file: SKYPORT_<DAEMON>_CONFIG chooses it, SKYPORT_CONFIG is reported") {
    std::string a = dir.Write("a.toml", "ut-registry = \"from-a\"\n");
    std::string b = dir.Write("b.toml", "ut-registry = \"from-b\"\n");
    {
      ScopedEnv env(Vars{{"SKYPORT_CONFIG", b}});
      TestApp t(a, env.Lookup(), "drone");
      REQUIRE(t.Parse({}) == "");
      CHECK(t.registry == "from-a");
      CHECK(t.not_read == std::vector<std::string>{"SKYPORT_CONFIG"});
    }
    {
      ScopedEnv env(Vars{{"SKYPORT_CONFIG", a}, {"SKYPORT_DRONE_CONFIG", b}});
      TestApp t(a, env.Lookup(), "drone");
      REQUIRE(t.Parse({}) == "");
      CHECK(t.registry == "from-b");
      CHECK(t.not_read.empty());
    }
  }
  SECTION("--config FILE on the command line: SKYPORT_CONFIG is not reported") {
    std::string a = dir.Write("a.toml", "ut-registry = \"from-a\"\n");
    std::string b = dir.Write("b.toml", "ut-registry = \"from-b\"\n");
    ScopedEnv env(Vars{{"SKYPORT_CONFIG", b}});
    TestApp t("", env.Lookup(), "router");
    REQUIRE(t.Parse({"--config", a}) == "");
    CHECK(t.registry == "from-a");
    CHECK(t.not_read.empty());
  }
  SECTION("the file loses to the daemon's own variable, not to the CLI's") {
    std::string c = dir.Write("c.toml", "ut-registry = \"file-registry\"\n");
    {
      ScopedEnv env(Vars{{"SKYPORT_UT_REGISTRY", "cli-registry"}});
      TestApp t(c, env.Lookup(), "router");
      REQUIRE(t.Parse({}) == "");
      CHECK(t.registry == "file-registry");
      CHECK(t.not_read.empty());  // the file gave it
    }
    {
      ScopedEnv env(Vars{{"SKYPORT_ROUTER_UT_REGISTRY", "own-registry"}});
      TestApp t(c, env.Lookup(), "router");
      REQUIRE(t.Parse({}) == "");
      CHECK(t.registry == "own-registry");
    }
  }
  SECTION("the CLI reports nothing: its names are the short ones") {
    ScopedEnv env(Vars{{"SKYPORT_UT_REGISTRY", "cli-registry"}});
    TestApp t(dir.Path("none.toml"), env.Lookup());
    REQUIRE(t.Parse({}) == "");
    CHECK(t.registry == "cli-registry");
    CHECK(t.not_read.empty());
  }
}

}  // namespace
}  // namespace skyport
