#include "router/flight_match.h"

#include <algorithm>

namespace skyport::router {
namespace {

char Fold(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  return c == '_' ? '-' : c;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool Digit(char c) { return c >= '0' && c <= '9'; }

// [A-Za-z]{1,8}([-_][A-Za-z0-9]{1,8})*
bool LooksLikeTag(std::string_view t) {
  size_t run = 0;
  bool first = true;
  for (char c : t) {
    if (c == '-' || c == '_') {
      if (run == 0) return false;
      run = 0;
      first = false;
      continue;
    }
    if (!(Alpha(c) || (!first && Digit(c))) || ++run > 8) return false;
  }
  return run > 0;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
std::optional<int> ParseQ(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return std::nullopt;
  int q = (v[0] - '0') * 1000;
  if (v.size() == 1) return q;
  if (v[1] != '.' || v.size() > 5) return std::nullopt;
  int scale = 100;
  for (char c : v.substr(2)) {
    if (!Digit(c)) return std::nullopt;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return q <= 1000 ? std::optional<int>(q) : std::nullopt;
}

// The q of an item's parameters (after the tag's ';'); 1000 without one.
std::optional<int> QOf(std::string_view params) {
  int q = 1000;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = Trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      auto parsed = ParseQ(Trim(p.substr(2)));
      if (!parsed) return std::nullopt;
      q = *parsed;
    }
  }
  return q;
}

int OsIndex(std::string_view name) {
  for (size_t i = 0; i < std::size(kOsNames); ++i)
    if (kOsNames[i] == name) return static_cast<int>(i);
  return -1;
}

}  // namespace

std::string_view OsFromUserAgent(std::string_view ua) {
  auto has = [ua](std::string_view s) { return ua.find(s) != std::string_view::npos; };
  if (has("Android")) return "android";
  if (has("iPhone") || has("iPad") || has("iPod")) return "ios";
  if (has("CrOS")) return "chromeos";
  if (has("Windows")) return "windows";
  if (has("Macintosh") || has("Mac OS X")) return "mac";
  if (has("Linux")) return "linux";
  return "";
}

std::string PreferredLocale(std::string_view accept_language) {
  std::string_view best;
  int best_q = 0;
  std::string_view rest = accept_language;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view tag = Trim(item.substr(0, semi));
    auto q = semi == std::string_view::npos ? std::optional<int>(1000) : QOf(item.substr(semi + 1));
    if (!q || *q == 0 || !LooksLikeTag(tag)) continue;  // "*" is no tag
    if (*q > best_q) {
      best = tag;
      best_q = *q;
    }
  }
  std::string out(best);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

bool LocaleMatches(std::string_view filter_tag, std::string_view tag) {
  if (filter_tag.empty() || tag.size() < filter_tag.size()) return false;
  for (size_t i = 0; i < filter_tag.size(); ++i)
    if (Fold(filter_tag[i]) != Fold(tag[i])) return false;
  return tag.size() == filter_tag.size() || Fold(tag[filter_tag.size()]) == '-';
}

bool InRange(std::string_view key, std::string_view flight_id, uint32_t ge, uint32_t lt) {
  if (key.empty()) return false;
  std::string salt(flight_id);
  salt += ".enroll";
  const uint32_t pos = UserPosition(key, salt);
  return pos >= ge && pos < lt;
}

std::optional<std::string_view> RequestView::Header(std::string_view name) const {
  for (int i = 0; i < head_.header_count; ++i)
    if (http1::EqualsIgnoreCase(head_.headers[i].name, name)) return head_.headers[i].value;
  return std::nullopt;
}

std::string_view RequestView::channel() const {
  std::string_view c = Cookie("skyport_channel");
  return c.empty() ? Header("x-skyport-channel").value_or("") : c;
}

FlightMatcher::FlightMatcher(const v1::FlightFilter& filter) : filter_(filter) {
  channels_.assign(filter.channels().begin(), filter.channels().end());
  by_os_ = filter.oses_size() > 0;
  for (const std::string& os : filter.oses())
    if (int i = OsIndex(os); i >= 0) os_mask_ |= 1u << i;
  for (const std::string& l : filter.locales()) locales_.push_back(l);
  for (const auto& [name, value] : filter.headers()) headers_.emplace_back(name, value);
  std::sort(headers_.begin(), headers_.end());  // a stable order: the proto map has none
  everyone_ = channels_.empty() && !by_os_ && locales_.empty() && headers_.empty();
}

bool FlightMatcher::Matches(const RequestView& r) const {
  if (everyone_) return true;
  if (!channels_.empty()) {
    std::string_view ch = r.channel();
    if (ch.empty() || std::none_of(channels_.begin(), channels_.end(),
                                   [ch](const std::string& c) { return http1::EqualsIgnoreCase(c, ch); }))
      return false;
  }
  for (const auto& [name, value] : headers_) {
    auto v = r.Header(name);
    if (!v || *v != value) return false;
  }
  if (by_os_) {
    const int i = OsIndex(OsFromUserAgent(r.user_agent()));
    if (i < 0 || !(os_mask_ & (1u << i))) return false;
  }
  if (!locales_.empty()) {  // last: the only check that allocates
    const std::string tag = PreferredLocale(r.accept_language());
    if (tag.empty() || std::none_of(locales_.begin(), locales_.end(),
                                    [&tag](const std::string& f) { return LocaleMatches(f, tag); }))
      return false;
  }
  return true;
}

std::string_view Flight::RangeKeyOf(const RequestView& r, std::string_view user_id) const {
  if (range_key.empty()) return user_id;
  std::string_view c = r.Cookie(range_key);
  return c.empty() ? r.Header(range_key).value_or("") : c;
}

bool Flight::Enrolls(const RequestView& r, std::string_view user_id) const {
  std::string_view key = RangeKeyOf(r, user_id);
  if (key.empty()) return false;
  const uint32_t pos = UserPosition(key, enroll_salt);
  return pos >= range_ge && pos < range_lt && matcher.Matches(r);
}

Flight CompileFlight(const v1::FlightRoute& f, int control_arm) {
  Flight out;
  out.name = f.name();
  out.id = f.id();
  out.enroll_salt = f.id() + ".enroll";
  out.control_arm = control_arm;
  out.matcher = FlightMatcher(f.filter());
  out.range_key = f.range_key() == "uid" ? std::string() : f.range_key();
  out.range_ge = f.range_ge();
  out.range_lt = f.range_lt();
  out.end_by_unix_ms = f.end_by_unix_ms();
  return out;
}

}  // namespace skyport::router
