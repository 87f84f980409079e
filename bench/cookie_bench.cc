// The user cookie's cost on the hot path, one core, no I/O: verifying a
// signed cookie (CheckUserCookie: one HMAC-SHA256 from the precomputed key
// state + a constant-time compare), minting one (AppendSignedCookie), and,
// for comparison, OpenSSL's one-shot HMAC() that schedules the key each time.
//
//   cookie_bench [SECONDS_PER_CASE]   (default 1)
#include <openssl/hmac.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "router/user_cookie.h"

using skyport::router::AppendSignedCookie;
using skyport::router::CheckUserCookie;
using skyport::router::CookieKey;
using skyport::router::CookieVerdict;
using skyport::router::SignedCookie;

namespace {

template <typename F>
void Run(const char* name, double seconds, F&& f) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  uint64_t n = 0;
  const auto start = Clock::now();
  while (Clock::now() < end)
    for (int i = 0; i < 1000; ++i, ++n) f();
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%-34s %8.0f ns/op  %10.0f ops/s\n", name, s * 1e9 / static_cast<double>(n),
              static_cast<double>(n) / s);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::string secret(32, 'k');
  CookieKey key(secret);
  const std::string user = "0123456789abcdef0123456789abcdef";
  const std::string cookie = SignedCookie(key, user, "split-2026-12");
  volatile int sink = 0;
  Run("verify (CheckUserCookie)", seconds, [&] {
    sink = sink + (CheckUserCookie(cookie, key, nullptr, false).verdict == CookieVerdict::kSigned);
  });
  std::string out;
  Run("mint (AppendSignedCookie)", seconds, [&] {
    out.clear();
    AppendSignedCookie(out, key, user, "split-2026-12");
  });
  const std::string msg = "v1." + user + ".split-2026-12";
  unsigned char mac[32];
  unsigned int len = 0;
  Run("one-shot HMAC() (key each time)", seconds, [&] {
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
    sink = sink + mac[0];
  });
  return sink == -1;
}
