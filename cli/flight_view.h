// `skyport flight …` output: tables and JSON for flights, their status and
// their timeline. Pure (`now` is an input).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

// Columns NAME APP STATE STEP ARMS (name=weight%) STARTED ENDS/ENDED.
std::string RenderFlightList(const std::vector<v1::FlightStatus>& flights, int64_t now_ms);

// flight checkout-v2 (app webapp, id …)
// state:   running, step 4/8: wait 10m (4m12s left)
// started: 2026-11-22T10:00:00Z (12m ago)   ends by: 2026-12-01T00:00:00Z (8d13h left)
// ARM        COMMIT        WEIGHT  ENROLLED
// control *  74336bc1d2e3  95%     1204
// treatment  40548da0a1b2  5%      61
// plus "reason: …" when it has one.
std::string RenderFlightStatus(const v1::FlightStatus& s, int64_t now_ms);

// One line per entry: "2026-11-22T10:00:00Z  4    gate   pass: …" then the
// entry's data (e.g. a gate's numbers) indented as compact JSON. A reply
// holds the newest entries that fit (3 MiB): `older_left_out` > 0 puts a
// first line saying how many older ones it left out.
std::string RenderFlightLog(const std::vector<v1::FlightLogEntry>& entries, uint64_t older_left_out = 0);
// That line ("" when none were left out); --json prints it on stderr.
std::string FlightLogLeftOutNotice(uint64_t older_left_out);

// Proto field names; spec_json and data_json embedded as JSON values.
nlohmann::json FlightStatusJson(const v1::FlightStatus& s);
nlohmann::json FlightLogJson(const std::vector<v1::FlightLogEntry>& entries);

}  // namespace skyport::cli
