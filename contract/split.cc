#include "contract/split.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/hash.h"

namespace skyport::router {
namespace {

// Largest-remainder sizes of `weights` summing to exactly kSliceUnits (all 0
// when every weight is 0). Ties in the remainder go to the earlier entry.
std::vector<uint32_t> Apportion(const std::vector<std::pair<std::string, uint32_t>>& weights) {
  std::vector<uint32_t> sizes(weights.size(), 0);
  uint64_t total = 0;
  for (const auto& [commit, w] : weights) total += w;
  if (total == 0) return sizes;
  std::vector<std::pair<uint64_t, size_t>> remainders;  // (remainder, index)
  uint64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    uint64_t exact = uint64_t{weights[i].second} * kSliceUnits;
    sizes[i] = static_cast<uint32_t>(exact / total);
    given += sizes[i];
    if (weights[i].second > 0) remainders.emplace_back(exact % total, i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < kSliceUnits; ++k, ++given) ++sizes[remainders[k % remainders.size()].second];
  return sizes;
}

// Sorts by `ge`, drops empty slices and merges adjacent slices of one commit.
std::vector<Slice> Normalize(std::vector<Slice> slices) {
  std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.ge < b.ge; });
  std::vector<Slice> out;
  for (Slice& s : slices) {
    if (s.ge >= s.lt) continue;
    if (!out.empty() && out.back().commit == s.commit && out.back().lt == s.ge)
      out.back().lt = s.lt;
    else
      out.push_back(std::move(s));
  }
  return out;
}



bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::vector<Slice> LayoutFresh(const std::vector<std::pair<std::string, uint32_t>>& weights) {
  std::vector<uint32_t> sizes = Apportion(weights);
  std::vector<Slice> out;
  uint32_t at = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (sizes[i] == 0) continue;
    out.push_back({weights[i].first, at, at + sizes[i]});
    at += sizes[i];
  }
  return Normalize(std::move(out));
}

Result<std::vector<Slice>> Rebalance(const std::vector<Slice>& old, const std::map<std::string, uint32_t>& weights) {
  if (Status s = ValidateLayout(old); !s.ok()) return Status::InvalidArgument("old layout: " + s.message());
  const std::vector<std::pair<std::string, uint32_t>> ordered(weights.begin(), weights.end());
  if (old.empty()) return LayoutFresh(ordered);

  std::map<std::string, uint32_t> target;
  {
    std::vector<uint32_t> sizes = Apportion(ordered);
    for (size_t i = 0; i < ordered.size(); ++i) target[ordered[i].first] = sizes[i];
  }
  const bool all_zero = std::all_of(ordered.begin(), ordered.end(), [](const auto& w) { return w.second == 0; });
  if (all_zero) return std::vector<Slice>{};

  // Shrinking arms give up their highest positions: walk each arm's slices
  // from the top, cutting until it is down to its target.
  std::map<std::string, uint32_t> current = LayoutShares(old);
  std::vector<Slice> kept;
  std::vector<Slice> freed;  // commit unused
  std::map<std::string, uint32_t> excess;
  for (const auto& [commit, have] : current) {
    auto it = target.find(commit);
    uint32_t want = it == target.end() ? 0 : it->second;
    if (have > want) excess[commit] = have - want;
  }
  for (auto s = old.rbegin(); s != old.rend(); ++s) {
    uint32_t& cut = excess[s->commit];
    uint32_t size = s->lt - s->ge;
    uint32_t take = std::min(cut, size);
    cut -= take;
    if (take < size) kept.push_back({s->commit, s->ge, s->lt - take});
    if (take > 0) freed.push_back({"", s->lt - take, s->lt});
  }
  std::sort(freed.begin(), freed.end(), [](const Slice& a, const Slice& b) { return a.ge < b.ge; });

  // Growing arms, in commit order, fill the freed ranges from the bottom.
  size_t f = 0;
  for (const auto& [commit, want] : target) {
    uint32_t have = current.count(commit) ? current[commit] : 0;
    uint32_t need = want > have ? want - have : 0;
    while (need > 0 && f < freed.size()) {
      Slice& range = freed[f];
      uint32_t take = std::min(need, range.lt - range.ge);
      kept.push_back({commit, range.ge, range.ge + take});
      range.ge += take;
      need -= take;
      if (range.ge == range.lt) ++f;
    }
  }
  return Normalize(std::move(kept));
}

Status ValidateLayout(const std::vector<Slice>& slices) {
  uint32_t at = 0;
  for (size_t i = 0; i < slices.size(); ++i) {
    const Slice& s = slices[i];
    if (s.commit.empty()) return Status::InvalidArgument(fmt::format("slices[{}]: commit is empty", i));
    if (s.ge != at)
      return Status::InvalidArgument(i == 0 ? fmt::format("slices[0]: starts at {}, expected 0", s.ge)
                                            : fmt::format("slices[{}]: starts at {}, expected {} (where "
                                                          "slices[{}] ends)",
                                                          i, s.ge, at, i - 1));
    if (s.lt <= s.ge || s.lt > kSliceUnits)
      return Status::InvalidArgument(fmt::format("slices[{}]: [{}, {}) is empty or goes past {}", i, s.ge, s.lt,
                                                 kSliceUnits));
    at = s.lt;
  }
  if (!slices.empty() && at != kSliceUnits)
    return Status::InvalidArgument(fmt::format("slices: end at {}, expected {}", at, kSliceUnits));
  return Status::Ok();
}

std::map<std::string, uint32_t> LayoutShares(const std::vector<Slice>& slices) {
  std::map<std::string, uint32_t> out;
  for (const Slice& s : slices)
    if (s.lt > s.ge) out[s.commit] += s.lt - s.ge;
  return out;
}

double MovedFraction(const std::vector<Slice>& old_layout, const std::vector<Slice>& new_layout) {
  // Sweep both layouts' boundaries; a position owned by nobody in one layout
  // and somebody in the other counts as moved.
  static const std::string kNobody;
  auto owner = [](const std::vector<Slice>& layout, size_t& i, uint32_t pos) -> const std::string& {
    while (i < layout.size() && layout[i].lt <= pos) ++i;
    return i < layout.size() && layout[i].ge <= pos ? layout[i].commit : kNobody;
  };
  auto next_edge = [](const std::vector<Slice>& layout, size_t i, uint32_t pos) {
    if (i >= layout.size()) return kSliceUnits;
    return layout[i].ge > pos ? layout[i].ge : layout[i].lt;
  };
  uint64_t moved = 0;
  size_t i = 0, j = 0;
  for (uint32_t pos = 0; pos < kSliceUnits;) {
    const std::string& a = owner(old_layout, i, pos);
    const std::string& b = owner(new_layout, j, pos);
    uint32_t end = std::min({next_edge(old_layout, i, pos), next_edge(new_layout, j, pos), kSliceUnits});
    if (end <= pos) end = pos + 1;  // malformed input: never loop forever
    if (a != b) moved += end - pos;
    pos = end;
  }
  return static_cast<double>(moved) / kSliceUnits;
}

uint32_t UserPosition(std::string_view user_id, std::string_view split_id) {
  uint64_t h = Fnv1a(split_id);
  h = Fnv1a(std::string_view("\x1f", 1), h);
  h = Fnv1a(user_id, h);
  h = Fmix64(h);
  return static_cast<uint32_t>((static_cast<unsigned __int128>(h) * kSliceUnits) >> 64);
}

bool ValidUserId(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), IsLowerHex);
}

bool ValidSplitId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  return true;
}

std::optional<UserCookie> ParseUserCookie(std::string_view value) {
  size_t dot = value.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  UserCookie c{value.substr(0, dot), value.substr(dot + 1)};
  if (!ValidUserId(c.user_id) || !ValidSplitId(c.split_id)) return std::nullopt;
  return c;
}

}  // namespace skyport::router
