#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "hub/flights/flight_state.h"

namespace skyport::hub {
namespace {

using nlohmann::json;

// The names are what flights.db, the timeline, `skyport flight` and
// /metrics hold: they must never change.
TEST_CASE("FlightStatus: every status has its stored name, and back", "[hub][flight]") {
  const struct {
    FlightStatus status;
    const char* name;
  } kTable[] = {
      {FlightStatus::kRunning, "running"}, {FlightStatus::kCleanup, "cleanup"}, {FlightStatus::kPromoted, "promoted"},
      {FlightStatus::kDone, "done"},       {FlightStatus::kKilled, "killed"},   {FlightStatus::kExpired, "expired"},
      {FlightStatus::kFailed, "failed"},
  };
  STATIC_REQUIRE(std::size(kTable) == std::size(kFlightStatuses));
  for (const auto& row : kTable) {
    INFO(row.name);
    CHECK(FlightStatusName(row.status) == row.name);
    CHECK(ParseFlightStatus(row.name) == row.status);
  }
  for (const char* bad : {"", "Running", "running ", "flying", "pending"}) {
    INFO(bad);
    CHECK_FALSE(ParseFlightStatus(bad).has_value());
  }
}

TEST_CASE("FlightState JSON: statuses as strings, no end status as \"\"", "[hub][flight]") {
  FlightState s;
  s.id = "f-1";
  json doc = FlightStateToJson(s);
  CHECK(doc["status"] == "running");
  CHECK(doc["end_status"] == "");
  auto back = FlightStateFromJson(doc);
  REQUIRE(back.ok());
  CHECK_FALSE(back->end_status.has_value());

  s.status = FlightStatus::kCleanup;
  s.end_status = FlightStatus::kExpired;
  doc = FlightStateToJson(s);
  CHECK(doc["status"] == "cleanup");
  CHECK(doc["end_status"] == "expired");

  doc["end_status"] = "later";
  auto bad = FlightStateFromJson(doc);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("end_status: \"later\" is not a flight status") != std::string::npos);
}

}  // namespace
}  // namespace skyport::hub
