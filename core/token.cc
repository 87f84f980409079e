#include "core/token.h"

#include <fstream>
#include <sstream>

namespace skyport {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

Result<std::string> LoadToken(const std::string& file, const std::string& env_value, const std::string& env_name) {
  std::string token;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in)
      return Status::InvalidArgument("token-file: cannot read " + file +
                                     " (create it with a secret, e.g. `openssl rand -hex 16 > " +
                                     file + "`)");
    std::stringstream ss;
    ss << in.rdbuf();
    token = Trim(ss.str());
    if (token.empty()) return Status::InvalidArgument("token-file: " + file + " is empty");
  } else {
    token = Trim(env_value);
    if (token.empty())
      return Status::InvalidArgument(
          "no cluster token: pass --token-file FILE or set " + env_name + " (or " + env_name + "_FILE)");
  }
  return token;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Always walk the longer input so that timing reveals only lengths.
  size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  // Keep the compiler from short-circuiting the loop.
  volatile unsigned char sink = diff;
  return sink == 0;
}

}  // namespace skyport
