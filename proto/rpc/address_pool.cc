#include "rpc/address_pool.h"

#include <algorithm>

#include "core/address_list.h"
#include "core/clock.h"
#include "core/log.h"

namespace skyport::rpc {

Result<std::shared_ptr<AddressPool>> AddressPool::Create(std::string service, const std::string& addresses,
                                                         TlsFiles tls) {
  auto list = ParseAddressList(service, addresses);
  if (!list.ok()) return list.status();
  return std::shared_ptr<AddressPool>(new AddressPool(std::move(service), std::move(*list), std::move(tls)));
}

AddressPool::AddressPool(std::string service, std::vector<std::string> addresses, TlsFiles tls)
    : service_(std::move(service)),
      listed_text_(JoinAddresses(addresses)),
      listed_count_(addresses.size()),
      tls_(std::move(tls)),
      order_(std::move(addresses)) {}

std::vector<std::string> AddressPool::Order() const {
  std::lock_guard lock(mu_);
  return order_.Order(MonoNowMs());
}

Result<std::shared_ptr<grpc::Channel>> AddressPool::Channel(const std::string& address) {
  std::lock_guard lock(mu_);
  if (auto it = channels_.find(address); it != channels_.end()) return it->second;
  auto ch = Dial(address, tls_);
  if (!ch.ok()) return ch.status();
  // Learnt addresses come and go (AddressOrder keeps a few): so do their
  // channels, and the map stays as small as the order.
  auto known = order_.Order(MonoNowMs());
  for (auto it = channels_.begin(); it != channels_.end();)
    it = std::find(known.begin(), known.end(), it->first) == known.end() ? channels_.erase(it) : std::next(it);
  channels_[address] = *ch;
  return *ch;
}

void AddressPool::Answered(const std::string& address) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = order_.last() != address;
    order_.Answered(address, MonoNowMs());
  }
  // Only with a list: with one address there is nothing to tell apart.
  if (changed && (listed_count_ > 1 || address != listed_text_))
    log::Info("connected to " + service_, {{"address", address}, {"listed", listed_text_}});
}

void AddressPool::Failed(const std::string& address) {
  std::lock_guard lock(mu_);
  order_.Failed(address, MonoNowMs());
}

std::string AddressPool::current() const {
  std::lock_guard lock(mu_);
  return order_.last();
}

}  // namespace skyport::rpc
