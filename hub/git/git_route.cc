#include "hub/git/git_route.h"

#include <fmt/format.h>

#include "core/names.h"

namespace skyport::hub {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    if (kv.size() > key.size() && kv.substr(0, key.size()) == key && kv[key.size()] == '=') {
      return std::string(kv.substr(key.size() + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

Result<GitRoute> ParseGitTarget(std::string_view target) {
  std::string_view path = target;
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  GitRoute r;
  std::string_view rest;
  if (EndsWith(path, "/info/refs")) {
    r.kind = GitRoute::Kind::kInfoRefs;
    rest = path.substr(0, path.size() - 10);
  } else if (EndsWith(path, "/git-receive-pack")) {
    r.kind = GitRoute::Kind::kReceivePack;
    rest = path.substr(0, path.size() - 17);
  } else if (EndsWith(path, "/git-upload-pack")) {
    r.kind = GitRoute::Kind::kUploadPack;
    rest = path.substr(0, path.size() - 16);
  } else {
    return Status::NotFound(fmt::format("no git endpoint at {}", path));
  }
  if (rest.empty() || rest[0] != '/') return Status::NotFound(fmt::format("no git endpoint at {}", path));
  rest.remove_prefix(1);
  if (EndsWith(rest, ".git")) rest.remove_suffix(4);
  // ValidateName rejects '/', '.', upper case and so any path trick.
  if (Status s = ValidateName("repository", rest); !s.ok()) return s;
  r.app = std::string(rest);
  if (r.kind == GitRoute::Kind::kInfoRefs) r.service = QueryParam(query, "service");
  return r;
}

std::optional<std::string> BasicAuthPassword(std::string_view authorization) {
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  if (authorization.size() < 6) return std::nullopt;
  std::string scheme(authorization.substr(0, 6));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "basic ") return std::nullopt;
  std::string_view b64 = authorization.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  auto decoded = Base64Decode(b64);
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return decoded->substr(colon + 1);
}

}  // namespace skyport::hub
