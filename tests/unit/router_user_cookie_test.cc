#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>

#include "contract/split.h"
#include "router/user_cookie.h"

namespace skyport::router {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", p[i]);
  return s;
}

const std::string kUser = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("CookieKey is HMAC-SHA256 (RFC 4231 vectors)", "[router][cookie]") {
  unsigned char mac[32];
  // Test case 1: a short key.
  CookieKey k1(std::string(20, '\x0b'));
  k1.Hmac({"Hi ", "There"}, mac);  // parts are concatenated
  CHECK(Hex(mac, 32) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: the key "Jefe".
  CookieKey k2("Jefe");
  k2.Hmac({"what do ya want for nothing?"}, mac);
  CHECK(Hex(mac, 32) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than a block is hashed first.
  CookieKey k6(std::string(131, '\xaa'));
  k6.Hmac({"Test Using Larger Than Block-Size Key - Hash Key First"}, mac);
  CHECK(Hex(mac, 32) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // The precomputed state is reused: the same MAC again.
  k1.Hmac({"Hi There"}, mac);
  CHECK(Hex(mac, 32) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST_CASE("DeriveCookieSecret: HKDF-Extract of the token, frozen", "[router][cookie]") {
  std::string s = DeriveCookieSecret("cluster-token-1");
  REQUIRE(s.size() == 32);
  CHECK(Hex(reinterpret_cast<const unsigned char*>(s.data()), 32) ==
        "a2971777259e3e474d1b61e768317d7f8e643f89c613e662b470e661174a13aa");
  CHECK(DeriveCookieSecret("cluster-token-2") != s);
}

TEST_CASE("Signed cookies: golden values", "[router][cookie]") {
  CookieKey key(std::string(32, 'k'));
  CHECK(SignedCookie(key, kUser, "s1") == "v1.0123456789abcdef0123456789abcdef.BOTZ7qFU9JtDl8kZ.s1");
  CHECK(SignedCookie(key, kUser, "default") == "v1.0123456789abcdef0123456789abcdef.q4mwpLJsZNvoJivT.default");
  CHECK(SignedCookie(key, kUser, "my.split-2_x") ==
        "v1.0123456789abcdef0123456789abcdef.Fwd-c9EuJEsRfjtk.my.split-2_x");
  CookieKey derived(DeriveCookieSecret("cluster-token-1"));
  CHECK(SignedCookie(derived, kUser, "s1") == "v1.0123456789abcdef0123456789abcdef.-EmgUbZ00rqQ-cvl.s1");
  std::string appended = "skyport=";
  AppendSignedCookie(appended, key, kUser, "s1");
  CHECK(appended == "skyport=v1.0123456789abcdef0123456789abcdef.BOTZ7qFU9JtDl8kZ.s1");
}

TEST_CASE("CheckUserCookie: signed, rotated, tampered, forged", "[router][cookie]") {
  CookieKey key(std::string(32, 'k'));
  CookieKey old_key(std::string(32, 'o'));
  const std::string good = SignedCookie(key, kUser, "my.split");

  CookieCheck c = CheckUserCookie(good, key, nullptr, false);
  CHECK(c.verdict == CookieVerdict::kSigned);
  CHECK(c.user_id == kUser);
  CHECK(c.split_id == "my.split");

  // Signed with the previous secret: valid during a rotation, not after.
  const std::string rotated = SignedCookie(old_key, kUser, "s1");
  c = CheckUserCookie(rotated, key, &old_key, false);
  CHECK(c.verdict == CookieVerdict::kSignedPrevious);
  CHECK(c.user_id == kUser);
  CHECK(CheckUserCookie(rotated, key, nullptr, false).verdict == CookieVerdict::kBadSignature);
  // The previous secret never hides a current one.
  CHECK(CheckUserCookie(good, key, &old_key, false).verdict == CookieVerdict::kSigned);

  // Any change to the id, the split or the MAC breaks it; nothing of the value is kept.
  std::string other_id = good;
  other_id[3] = other_id[3] == '0' ? '1' : '0';
  std::string other_split = good + "x";
  std::string other_mac = good;
  other_mac[3 + 33] = other_mac[3 + 33] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {other_id, other_split, other_mac}) {
    c = CheckUserCookie(bad, key, &old_key, true);
    CHECK(c.verdict == CookieVerdict::kBadSignature);
    CHECK(c.user_id.empty());
    CHECK_FALSE(CookieAccepted(c.verdict));
  }
  // A client choosing its id cannot sign it: another key's MAC is refused.
  CookieKey attacker("guessed secret");
  CHECK(CheckUserCookie(SignedCookie(attacker, kUser, "s1"), key, &old_key, true).verdict ==
        CookieVerdict::kBadSignature);

  // Not the format at all.
  for (std::string_view bad : {"", "v1.", "v1.0123456789abcdef0123456789abcdef.BOTZ7qFU9JtDl8kZ.",
                               "v1.0123456789abcdef0123456789abcdeF.BOTZ7qFU9JtDl8kZ.s1",
                               "v1.0123456789abcdef0123456789abcdef.BOTZ7qFU9JtDl8k.s1",
                               "v1.0123456789abcdef0123456789abcdef_BOTZ7qFU9JtDl8kZ.s1",
                               "v1.0123456789abcdef0123456789abcdef.BOTZ7qFU9JtDl8kZ.s 1", "v2.x", "hello",
                               "0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef."}) {
    INFO(bad);
    CHECK(CheckUserCookie(bad, key, &old_key, true).verdict == CookieVerdict::kMalformed);
  }
}

TEST_CASE("CheckUserCookie: legacy unsigned cookies only inside the migration window", "[router][cookie]") {
  CookieKey key(std::string(32, 'k'));
  const std::string legacy = kUser + ".old.split";
  CookieCheck open = CheckUserCookie(legacy, key, nullptr, /*legacy_ok=*/true);
  CHECK(open.verdict == CookieVerdict::kLegacy);
  CHECK(CookieAccepted(open.verdict));
  CHECK(open.user_id == kUser);  // the id is kept: the user keeps their arm
  CHECK(open.split_id == "old.split");
  CookieCheck closed = CheckUserCookie(legacy, key, nullptr, /*legacy_ok=*/false);
  CHECK(closed.verdict == CookieVerdict::kUnsigned);
  CHECK(closed.user_id.empty());
  CHECK_FALSE(CookieAccepted(closed.verdict));
  // Re-issued, it verifies as signed with the same id and split.
  const std::string reissued = SignedCookie(key, open.user_id, open.split_id);
  CookieCheck again = CheckUserCookie(reissued, key, nullptr, false);  // views into `reissued`
  CHECK(again.verdict == CookieVerdict::kSigned);
  CHECK(again.user_id == kUser);
  CHECK(again.split_id == "old.split");
  // A legacy-looking value that is not one stays malformed in the window.
  CHECK(CheckUserCookie("0123456789ABCDEF0123456789abcdef.s1", key, nullptr, true).verdict ==
        CookieVerdict::kMalformed);
}

}  // namespace skyport::router
