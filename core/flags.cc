#include "core/flags.h"

#include <CLI/CLI.hpp>

#include "core/etcd_flags.h"
#include "core/http_admin.h"
#include "core/version.h"

namespace skyport {
namespace {

// CLI11 2.1 reads the config file before the environment; drop the file's
// entries that the environment sets so that the environment wins.
class EnvFirstConfig : public CLI::ConfigTOML {
 public:
  EnvFirstConfig(EnvLookup env, std::string program) : env_(std::move(env)), program_(std::move(program)) {}
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    auto items = CLI::ConfigTOML::from_config(input);
    std::vector<CLI::ConfigItem> kept;
    // Only top-level options have environment variables; entries under a
    // [subcommand] section always stay.
    for (auto& item : items)
      if (!item.parents.empty() || !EnvOverridesFile(item.name, env_, program_)) kept.push_back(std::move(item));
    return kept;
  }

 private:
  EnvLookup env_;
  std::string program_;
};

// Only the top-level options: those are the settings of a daemon or the CLI.
void AddEnvNames(CLI::App& app, const std::string& program) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string& name = opt->get_single_name();
    if (!opt->get_lnames().empty() && opt->get_envname().empty() && name != "help" &&
        name != "config" && name != "help-all" && name != "version")
      opt->envname(EnvNameForFlag(name, program));
  }
  // Subcommand options (--host, --port, --from…) get none: a generic
  // SKYPORT_PORT in a child's environment must not change a nested command.
}

// The CLI's variables set in the environment that would have given daemon
// `program` a setting it has no value for (from its flags, its own variables
// or its config file) had it read them: what a user who set them for the CLI
// may expect the daemon to follow.
// `default_config`: the file --config stands for when not given (CLI11 records a default file
// that exists as a result of --config, so a result other than it is a --config FILE given).
std::vector<std::string> CliVariablesNotRead(const CLI::App& app, const std::string& program, const EnvLookup& env,
                                             const std::string& default_config) {
  std::vector<std::string> names;
  auto check = [&](const std::string& name) {
    if (env(EnvName("", name)) && !env(EnvName(program, name))) names.push_back(EnvName("", name));
  };
  for (const CLI::Option* opt : app.get_options()) {
    const std::string& name = opt->get_single_name();
    // --config counts as given once the default file was looked at: SKYPORT_CONFIG is checked
    // unless --config FILE was on the command line.
    if (name == "config" &&
        (opt->count() == 0 || (!default_config.empty() && opt->as<std::string>() == default_config)))
      check("CONFIG");
    if (opt->get_lnames().empty() || name == "help" || name == "help-all" || name == "config" || name == "version" ||
        opt->count() > 0)
      continue;
    if (name.ends_with("-file")) {
      // The secret a *-file flag stands in for (--token-file: SKYPORT_TOKEN). The file and the
      // secret are one setting: the daemon's own secret variable (SKYPORT_HUB_TOKEN) gives it.
      const std::string secret = name.substr(0, name.size() - 5);
      if (env(EnvName(program, secret))) continue;
      check(secret);
    }
    check(name);
  }
  return names;
}

}  // namespace

void EnableEnvAndConfig(CLI::App& app, const std::string& program, const std::string& default_config,
                        std::vector<std::string>* not_read, EnvLookup env) {
  std::string config = default_config;
  const std::string config_env = EnvName(program, "CONFIG");
  if (auto from_env = env(config_env)) config = *from_env;
  app.set_config("--config", config, "Config file (TOML key = value; env " + config_env + ")");
  app.set_version_flag("--version", VersionLine(program), "Print the version, commit and build day, and exit");
  app.config_formatter(std::make_shared<EnvFirstConfig>(env, program));
  app.allow_config_extras(false);
  app.preparse_callback([&app, program](size_t) { AddEnvNames(app, program); });
  if (not_read != nullptr && !program.empty())
    app.parse_complete_callback(
        [&app, program, not_read, env, config] { *not_read = CliVariablesNotRead(app, program, env, config); });
}

void AddCommonDaemonFlags(CLI::App& app, CommonDaemonFlags& f, bool serves, const std::string& program) {
  app.add_option("--token-file", f.token_file,
                 "File holding the cluster token (else env " + EnvName(program, "TOKEN") + ")");
  if (serves) {
    app.add_option("--tls-cert", f.tls.cert, "PEM certificate: serve gRPC over TLS");
    app.add_option("--tls-key", f.tls.key, "PEM private key for --tls-cert");
    app.add_option("--tls-ca", f.tls.ca, "PEM CA: require client certificates signed by it");
  } else {
    app.add_option("--tls-ca", f.tls.ca, "PEM roots: talk TLS and verify the servers");
    app.add_option("--tls-cert", f.tls.cert, "PEM client certificate (mTLS)");
    app.add_option("--tls-key", f.tls.key, "PEM client key (mTLS)");
  }
  app.add_option("--log-level", f.log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", f.log_format, "text|json")->capture_default_str();
}

void AddAdminFlags(CLI::App& app, AdminFlags& f, const std::string& program) {
  f.metrics_token_env = EnvName(program, "METRICS_TOKEN");
  app.add_option("--metrics-token-file", f.metrics_token_file,
                 "File with a bearer token that /metrics then requires (else env " + f.metrics_token_env +
                     "; unset: /metrics is open, which is meant for a loopback listener)");
  app.add_option("--admin-max-connections", f.max_connections,
                 "Admin/metrics connections served at once (the oldest idle one is shed beyond it)")
      ->capture_default_str();
  app.add_option("--admin-read-timeout-ms", f.read_timeout_ms,
                 "Time an admin/metrics client has to send its request head")
      ->capture_default_str();
}

void AddEtcdFlags(CLI::App& app, EtcdFlags& f, const std::string& program) {
  f.password_env = EnvName(program, "ETCD_PASSWORD");
  app.add_option("--etcd-endpoints", f.endpoints,
                 "etcd members' client URLs, comma-separated (http://h:p, https://h:p or h:p); "
                 "the client fails over between them");
  app.add_option("--etcd-cacert", f.cacert, "PEM CA that signed the etcd members' certificates (TLS)");
  app.add_option("--etcd-cert", f.cert, "PEM client certificate for etcd (mTLS; with --etcd-key)");
  app.add_option("--etcd-key", f.key, "PEM private key of --etcd-cert");
  app.add_option("--etcd-user", f.user, "etcd user (etcd auth; the password from --etcd-password-file)");
  app.add_option("--etcd-password-file", f.password_file,
                 "File holding the etcd user's password (else env " + f.password_env +
                     "; never on the command line, where /proc shows it)");
  app.add_option("--etcd-dial-timeout", f.dial_timeout, "Time to connect to one etcd member (500ms, 2s, 1m)")
      ->capture_default_str();
  app.add_option("--etcd-request-timeout", f.request_timeout,
                 "Deadline of one etcd request, retries included (500ms, 5s, 1m)")
      ->capture_default_str();
  app.add_option("--etcd-prefix", f.prefix, "Key prefix of Skyport's data in etcd (starts with '/')")
      ->capture_default_str();
}

bool ParseOrExit(CLI::App& app, int argc, char** argv, int& exit_code) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    if (exit_code != 0) exit_code = 2;
    return false;
  }
  return true;
}

}  // namespace skyport
