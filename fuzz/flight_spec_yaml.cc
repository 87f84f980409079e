// libFuzzer target: flight specs written in YAML (cli/spec_file.h
// SpecTextToJson, yaml-cpp -> JSON text), then validated like the hub does
// (contract/flight_spec.h ParseFlightSpecText). The JSON made from YAML must always
// be valid JSON.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/check.h"
#include "cli/spec_file.h"
#include "contract/flight_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = skyport::cli::SpecTextToJson(text, /*yaml=*/true, "fuzz.yaml");
  if (!json.ok()) return 0;
  CHECK(nlohmann::json::accept(*json));
  (void)skyport::hub::ParseFlightSpecText(*json);
  return 0;
}
