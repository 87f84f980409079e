// libFuzzer target: verifying the router's signed `skyport` cookie
// (router/user_cookie.h CheckUserCookie). The first byte picks a mode:
//   bit 0 = 0: the rest is a cookie value as a client sends it;
//   bit 0 = 1: a cookie is minted with the key for a user id and split id
//              made from the input, then edited at positions the input picks.
// Bit 1 opens the legacy migration window. Whatever the value, a cookie is
// accepted as signed only if it is exactly what the key (or the previous
// key) mints for the user id and split id it carries; a minted cookie
// verifies; an edited one is refused unless it is again such a cookie; a
// legacy value is accepted only while the window is open and only in the
// "<32 hex>.<split id>" form. Never a crash, whatever the bytes.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "contract/split.h"
#include "router/user_cookie.h"

namespace router = skyport::router;
using router::CookieVerdict;

namespace {

router::CookieKey& Current() {
  static router::CookieKey key(router::DeriveCookieSecret("fuzz-cluster-token"));
  return key;
}
router::CookieKey& Previous() {
  static router::CookieKey key("the secret before the rotation");
  return key;
}

void CheckVerdict(std::string_view value, bool legacy_ok, const router::CookieCheck& c) {
  switch (c.verdict) {
    case CookieVerdict::kSigned:
      CHECK(value == router::SignedCookie(Current(), c.user_id, c.split_id));
      break;
    case CookieVerdict::kSignedPrevious:
      CHECK(value == router::SignedCookie(Previous(), c.user_id, c.split_id));
      CHECK(value != router::SignedCookie(Current(), c.user_id, c.split_id));
      break;
    case CookieVerdict::kLegacy:
      CHECK(legacy_ok);
      CHECK(router::ValidUserId(c.user_id) && router::ValidSplitId(c.split_id));
      CHECK(value == std::string(c.user_id) + "." + std::string(c.split_id));
      break;
    case CookieVerdict::kUnsigned:
      CHECK(!legacy_ok);
      CHECK(value.substr(0, router::kCookieVersion.size()) != router::kCookieVersion);
      break;
    case CookieVerdict::kMalformed:
    case CookieVerdict::kBadSignature:
      CHECK(!router::CookieAccepted(c.verdict));
      break;
  }
  if (router::CookieAccepted(c.verdict)) {
    // The ids are views into the value.
    CHECK(c.user_id.data() >= value.data() && c.user_id.data() + c.user_id.size() <= value.data() + value.size());
    CHECK(c.split_id.data() >= value.data() && c.split_id.data() + c.split_id.size() <= value.data() + value.size());
  }
}

router::CookieCheck Check(std::string_view value, bool legacy_ok) {
  router::CookieCheck c = router::CheckUserCookie(value, Current(), &Previous(), legacy_ok);
  CheckVerdict(value, legacy_ok, c);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool mint = data[0] & 1;
  const bool legacy_ok = data[0] & 2;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!mint) {
    if (!in.empty()) Check(in, legacy_ok);
    return 0;
  }
  // A user id from the first 16 bytes, a split id from the next ones (mapped into its alphabet).
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr char kSplit[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  std::string user;
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t b = i < in.size() ? static_cast<uint8_t>(in[i]) : 0;
    user += kHex[b >> 4];
    user += kHex[b & 15];
  }
  in.remove_prefix(std::min<size_t>(16, in.size()));
  const size_t split_len = 1 + (in.empty() ? 0 : static_cast<uint8_t>(in[0]) % 64);
  if (!in.empty()) in.remove_prefix(1);
  std::string split;
  for (size_t i = 0; i < split_len; ++i) split += kSplit[(i < in.size() ? static_cast<uint8_t>(in[i]) : i) % 65];
  in.remove_prefix(std::min(split_len, in.size()));
  const bool previous = !in.empty() && (in[0] & 1);
  const std::string minted = router::SignedCookie(previous ? Previous() : Current(), user, split);

  router::CookieCheck c = Check(minted, legacy_ok);
  CHECK(c.verdict == (previous ? CookieVerdict::kSignedPrevious : CookieVerdict::kSigned));
  CHECK(c.user_id == user && c.split_id == split);

  // Edits, two input bytes each: a position, then what to do there.
  std::string edited = minted;
  for (size_t i = 1; i + 1 < in.size() && i < 17; i += 2) {
    const size_t at = static_cast<uint8_t>(in[i]) % (edited.size() + 1);
    const uint8_t op = static_cast<uint8_t>(in[i + 1]);
    switch (op & 3) {
      case 0: if (at < edited.size()) edited[at] = static_cast<char>(op); break;        // replace
      case 1: edited.insert(at, 1, static_cast<char>(op >> 2)); break;                  // insert
      case 2: if (at < edited.size()) edited.erase(at, 1); break;                       // delete
      case 3: if (at < edited.size()) edited[at] = static_cast<char>(edited[at] ^ (1 << (op >> 5))); break;  // flip
    }
  }
  if (edited.empty()) return 0;
  c = Check(edited, legacy_ok);
  if (edited == minted) CHECK(c.verdict == (previous ? CookieVerdict::kSignedPrevious : CookieVerdict::kSigned));
  // Otherwise CheckVerdict has already required an accepted signed value to be a minted one.
  return 0;
}
