// A flight spec: a declarative experiment or progressive rollout of one app
// (docs/flights.md). Parsed and validated completely before anything
// happens; every problem is reported with its field path. Pure.
//
//   { "name": "checkout-v2", "app": "webapp", "description": "…", "author": "…",
//     "infourl": "…", "version": 1,
//     "arms": { "control": "74336bc", "treatment": "40548da" },   // commits or branch names
//     "control": "control",
//     "filter": { "channels": ["beta"], "oses": ["linux", "mac"], "locales": ["en-US", "de"],
//                 "headers": { "X-Beta": "1" } },
//     "randomDeploy": { "keyname": "uid", "ge": 0.0, "lt": 0.2 },
//     "endBy": "2026-12-01T00:00:00Z",
//     "kill": false,
//     "flightplan": [ STEP | [STEP, STEP, ...], ... ] }
//
// Steps ("action" required; unknown fields are errors everywhere):
//   {"action":"deploy","arm":"treatment","instances":2}       instances 1..64, default 1
//   {"action":"weight","arms":{"treatment":5}}                percent of enrolled users, 0..100
//   {"action":"wait","for":"10m"} | {"action":"wait","until":"2026-11-25T00:00:00Z"}
//   {"action":"ping","url":"http://hooks/x?f={{name}}&s={{step}}","method":"GET"|"POST","body":"…"}
//   {"action":"gate", …contract/gates.h ParseGateSpec fields…, "timeout":"1h"}
//   {"action":"promote","arm":"treatment","grace":"10m"}
//   {"action":"log","message":"…"}
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "contract/gates.h"

namespace skyport::hub {

inline constexpr uint32_t kMaxDeployInstances = 64;
inline constexpr int64_t kDefaultGraceMs = 10 * 60 * 1000;

struct FlightFilterSpec {
  std::vector<std::string> channels;          // non-empty strings, <= 64 chars
  std::vector<std::string> oses;              // android | ios | chromeos | windows | mac | linux
  std::vector<std::string> locales;           // language tags: [A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*
  std::map<std::string, std::string> headers; // name (an HTTP token, stored lowercase) -> exact value
  bool operator==(const FlightFilterSpec&) const = default;
};

struct PlanStep {
  enum class Action { kDeploy, kWeight, kWait, kPing, kGate, kPromote, kLog };
  Action action = Action::kLog;
  // deploy, promote: the arm (required for deploy; promote defaults to the
  // only non-control arm). gate: the treatment arm name, kept in gate.arm too.
  std::string arm;
  uint32_t instances = 1;                 // deploy
  std::map<std::string, double> weights;  // weight: non-control arm -> percent (control gets 100 - sum of all)
  int64_t wait_ms = 0;                    // wait "for" (> 0), else
  int64_t until_unix_ms = 0;              // wait "until"
  std::string url;                        // ping: "http://…" template (https is refused: not supported)
  std::string method = "GET";             // ping: GET | POST
  std::string body;                       // ping: POST body template ("" = a JSON summary)
  GateSpec gate;                          // gate: arm / control hold ARM NAMES (control defaults to the flight's)
  int64_t timeout_ms = 0;                 // gate: fail after this long without a verdict (0 = none)
  int64_t grace_ms = kDefaultGraceMs;     // promote: how long the other arms keep running
  std::string message;                    // log
  nlohmann::json raw;                     // the step as written

  // One line for people: "deploy treatment x2", "weight treatment=5%",
  // "wait 10m", "wait until 2026-11-25T00:00:00Z", "ping GET http://…",
  // "gate error_rate treatment (max_increase 0.01)", "gate conversion purchase
  // treatment (sequential, alpha 0.05)", "promote treatment", "log …".
  std::string Describe() const;
};

const char* ActionName(PlanStep::Action a);  // "deploy", "weight", ...

struct FlightSpec {
  std::string name;                          // names.h ValidateName rules
  std::string app;                           // names.h ValidateName rules
  std::string description, author, infourl;  // optional strings (infourl: http(s) URL if given)
  int64_t version = 1;                       // integer >= 1
  std::map<std::string, std::string> arms;   // >= 2; name [a-z0-9][a-z0-9_-]{0,31} -> commitish
                                             // ([A-Za-z0-9._/-]{1,255}, no "..")
  std::string control;                       // an arm name
  FlightFilterSpec filter;
  std::string range_key = "uid";             // randomDeploy.keyname: [A-Za-z0-9_-]{1,64}
  double range_ge = 0, range_lt = 1;         // 0 <= ge < lt <= 1
  int64_t end_by_unix_ms = 0;                // endBy (RFC 3339); 0 = none
  bool kill = false;
  // Each entry is one step, or a parallel group of >= 1 steps (written as a
  // JSON array; groups do not nest). May be empty.
  std::vector<std::vector<PlanStep>> plan;
  nlohmann::json raw;                        // the document as given

  // Arms other than the control, sorted.
  std::vector<std::string> Treatments() const;
};

// Validates everything that does not need the cluster (commitishes are
// resolved by the control tower). Besides each field's own rules:
// - step arms must be arms of the flight; weight steps may not name the
//   control; deploy may name any arm; gate/promote default their arm to the
//   only treatment (else "arm: required: the flight has several treatments");
// - running the weight steps in plan order, the treatments' percentages never
//   sum above 100 ("flightplan[4][1].arms: treatments sum to 120% > 100%");
//   one parallel group may not hold two weight steps naming the same arm;
// - ping templates may use only {{name}} {{app}} {{id}} {{step}} {{status}}
//   {{arm}} {{commit}} {{control}} {{weights}} {{time}};
// - wait has exactly one of "for" / "until".
// Every problem is collected as "PATH: message" (PATH like "flightplan[3].metric",
// "arms.treatment", "filter.oses[1]", "randomDeploy.lt"), joined with "; ",
// into one INVALID_ARGUMENT. Gate fields are checked by ParseGateSpec with
// its path.
Result<FlightSpec> ParseFlightSpec(const nlohmann::json& doc);

inline constexpr int kMaxSpecDepth = 32;
// Whether `text`'s arrays/objects nest at most `max_depth` deep (strings skipped).
bool JsonDepthWithin(std::string_view text, int max_depth);

// JSON text -> ParseFlightSpec. Not JSON: INVALID_ARGUMENT "spec: not valid JSON: …";
// nested deeper than kMaxSpecDepth: INVALID_ARGUMENT.
Result<FlightSpec> ParseFlightSpecText(std::string_view json_text);

// Replaces {{var}} with vars[var] ("" if absent). With url_encode the values
// are percent-encoded (RFC 3986 unreserved kept). Text outside {{…}} is kept.
std::string RenderTemplate(std::string_view tpl, const std::map<std::string, std::string>& vars, bool url_encode);

}  // namespace skyport::hub
