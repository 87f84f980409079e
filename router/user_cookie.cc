#include "router/user_cookie.h"

#include <openssl/evp.h>

#include <cstring>

#include "core/token.h"
#include "contract/split.h"

namespace skyport::router {
namespace {

constexpr size_t kBlock = 64;  // SHA-256 block size
constexpr std::string_view kSecretSalt = "skyport/router-cookie-secret/v1";

void Sha256(std::string_view data, unsigned char out[32]) {
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, EVP_sha256(), nullptr);
}

// The MAC text of (user id, split id) under `key`: the first kCookieMacBytes
// of the HMAC in base64url without padding (a multiple of 3 bytes: no padding).
void MacText(CookieKey& key, std::string_view user_id, std::string_view split_id, char (&text)[kCookieMacChars]) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  static_assert(kCookieMacBytes % 3 == 0 && kCookieMacChars == kCookieMacBytes / 3 * 4);
  unsigned char mac[32];
  key.Hmac({kCookieVersion, user_id, ".", split_id}, mac);
  for (size_t i = 0, o = 0; i < kCookieMacBytes; i += 3) {
    uint32_t v = (uint32_t{mac[i]} << 16) | (uint32_t{mac[i + 1]} << 8) | mac[i + 2];
    text[o++] = kAlphabet[(v >> 18) & 63];
    text[o++] = kAlphabet[(v >> 12) & 63];
    text[o++] = kAlphabet[(v >> 6) & 63];
    text[o++] = kAlphabet[v & 63];
  }
}

}  // namespace

struct CookieKey::Ctx {
  EVP_MD_CTX* inner = EVP_MD_CTX_new();  // after absorbing key ^ ipad
  EVP_MD_CTX* outer = EVP_MD_CTX_new();  // after absorbing key ^ opad
  EVP_MD_CTX* work = EVP_MD_CTX_new();
  ~Ctx() {
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
    EVP_MD_CTX_free(work);
  }
};

CookieKey::CookieKey(std::string_view secret) : ctx_(std::make_unique<Ctx>()) {
  unsigned char key[kBlock] = {0};
  if (secret.size() > kBlock)
    Sha256(secret, key);
  else
    std::memcpy(key, secret.data(), secret.size());
  unsigned char ipad[kBlock], opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = key[i] ^ 0x36;
    opad[i] = key[i] ^ 0x5c;
  }
  EVP_DigestInit_ex(ctx_->inner, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx_->inner, ipad, kBlock);
  EVP_DigestInit_ex(ctx_->outer, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx_->outer, opad, kBlock);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
}

CookieKey::~CookieKey() = default;

void CookieKey::Hmac(std::initializer_list<std::string_view> parts, unsigned char out[32]) {
  unsigned char inner[32];
  unsigned int n = 0;
  EVP_MD_CTX_copy_ex(ctx_->work, ctx_->inner);
  for (std::string_view p : parts) EVP_DigestUpdate(ctx_->work, p.data(), p.size());
  EVP_DigestFinal_ex(ctx_->work, inner, &n);
  EVP_MD_CTX_copy_ex(ctx_->work, ctx_->outer);
  EVP_DigestUpdate(ctx_->work, inner, sizeof inner);
  EVP_DigestFinal_ex(ctx_->work, out, &n);
}

std::string DeriveCookieSecret(std::string_view token) {
  // HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM).
  CookieKey salt(kSecretSalt);
  unsigned char prk[32];
  salt.Hmac({token}, prk);
  std::string out(reinterpret_cast<const char*>(prk), sizeof prk);
  OPENSSL_cleanse(prk, sizeof prk);
  return out;
}

void AppendSignedCookie(std::string& out, CookieKey& key, std::string_view user_id, std::string_view split_id) {
  char mac[kCookieMacChars];
  MacText(key, user_id, split_id, mac);
  out.append(kCookieVersion).append(user_id).append(".").append(mac, kCookieMacChars).append(".").append(split_id);
}

std::string SignedCookie(CookieKey& key, std::string_view user_id, std::string_view split_id) {
  std::string out;
  AppendSignedCookie(out, key, user_id, split_id);
  return out;
}

CookieCheck CheckUserCookie(std::string_view value, CookieKey& current, CookieKey* previous, bool legacy_ok) {
  CookieCheck c;
  if (value.substr(0, kCookieVersion.size()) != kCookieVersion) {
    auto legacy = ParseUserCookie(value);
    if (!legacy) return c;  // kMalformed
    c.verdict = legacy_ok ? CookieVerdict::kLegacy : CookieVerdict::kUnsigned;
    if (legacy_ok) {
      c.user_id = legacy->user_id;
      c.split_id = legacy->split_id;
    }
    return c;
  }
  std::string_view rest = value.substr(kCookieVersion.size());
  constexpr size_t kIdLen = 32, kMacAt = kIdLen + 1, kSplitAt = kMacAt + kCookieMacChars + 1;
  if (rest.size() <= kSplitAt || rest[kIdLen] != '.' || rest[kSplitAt - 1] != '.') return c;
  std::string_view user_id = rest.substr(0, kIdLen);
  std::string_view mac = rest.substr(kMacAt, kCookieMacChars);
  std::string_view split_id = rest.substr(kSplitAt);
  if (!ValidUserId(user_id) || !ValidSplitId(split_id)) return c;
  // Base64url of 96 bits has no spare bits: each MAC has exactly one text,
  // so comparing texts compares MACs.
  char expected[kCookieMacChars];
  const std::string_view want(expected, kCookieMacChars);
  MacText(current, user_id, split_id, expected);
  if (ConstantTimeEquals(mac, want)) {
    c.verdict = CookieVerdict::kSigned;
  } else if (previous != nullptr && (MacText(*previous, user_id, split_id, expected), ConstantTimeEquals(mac, want))) {
    c.verdict = CookieVerdict::kSignedPrevious;
  } else {
    c.verdict = CookieVerdict::kBadSignature;
    return c;
  }
  c.user_id = user_id;
  c.split_id = split_id;
  return c;
}

}  // namespace skyport::router
