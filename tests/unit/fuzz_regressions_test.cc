// Inputs the fuzz targets (fuzz/) found, each kept as a test so that the
// problem cannot come back unnoticed. The long run's figures are in
// docs/security.md.
#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/spec_file.h"

namespace {

// "a: &a [x, x]", then each line a list of two aliases of the line before:
// 870 bytes that expand to 2^levels scalars ("billion laughs").
std::string AliasBomb(int levels) {
  std::string text = "a: &n0 [x, x]\n";
  for (int i = 1; i <= levels; ++i)
    text += fmt::format("n{0}: &n{0} [*n{1}, *n{1}]\n", i, i - 1);
  return text;
}

}  // namespace

TEST_CASE("fuzz flight_spec_yaml: aliases cannot expand a spec without bound", "[cli][fuzz]") {
  // Found by fuzz/flight_spec_yaml (a timeout): 40 levels never finished. 20 levels (2 million
  // nodes) still returned a 12 MB document before the expansion had a budget.
  auto bomb = skyport::cli::SpecTextToJson(AliasBomb(20), true, "f.yaml");
  REQUIRE_FALSE(bomb.ok());
  CHECK(bomb.status().message().find("f.yaml: expands to more than") != std::string::npos);
  CHECK_FALSE(skyport::cli::SpecTextToJson(AliasBomb(40), true, "f.yaml").ok());

  // Reusing a block a few times (what anchors are for) still works.
  auto reuse = skyport::cli::SpecTextToJson(
      "arms: &arms {control: abc1234, treatment: main}\n"
      "step: &w {action: weight, arms: {treatment: 10}}\n"
      "copy: *arms\nflightplan: [*w, *w, *w, *w]\n",
      true, "f.yaml");
  REQUIRE(reuse.ok());
  auto doc = nlohmann::json::parse(*reuse);
  CHECK(doc["copy"]["treatment"] == "main");
  CHECK(doc["flightplan"].size() == 4);
  CHECK(doc["flightplan"][3]["arms"]["treatment"] == 10);
}
