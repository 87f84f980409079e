// Signed user cookies: the router's sticky `skyport` cookie, minted by
// routers and verified by every router of the cluster, so that a client
// cannot pick the user id (and with it the arm) it is served.
//
//   v1.<user id>.<mac>.<split id>
//
// - user id: 32 lowercase hex (128 random bits) — the input of UserPosition;
// - mac: the first 12 bytes (96 bits) of HMAC-SHA256(secret,
//   "v1." user id "." split id), base64url without padding (16 characters);
// - split id: [A-Za-z0-9._-]{1,64} (contract/split.h), last since it may hold
//   dots. It stays in the cookie: a cookie of another split id is a known
//   user who is dealt again (new_user logic).
// The "v1." prefix versions the format; 'v' never starts a legacy value.
//
// Legacy cookies (before signing) are "<user id>.<split id>"
// (ParseUserCookie): anyone can write one, so they are accepted only while
// an operator-set migration window is open (the caller decides: `legacy_ok`).
//
// The secret is the cluster's: --cookie-secret-file, or derived from the
// cluster token (DeriveCookieSecret), so every router of a cluster verifies
// every other's cookies. A previous secret may be given during a rotation:
// cookies it signed are accepted and re-issued under the current one.
//
// Pure apart from OpenSSL's SHA-256: no clock, no randomness.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace skyport::router {

inline constexpr size_t kCookieMacBytes = 12;  // 96 bits
inline constexpr size_t kCookieMacChars = 16;  // base64url of 12 bytes, no padding
inline constexpr std::string_view kCookieVersion = "v1.";

// HMAC-SHA256 with the key's inner and outer states computed once, so a MAC
// costs the hashing of the message (two or three SHA-256 blocks), not the
// key schedule. Not thread-safe (a scratch context is reused): one per thread.
class CookieKey {
 public:
  // Any length (HMAC hashes keys longer than 64 bytes first).
  explicit CookieKey(std::string_view secret);
  ~CookieKey();
  CookieKey(const CookieKey&) = delete;
  CookieKey& operator=(const CookieKey&) = delete;

  // The full 32-byte HMAC-SHA256 of the concatenation of the parts.
  void Hmac(std::initializer_list<std::string_view> parts, unsigned char out[32]);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// HKDF-Extract (RFC 5869) of the cluster token with the fixed salt
// "skyport/router-cookie-secret/v1": 32 bytes that every router of a cluster
// computes alike, and from which the token cannot be recovered.
std::string DeriveCookieSecret(std::string_view token);

// Appends the cookie value for (user_id, split_id) signed with `key` to `out`.
// user_id must be ValidUserId, split_id ValidSplitId.
void AppendSignedCookie(std::string& out, CookieKey& key, std::string_view user_id, std::string_view split_id);
std::string SignedCookie(CookieKey& key, std::string_view user_id, std::string_view split_id);

enum class CookieVerdict : uint8_t {
  kSigned,          // v1, MAC of the current secret
  kSignedPrevious,  // v1, MAC of the previous secret: valid, re-issue under the current one
  kLegacy,          // unsigned legacy value, accepted (window open): re-issue signed
  kMalformed,       // neither format (refused)
  kBadSignature,    // v1 whose MAC matches no secret: forged or tampered (refused)
  kUnsigned,        // legacy value while the window is closed (refused)
};

// A verdict that keeps the user id.
inline bool CookieAccepted(CookieVerdict v) {
  return v == CookieVerdict::kSigned || v == CookieVerdict::kSignedPrevious || v == CookieVerdict::kLegacy;
}

struct CookieCheck {
  CookieVerdict verdict = CookieVerdict::kMalformed;
  std::string_view user_id;   // views into the value; set when CookieAccepted(verdict)
  std::string_view split_id;
};

// Checks a cookie value (non-empty). MACs are compared in constant time.
// `previous` may be null. `legacy_ok`: the migration window is open.
CookieCheck CheckUserCookie(std::string_view value, CookieKey& current, CookieKey* previous, bool legacy_ok);

}  // namespace skyport::router
