// libFuzzer target: the receive-pack command list (hub/git/receive_pack.h
// ParseCommands), fed as the hub gets it: pkt-lines up to the first flush.
// Accepted commands must hold what push_apply relies on (40-hex ids, refs
// under refs/, no ref twice), and building the report must not fail.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "hub/git/pktline.h"
#include "hub/git/receive_pack.h"

using namespace skyport::hub;

namespace {

bool Hex40(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pkt::Decoder d;
  d.Feed(std::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<std::string> payloads;
  for (;;) {
    auto next = d.Next();
    if (!next.ok() || !next->has_value() || (*next)->flush) break;
    payloads.push_back(std::move((*next)->payload));
  }
  auto parsed = ParseCommands(payloads);
  if (!parsed.ok()) return 0;
  std::set<std::string> refs;
  std::vector<RefUpdate> updates;
  for (const PushCommand& c : parsed->commands) {
    CHECK(Hex40(c.old_id) && Hex40(c.new_id) && !(c.old_id == kZeroId && c.new_id == kZeroId));
    CHECK(c.ref.starts_with("refs/") && refs.insert(c.ref).second);
    updates.push_back(RefUpdate{c.ref, c.old_id, c.new_id, updates.size() % 2 == 0, "fuzz"});
  }
  std::string report = BuildReport(*parsed, "ok", updates, {"a message"});
  CHECK(parsed->Has("report-status") || report.empty());
  return 0;
}
