// libFuzzer target: address lists (core/address_list.h ParseAddressList,
// ValidateAddress) — operators' --registry/--hub values and, through
// ValidateAddress, the leader a standby hub names in its trailing metadata
// (rpc/leader.h) — and the order a client tries them in
// (core/address_order.h). Properties:
//   - a list that parses has 1..kMaxAddresses addresses, each valid on its
//     own, none twice, none with a comma or a space; joined again it parses
//     to the same list;
//   - whatever answers and failures come (the bytes after the first '\n'
//     pick them), Order() names every known address exactly once, the
//     listed ones always, at most kMaxLearnt more.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/address_list.h"
#include "core/address_order.h"
#include "fuzz/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nl = all.find('\n');
  const std::string_view text = all.substr(0, nl);
  const std::string_view events = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);

  (void)skyport::ValidateAddress("leader", text);
  auto list = skyport::ParseAddressList("--hub", text);
  if (!list.ok()) {
    CHECK(list.status().code() == skyport::Code::kInvalidArgument && !list.status().message().empty());
    return 0;
  }
  CHECK(!list->empty() && list->size() <= skyport::kMaxAddresses);
  for (const std::string& a : *list) {
    CHECK(skyport::ValidateAddress("x", a).ok());
    CHECK(a.find(',') == std::string::npos && a.find(' ') == std::string::npos);
    CHECK(std::count(list->begin(), list->end(), a) == 1);
  }
  auto again = skyport::ParseAddressList("--hub", skyport::JoinAddresses(*list));
  CHECK(again.ok() && *again == *list);

  skyport::AddressOrder order(*list);
  int64_t now = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto b = static_cast<uint8_t>(events[i]);
    now += b >> 4;
    // Low bits: which address (a few beyond the list: learnt ones), bit 3: answer or failure.
    const size_t pick = b & 7;
    const std::string address = pick < list->size() ? (*list)[pick] : "learnt-" + std::to_string(pick) + ":1";
    if (b & 8) order.Answered(address, now);
    else order.Failed(address, now);
    auto seen = order.Order(now);
    CHECK(seen.size() == order.size());
    CHECK(order.size() <= list->size() + skyport::AddressOrder::kMaxLearnt);
    for (const std::string& a : *list) CHECK(std::count(seen.begin(), seen.end(), a) == 1);
    std::sort(seen.begin(), seen.end());
    CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  }
  return 0;
}
