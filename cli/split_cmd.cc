// skyport split: read the endpoints and the route, plan, compare-and-swap.
#include "cli/split_cmd.h"

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"
#include "cli/errors.h"
#include "cli/route_json.h"
#include "cli/split_args.h"
#include "cli/split_plan.h"
#include "core/ids.h"
#include "core/names.h"

namespace skyport::cli {
namespace {

constexpr int kCasRetries = 3;

int RunShowSplit(const GlobalOptions& g, const SplitOptions& o, RegistryClient& client) {
  auto route = client.GetRoute(o.app);
  if (!route.ok() && route.status().code() == Code::kNotFound) {
    if (g.json)
      std::cout << "null" << std::endl;
    else
      std::cout << "no route config for " << o.app << ": routers send everyone to its most recently deployed commit"
                << std::endl;
    return kExitOk;
  }
  if (!route.ok()) return ReportRpcError(g, "get route for " + o.app, route.status());
  std::cout << (g.json ? RouteToJson(*route) : ShowSplit(*route)) << std::flush;
  return kExitOk;
}

// Usage problems found before dialling: exit 2.
Status CheckArguments(SplitOptions& o, std::vector<WeightArg>& weights) {
  if (Status s = ValidateName("app", o.app); !s.ok()) return s;
  if (o.show) {
    if (!o.weights.empty() || o.new_test || o.allow_override || o.hosts || o.path_prefixes)
      return Status::InvalidArgument("--show takes no COMMIT=WEIGHT arguments or other options");
    return Status::Ok();
  }
  if (o.new_test)
    if (Status s = ReclaimNewTestWord(o.new_test_id, o.weights); !s.ok()) return s;
  if (o.hosts)
    for (const std::string& host : *o.hosts)
      if (Status s = ValidateHost("--host", host); !s.ok()) return s;
  auto parsed = ParseWeightArgs(o.weights);
  if (!parsed.ok()) return parsed.status();
  weights = std::move(*parsed);
  return Status::Ok();
}

}  // namespace

SplitOutcome ApplySplit(RegistryClient& client, const SplitOptions& o, const std::vector<WeightArg>& args,
                        bool dry_run) {
  SplitOutcome out;
  auto rpc_failed = [&out](std::string what, Status s) {
    out.status = std::move(s);
    out.rpc_error = true;
    out.what = std::move(what);
    return out;
  };
  v1::QueryRequest query;
  query.set_app(o.app);
  auto live = client.Query(query);
  if (!live.ok()) return rpc_failed("query " + o.app, live.status());
  for (const auto& ep : live->endpoints()) out.running.push_back(ep.commit());
  auto weights = ResolveWeights(o.app, args, out.running);
  if (!weights.ok()) {
    out.status = weights.status();
    return out;
  }

  SplitRequest req;
  req.app = o.app;
  req.weights = std::move(*weights);
  req.new_test = o.new_test;
  if (!o.new_test_id.empty()) {
    req.new_split_id = o.new_test_id;
  } else {
    SystemRandom random;
    req.new_split_id = SplitIdFrom(NewHexId(random));
  }
  req.allow_override = o.allow_override;
  req.hosts = o.hosts;
  req.path_prefixes = o.path_prefixes;
  out.weights = req.weights;

  // Compare-and-swap: someone else may write the route between our read and
  // our write; then read it again and rebalance from what they wrote.
  for (int attempt = 0;; ++attempt) {
    std::optional<v1::RouteConfig> current;
    auto got = client.GetRoute(o.app);
    if (got.ok())
      current = std::move(*got);
    else if (got.status().code() != Code::kNotFound)
      return rpc_failed("get route for " + o.app, got.status());
    auto plan = PlanSplit(current, req, out.running);
    if (!plan.ok()) {
      out.status = plan.status();
      return out;
    }
    out.plan = std::move(*plan);
    if (dry_run) return out;
    auto put = client.PutRoute(out.plan.route, out.plan.expected_revision);
    if (!put.ok()) {
      const Code c = put.status().code();
      if ((c == Code::kAborted || c == Code::kFailedPrecondition) && attempt < kCasRetries) continue;
      return rpc_failed("set route for " + o.app, put.status());
    }
    out.revision = put->revision();
    out.plan.route.set_revision(out.revision);
    return out;
  }
}

int RunSplit(const GlobalOptions& g, SplitOptions o) {
  std::vector<WeightArg> args;
  if (Status s = CheckArguments(o, args); !s.ok()) return ReportUsage(s);
  int code = kExitOk;
  auto client = ConnectOrReport(g, code);
  if (!client) return code;
  if (o.show) return RunShowSplit(g, o, *client);
  SplitOutcome done = ApplySplit(*client, o, args, /*dry_run=*/false);
  if (!done.status.ok()) {
    if (done.rpc_error) return ReportRpcError(g, done.what, done.status);
    std::cerr << "skyport: " << done.status.message() << std::endl;
    return kExitFailure;
  }
  if (g.json)
    std::cout << RouteToJson(done.plan.route) << std::flush;
  else
    std::cout << SplitSummary(done.plan, done.revision) << std::flush;
  for (const auto& w : SplitWarnings(done.weights, done.running)) std::cerr << "skyport: warning: " << w << std::endl;
  return kExitOk;
}

// ---- `skyport split` in the command table (command_table.h)
namespace {

Runner DefineSplit(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<SplitOptions>();
  auto hosts = std::make_shared<std::vector<std::string>>();
  auto prefixes = std::make_shared<std::vector<std::string>>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("weights", o->weights,
                 "COMMIT=WEIGHT (COMMIT: a prefix of a running commit). Weights are relative shares: a commit "
                 "gets WEIGHT / (sum of the weights) of the users (a=90 b=10 and a=9 b=1 both give 90%/10%); "
                 "running commits left out get none");
  auto* new_test = cmd.add_option("--new-test", o->new_test_id,
                                  "Start a new test: a new split id (ID, else random); every user is dealt again")
                       ->expected(0, 1)
                       ->type_name("[ID]");
  auto allow = std::make_shared<bool>(false), deny = std::make_shared<bool>(false);
  auto* allow_opt = cmd.add_flag("--allow-override", *allow, "Let the X-Skyport-Commit header pin a commit");
  cmd.add_flag("--no-allow-override", *deny, "Ignore X-Skyport-Commit")->excludes(allow_opt);
  auto* host_opt = cmd.add_option("--host", *hosts, "Host name that selects APP (repeatable; replaces the list)")
                       ->allow_extra_args(false);
  auto* prefix_opt =
      cmd.add_option("--path-prefix", *prefixes, "Request path prefix that selects APP (repeatable; replaces)")
          ->allow_extra_args(false);
  cmd.add_flag("--show", o->show, "Print APP's current split");
  cmd.footer(
      "Weights are relative. Changing them moves only the users whose share changes hands\n"
      "(e.g. 90/10 -> 80/20 moves 10% of users, all to the second commit); --new-test re-deals everyone.\n"
      "Commits left out of the list get no traffic. --json prints the route config written.");
  return [&g = ctx.global, o, hosts, prefixes, new_test, allow, deny, host_opt, prefix_opt] {
    o->new_test = new_test->count() > 0;
    if (*allow) o->allow_override = true;
    if (*deny) o->allow_override = false;
    if (host_opt->count()) o->hosts = *hosts;
    if (prefix_opt->count()) o->path_prefixes = *prefixes;
    return RunSplit(g, *o);
  };
}

constexpr CommandSpec kSplitCommands[] = {
    {"split", "Split APP's traffic between commits by weight, sticky per user", DefineSplit},
};

}  // namespace

std::span<const CommandSpec> SplitCommands() { return kSplitCommands; }

}  // namespace skyport::cli
