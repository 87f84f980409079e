#include "rpc/etcd_options.h"

#include <charconv>

#include "core/files.h"

namespace skyport::etcd {
namespace {

std::string_view Trim(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

Result<std::string> Password(const EtcdFlags& f, const EnvLookup& env) {
  std::string raw;
  if (!f.password_file.empty()) {
    auto content = ReadFile(f.password_file);
    if (!content.ok())
      return Status::InvalidArgument("etcd-password-file: cannot read " + f.password_file + ": " +
                                     content.status().message());
    raw = std::move(*content);
  } else if (auto v = env(f.password_env)) {
    raw = std::move(*v);
  } else {
    return std::string();
  }
  if (raw.size() > kMaxPasswordBytes)
    return Status::InvalidArgument("etcd password: longer than " + std::to_string(kMaxPasswordBytes) + " bytes");
  std::string password(Trim(raw));  // the file's final newline is not part of it
  if (password.empty()) return Status::InvalidArgument("etcd password: empty");
  return password;
}

}  // namespace

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

Result<int64_t> ParseDurationMs(std::string_view text, std::string_view flag) {
  std::string_view t = Trim(text);
  int64_t unit = 1;
  if (t.ends_with("ms")) {
    t.remove_suffix(2);
  } else if (t.ends_with("s")) {
    t.remove_suffix(1), unit = 1000;
  } else if (t.ends_with("m")) {
    t.remove_suffix(1), unit = 60'000;
  }
  int64_t n = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  auto bad = Status::InvalidArgument(std::string(flag) + ": \"" + std::string(text.substr(0, 40)) +
                                     "\" is not a duration within 1ms..1h (like 500ms, 2s, 1m)");
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || n < 1 || n > 3'600'000 / unit) return bad;
  return n * unit;
}

Result<Settings> SettingsFromFlags(const EtcdFlags& f, const EnvLookup& env) {
  Settings s;
  s.options.endpoints = SplitList(f.endpoints);
  if (s.options.endpoints.empty())
    return Status::InvalidArgument("etcd-endpoints: required with the etcd store (URL,URL,...)");
  s.options.ca_file = f.cacert;
  s.options.cert_file = f.cert;
  s.options.key_file = f.key;
  s.options.user = f.user;
  auto password = Password(f, env);
  if (!password.ok()) return password.status();
  s.options.password = std::move(*password);
  auto dial = ParseDurationMs(f.dial_timeout, "etcd-dial-timeout");
  if (!dial.ok()) return dial.status();
  auto request = ParseDurationMs(f.request_timeout, "etcd-request-timeout");
  if (!request.ok()) return request.status();
  s.options.dial_timeout_ms = *dial;
  s.options.request_timeout_ms = *request;
  if (Status p = ValidKeyPrefix(f.prefix); !p.ok()) return p;
  s.prefix = f.prefix;
  if (auto eps = CheckOptions(s.options); !eps.ok()) return eps.status();
  return s;
}

}  // namespace skyport::etcd
