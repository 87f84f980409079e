#include "hub/git/receive_pack.h"

#include <fmt/format.h>

#include "core/names.h"
#include "hub/git/pktline.h"

namespace skyport::hub {
namespace {

bool IsId(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string_view StripNewline(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

std::set<std::string> SplitCaps(std::string_view s) {
  std::set<std::string> caps;
  while (!s.empty()) {
    size_t sp = s.find(' ');
    std::string_view word = s.substr(0, sp);
    if (!word.empty()) caps.emplace(word);
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
  }
  return caps;
}

// Splits `data` into side-band packets on `band`, each at most the 64k limit.
void AppendBand(std::string& out, char band, std::string_view data) {
  constexpr size_t kChunk = pkt::kMaxPayload - 1;  // one byte goes to the band number
  while (!data.empty()) {
    size_t n = std::min(kChunk, data.size());
    std::string payload(1, band);
    payload.append(data.substr(0, n));
    out += pkt::EncodeShort(payload);
    data.remove_prefix(n);
  }
}

}  // namespace

std::string BuildAdvertisement(const std::vector<std::pair<std::string, std::string>>& refs) {
  std::string out = pkt::EncodeShort("# service=git-receive-pack\n") + pkt::Flush();
  if (refs.empty()) {
    out += pkt::EncodeShort(fmt::format("{} capabilities^{{}}{}{}\n", kZeroId, '\0', kReceivePackCaps));
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    std::string line = refs[i].first + " " + refs[i].second;
    if (i == 0) {
      line.push_back('\0');
      line.append(kReceivePackCaps);
    }
    line.push_back('\n');
    out += pkt::EncodeShort(line);
  }
  return out + pkt::Flush();
}

Result<PushCommands> ParseCommands(const std::vector<std::string>& payloads) {
  PushCommands out;
  std::set<std::string> seen;
  bool first = true;
  for (size_t i = 0; i < payloads.size(); ++i) {
    std::string_view line = StripNewline(payloads[i]);
    auto bad = [&](std::string_view why) {
      return Status::InvalidArgument(fmt::format("command {}: {}", i, why));
    };
    if (line.substr(0, 8) == "shallow ") continue;  // a shallow client's boundary: nothing to do for a push
    if (first) {
      size_t nul = line.find('\0');
      if (nul != std::string_view::npos) {
        out.caps = SplitCaps(line.substr(nul + 1));
        line = line.substr(0, nul);
      }
      first = false;
    } else if (line.find('\0') != std::string_view::npos) {
      return bad("capabilities after the first command");
    }
    // "<old> <new> <ref>": two ids of 40 and a non-empty ref.
    if (line.size() < 83 || line[40] != ' ' || line[81] != ' ') return bad("expected '<old-id> <new-id> <ref>'");
    PushCommand c{std::string(line.substr(0, 40)), std::string(line.substr(41, 40)), std::string(line.substr(82))};
    if (!IsId(c.old_id) || !IsId(c.new_id)) return bad("ids must be 40 lowercase hex digits");
    if (c.old_id == kZeroId && c.new_id == kZeroId) return bad("old and new ids are both zero");
    if (c.ref.rfind("refs/", 0) != 0) return bad(fmt::format("ref \"{}\" is not under refs/", c.ref));
    for (char ch : c.ref) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f || ch == ' ') return bad("ref has a control character or space");
    }
    if (!seen.insert(c.ref).second) return bad(fmt::format("ref \"{}\" named twice", c.ref));
    out.commands.push_back(std::move(c));
  }
  return out;
}

std::string ProgressBand(std::string_view line) {
  std::string out;
  AppendBand(out, '\2', std::string(line) + "\n");
  return out;
}

std::string BuildReport(const PushCommands& request, const std::string& unpack,
                        const std::vector<RefUpdate>& updates, const std::vector<std::string>& messages) {
  if (!request.Has("report-status")) return {};
  std::string report = pkt::EncodeShort("unpack " + unpack + "\n");
  for (const RefUpdate& u : updates) {
    report += pkt::EncodeShort(u.ok ? "ok " + u.ref + "\n" : "ng " + u.ref + " " + u.error + "\n");
  }
  report += pkt::Flush();
  if (!request.Has("side-band-64k")) return report;

  std::string out;
  // "quiet" silences progress only; these are hints the user should see.
  for (const std::string& m : messages) AppendBand(out, '\2', m + "\n");
  AppendBand(out, '\1', report);
  return out + pkt::Flush();
}

}  // namespace skyport::hub
