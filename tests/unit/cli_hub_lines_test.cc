#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli/deploy_progress.h"
#include "cli/log_lines.h"

using namespace skyport;
using namespace skyport::cli;

namespace {

const std::string kCommit = "74336bc1db98aaaaaaaaaaaaaaaaaaaaaaaaaaaa";

v1::DeployProgress Progress(std::string drone, v1::DeployProgress::Stage stage, std::string message) {
  v1::DeployProgress p;
  p.set_drone(std::move(drone));
  p.set_commit(kCommit);
  p.set_stage(stage);
  p.set_message(std::move(message));
  p.set_unix_ms(1'780'000'000'000);
  return p;
}

v1::LogLine Log(std::string stream, std::string text) {
  v1::LogLine l;
  l.set_drone("web-1");
  l.set_commit(kCommit);
  l.set_role("web");
  l.set_instance(2);
  l.set_stream(std::move(stream));
  l.set_text(std::move(text));
  l.set_unix_ms(5);
  return l;
}

}  // namespace

TEST_CASE("StageName: every stage in lower case", "[cli]") {
  CHECK(StageName(v1::DeployProgress::FETCHING) == "fetching");
  CHECK(StageName(v1::DeployProgress::CHECKED_OUT) == "checked-out");
  CHECK(StageName(v1::DeployProgress::BUILDING) == "building");
  CHECK(StageName(v1::DeployProgress::STARTING) == "starting");
  CHECK(StageName(v1::DeployProgress::HEALTHY) == "healthy");
  CHECK(StageName(v1::DeployProgress::REGISTERED) == "registered");
  CHECK(StageName(v1::DeployProgress::FAILED) == "failed");
  CHECK(StageName(v1::DeployProgress::STAGE_UNSPECIFIED) == "unknown");
}

TEST_CASE("DeployPrinter lines up drone, commit, stage and message", "[cli]") {
  DeployPrinter printer("webapp");
  CHECK(printer.Text(Progress("web-1", v1::DeployProgress::FETCHING, "fetching from the hub")) ==
        "web-1  74336bc1db98  fetching     fetching from the hub");
  CHECK(printer.Text(Progress("web-10", v1::DeployProgress::CHECKED_OUT, "")) ==
        "web-10  74336bc1db98  checked-out");
  // The drone column keeps the widest name seen so far.
  CHECK(printer.Text(Progress("web-1", v1::DeployProgress::FAILED, "exit 1\nTraceback")) ==
        "web-1   74336bc1db98  failed       exit 1 Traceback");
  CHECK(printer.Summary() == "deployed webapp 74336bc1db98 on 2 drones: web-1, web-10");
}

TEST_CASE("DeployPrinter JSON: one object per message", "[cli]") {
  DeployPrinter printer("webapp");
  auto j = nlohmann::json::parse(printer.Json(Progress("web-1", v1::DeployProgress::REGISTERED, "on :15000")));
  CHECK(j["drone"] == "web-1");
  CHECK(j["commit"] == kCommit);
  CHECK(j["stage"] == "registered");
  CHECK(j["message"] == "on :15000");
  CHECK(j["unix_ms"] == 1'780'000'000'000);
  CHECK(printer.Summary() == "deployed webapp 74336bc1db98 on 1 drone: web-1");
  CHECK(DeployPrinter("x").Summary() == "deployed x");
}

TEST_CASE("LogText marks stderr and drops the newline", "[cli]") {
  CHECK(LogText(Log("stdout", "GET / 200\n")) == "web-1 web.2 74336bc1db98 | GET / 200");
  CHECK(LogText(Log("stderr", "boom")) == "web-1 web.2 74336bc1db98 ! boom");
}

TEST_CASE("LogJson carries every field and survives bad UTF-8", "[cli]") {
  auto j = nlohmann::json::parse(LogJson(Log("stderr", "x\n")));
  CHECK(j["drone"] == "web-1");
  CHECK(j["role"] == "web");
  CHECK(j["instance"] == 2);
  CHECK(j["stream"] == "stderr");
  CHECK(j["text"] == "x");
  CHECK(j["commit"] == kCommit);
  CHECK(j["unix_ms"] == 5);
  CHECK_NOTHROW(nlohmann::json::parse(LogJson(Log("stdout", "\xff\xfe ok"))));
}
