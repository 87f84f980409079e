#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/token.h"

namespace skyport {
namespace {

// A file in a fresh temp dir, removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char tmpl[] = "/tmp/skyport-token-test-XXXXXX";
    char* d = mkdtemp(tmpl);
    REQUIRE(d != nullptr);
    dir_ = d;
    path_ = dir_ + "/token";
    std::ofstream(path_) << contents;
  }
  ~TempFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, path_;
};

TEST_CASE("LoadToken: from a file, surrounding whitespace trimmed", "[core][token]") {
  struct Row {
    std::string contents;
    std::string want;
  };
  const Row rows[] = {
      {"s3cr3t", "s3cr3t"},
      {"s3cr3t\n", "s3cr3t"},
      {"  s3cr3t \r\n", "s3cr3t"},
      {"\t\ns3cr3t\t\n\n", "s3cr3t"},
      {"two words\n", "two words"},
  };
  for (const Row& r : rows) {
    INFO("contents: " << r.contents);
    TempFile f(r.contents);
    auto tok = LoadToken(f.path(), "env-token-ignored");
    REQUIRE(tok.ok());
    CHECK(*tok == r.want);
  }
}

TEST_CASE("LoadToken: from the environment value when no file is given", "[core][token]") {
  auto tok = LoadToken("", "  from-env\n");
  REQUIRE(tok.ok());
  CHECK(*tok == "from-env");
}

TEST_CASE("LoadToken: empty or missing sources are errors that say how to fix it", "[core][token]") {
  SECTION("no file, empty env") {
    for (const char* env : {"", "   ", "\n\t"}) {
      auto tok = LoadToken("", env);
      REQUIRE_FALSE(tok.ok());
      CHECK(tok.status().code() == Code::kInvalidArgument);
      CHECK_THAT(tok.status().message(), Catch::Contains("--token-file") && Catch::Contains("SKYPORT_TOKEN"));
    }
    // A daemon names its own variables.
    auto tok = LoadToken("", "", "SKYPORT_ROUTER_TOKEN");
    CHECK_THAT(tok.status().message(),
               Catch::Contains("set SKYPORT_ROUTER_TOKEN (or SKYPORT_ROUTER_TOKEN_FILE)"));
  }
  SECTION("whitespace-only file") {
    TempFile f(" \n\t\r\n");
    auto tok = LoadToken(f.path(), "env-secret-value");
    REQUIRE_FALSE(tok.ok());
    CHECK(tok.status().message() == "token-file: " + f.path() + " is empty");
  }
  SECTION("missing file, even with an env value present") {
    TempFile f("x");
    std::string missing = f.dir() + "/nope";
    auto tok = LoadToken(missing, "env-secret-value");
    REQUIRE_FALSE(tok.ok());
    CHECK(tok.status().code() == Code::kInvalidArgument);
    CHECK_THAT(tok.status().message(), Catch::StartsWith("token-file: cannot read " + missing));
    CHECK_THAT(tok.status().message(), !Catch::Contains("env-secret-value"));
  }
}

TEST_CASE("LoadToken: the token never appears in an error message", "[core][token]") {
  // An unreadable file whose path does not contain the token, and env tokens.
  const std::string secret = "TOPSECRET-1234";
  std::string missing = "/nonexistent-dir-skyport/token";
  auto a = LoadToken(missing, secret);
  REQUIRE_FALSE(a.ok());
  CHECK_THAT(a.status().ToString(), !Catch::Contains(secret));
  CHECK_THAT(a.status().ToString(), !Catch::Contains("TOPSECRET"));
}

TEST_CASE("ConstantTimeEquals", "[core][token]") {
  struct Row {
    std::string a, b;
    bool eq;
  };
  const Row rows[] = {
      {"", "", true},
      {"abc", "abc", true},
      {"abc", "abd", false},
      {"abc", "xbc", false},
      {"abc", "ab", false},    // prefix
      {"ab", "abc", false},    // prefix the other way
      {"", "a", false},
      {"a", "", false},
      {std::string("a\0b", 3), std::string("a\0c", 3), false},
      {std::string("ab\0", 3), "ab", false},  // trailing NUL must not equal a shorter string
      {std::string(1000, 'x'), std::string(1000, 'x'), true},
      {std::string(1000, 'x'), std::string(999, 'x') + "y", false},
  };
  for (const Row& r : rows) {
    INFO("a size " << r.a.size() << " b size " << r.b.size());
    CHECK(ConstantTimeEquals(r.a, r.b) == r.eq);
    CHECK(ConstantTimeEquals(r.b, r.a) == r.eq);
  }
}

}  // namespace
}  // namespace skyport
