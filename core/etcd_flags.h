// The --etcd-* flag values every daemon with an etcd store shares (core/flags.h
// AddEtcdFlags registers them; proto/rpc/etcd_options.h checks them and makes
// the client's options).
#pragma once

#include <string>

namespace skyport {

struct EtcdFlags {
  std::string endpoints;               // "URL,URL,..."
  std::string cacert, cert, key;       // PEM files
  std::string user, password_file;     // else env `password_env`
  std::string password_env = "SKYPORT_ETCD_PASSWORD";  // the daemon's own (AddEtcdFlags)
  std::string dial_timeout = "2s";     // "500ms", "2s", "1m" or milliseconds
  std::string request_timeout = "5s";
  std::string prefix = "/skyport/";
};

}  // namespace skyport
