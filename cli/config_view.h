// `skyport config`: the requests it sends and the lines it prints. Pure.
//
// Values are secrets: a parse error names the key or the argument's
// position, never a value; the hub masks values unless --reveal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

// `config set APP K=V…`: every KEY=VALUE checked (contract/config_vars.h),
// a key given twice refused. INVALID_ARGUMENT (exit 2) says what is wrong.
Result<v1::ConfigChangeRequest> MakeConfigSetRequest(const std::string& app, const std::vector<std::string>& args);
// `config unset APP K…`.
// `config set --stdin`: KEY=VALUE lines, as in a .env file (blank lines and
// lines starting with # skipped, a trailing CR dropped; the value is the rest
// of the line, '=' and spaces included), so that values stay out of the
// command line other local users can read (ps). At most
// kMaxConfigTotalBytes + 64 KiB of text; errors name the line, never a value.
Result<std::vector<std::string>> ConfigAssignmentsFromText(std::string_view text);

Result<v1::ConfigChangeRequest> MakeConfigUnsetRequest(const std::string& app, const std::vector<std::string>& keys);

// `config APP`: "APP: config vN, M vars (values masked; --reveal shows them)"
// then KEY=VALUE lines sorted by key; a value with a control character
// (a newline, say) as a JSON string.
std::string RenderConfigText(const v1::AppConfig& c);
// {"app","version","masked","updated_unix_ms","vars":{KEY:VALUE}}.
nlohmann::json ConfigJson(const v1::AppConfig& c);

// The lines of `config set|unset` for the events that are not deploy progress.
std::string ConfigSavedLine(const v1::AppConfig& saved, const v1::ConfigChangeRequest& req);
std::string ConfigRestartingLine(const std::string& app, const std::string& commit);

}  // namespace skyport::cli
