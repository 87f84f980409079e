// The addresses of one replicated service (`--registry a:1,b:2`, `--hub …`)
// as a client holds them: the order to try them (core/address_order.h), one
// channel per address (dialled once, reused), and the address in use, logged
// when it changes. Thread-safe; shared by every caller of the service in a
// process (a drone's lease keeper and its allocations agree on which registry
// answers).
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/address_order.h"
#include "core/status.h"
#include "rpc/channel.h"

namespace skyport::rpc {

class AddressPool {
 public:
  // `service` names the peers in logs and errors ("registry", "hub");
  // `addresses` as ParseAddressList returns them (checked again here).
  static Result<std::shared_ptr<AddressPool>> Create(std::string service, const std::string& addresses,
                                                     TlsFiles tls);

  // Every known address once, the best first (AddressOrder::Order, now).
  std::vector<std::string> Order() const;
  // The channel to `address` (dialled on first use; one per address).
  Result<std::shared_ptr<grpc::Channel>> Channel(const std::string& address);
  // `address` answered: it goes first. Logs "connected to" when it was not
  // the one that answered last.
  void Answered(const std::string& address);
  // `address` failed or refused (a standby): it moves back for a while.
  void Failed(const std::string& address);

  const std::string& service() const { return service_; }
  // The list as given ("a:1,b:2").
  const std::string& listed() const { return listed_text_; }
  size_t listed_count() const { return listed_count_; }
  // The address that answered last ("" before any).
  std::string current() const;

 private:
  AddressPool(std::string service, std::vector<std::string> addresses, TlsFiles tls);

  const std::string service_;
  const std::string listed_text_;
  const size_t listed_count_;
  const TlsFiles tls_;
  mutable std::mutex mu_;
  AddressOrder order_;                                                // guarded by mu_
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;   // guarded by mu_; only known addresses
};

}  // namespace skyport::rpc
