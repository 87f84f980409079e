#include "router/route_build.h"
#include "router/uri.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace skyport::router::internal {

AppRoute FinishApp(AppDraft d, const StatsIdFn& stats_id) {
  AppRoute app;
  app.name = std::move(d.name);
  app.split_id = d.split_id.empty() ? "default" : std::move(d.split_id);
  app.allow_override = d.allow_override;
  std::map<std::string, int> index;
  int64_t best_rank = INT64_MIN;
  for (auto& [commit, draft] : d.arms) {  // commit order: ties in rank go to the larger commit
    Arm arm;
    arm.commit = commit;
    arm.weight = draft.weight;
    arm.instances = std::move(draft.instances);
    auto by_label = [](const Instance& a, const Instance& b) { return a.label < b.label; };
    // Registry builds come in label order already (RegistryMirror): one pass, no sort.
    if (!std::is_sorted(arm.instances.begin(), arm.instances.end(), by_label))
      std::sort(arm.instances.begin(), arm.instances.end(), by_label);
    arm.instances.erase(std::unique(arm.instances.begin(), arm.instances.end(),
                                    [](const Instance& a, const Instance& b) { return a.label == b.label; }),
                        arm.instances.end());
    arm.stats_id = stats_id ? stats_id(app.name, commit) : 0;
    const int i = static_cast<int>(app.arms.size());
    index[commit] = i;
    if (!arm.instances.empty() && (app.default_arm < 0 || draft.rank >= best_rank)) {
      app.default_arm = i;
      best_rank = draft.rank;
    }
    app.arms.push_back(std::move(arm));
  }
  uint32_t prev_lt = 0;
  for (const Slice& s : d.layout) {
    auto it = index.find(s.commit);
    if (it == index.end()) continue;  // callers name only known arms
    if (!app.slices.empty() && app.slices.back().second == it->second && prev_lt == s.ge)
      app.slices.back().first = s.lt;
    else
      app.slices.emplace_back(s.lt, it->second);
    prev_lt = s.lt;
  }
  app.hosts = std::move(d.hosts);
  app.path_prefixes = std::move(d.path_prefixes);
  if (d.flight) {
    auto control = index.find(d.flight_control);
    app.flight = std::make_shared<const Flight>(
        CompileFlight(*d.flight, control == index.end() ? -1 : control->second));
  }
  return app;
}

void IndexTable(RouteTable& table, std::string_view domain, std::string_view default_app) {
  table.by_host.clear();
  table.by_prefix.clear();
  table.by_name.clear();
  const size_t n = table.apps.size();
  table.selectors.assign(n, AppSelectors{});
  table.by_host.reserve(n);
  table.by_name.reserve(n);
  auto claim = [&](const std::string& host, size_t i) {
    if (!host.empty() && table.by_host.emplace(host, static_cast<int>(i)).second)
      table.selectors[i].hosts.push_back(host);
  };
  const std::string dom = NormalizeHost(domain);
  if (!dom.empty())
    for (size_t i = 0; i < n; ++i) claim(table.apps[i]->name + "." + dom, i);
  for (size_t i = 0; i < n; ++i)
    for (const std::string& h : table.apps[i]->hosts) claim(NormalizeHost(h), i);

  // Requests are matched by their normalised path (router/uri.h), so a
  // prefix is indexed in that form too ("/a/./b/" matches as "/a/b/").
  std::set<std::string> prefixes;
  std::string normal;
  for (size_t i = 0; i < n; ++i)
    for (const std::string& p : table.apps[i]->path_prefixes) {
      if (p.empty()) continue;
      const bool rewritten = uri::NormalizePath(p, false, normal).verdict == uri::PathVerdict::kRewritten;
      const std::string& key = rewritten ? normal : p;
      if (prefixes.insert(key).second) {
        table.by_prefix.emplace_back(key, static_cast<int>(i));
        table.selectors[i].path_prefixes.push_back(p);
      }
    }
  std::stable_sort(table.by_prefix.begin(), table.by_prefix.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });

  table.default_app = -1;
  for (size_t i = 0; i < n; ++i) {
    std::sort(table.selectors[i].hosts.begin(), table.selectors[i].hosts.end());
    table.by_name.emplace(table.apps[i]->name, static_cast<int>(i));
    if (!default_app.empty() && table.apps[i]->name == default_app) table.default_app = static_cast<int>(i);
  }
}

std::string NormalizeHost(std::string_view host) {
  std::string out(host);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string InstanceLabel(std::string_view host, int port) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

bool IsNumericHost(const std::string& host) {
  in_addr v4;
  in6_addr v6;
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

Result<std::string> ResolveHost(const std::string& host) {
  if (IsNumericHost(host)) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0)
    return Status::NotFound(fmt::format("cannot resolve \"{}\": {}", host, gai_strerror(rc)));
  const addrinfo* pick = nullptr;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
    if (ai->ai_family == AF_INET6 && !pick) pick = ai;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  const char* ok = nullptr;
  if (pick && pick->ai_family == AF_INET)
    ok = ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr, buf, sizeof buf);
  else if (pick)
    ok = ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr, buf, sizeof buf);
  ::freeaddrinfo(res);
  if (!ok) return Status::NotFound(fmt::format("cannot resolve \"{}\": no IPv4 or IPv6 address", host));
  return std::string(buf);
}

}  // namespace skyport::router::internal
