// libFuzzer target: the receive.fsckObjects checks of pushed objects
// (hub/git/object_check.h CheckTree, CheckCommit, CheckTag, IsDotGitName). Every
// input is checked as each of the three object kinds. A tree the checks pass
// is re-read here, independently, and must really be clean: every entry
// parses, has a known mode, a name git can check out (not empty, no '/', not
// "." or "..", not ".git" on any filesystem) and a non-null id, and the names
// are unique and in git's order. The ".git" spellings are case-insensitive.
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "hub/git/object_check.h"

namespace hub = skyport::hub;

namespace {

void CheckIssues(const std::vector<hub::FsckIssue>& issues) {
  for (const hub::FsckIssue& i : issues) CHECK(!i.id.empty() && !i.message.empty());
}

// `body` passed CheckTree: re-parse it and check what a clean tree promises.
void CheckCleanTree(std::string_view s) {
  std::set<std::string_view> names;
  std::string previous;
  bool first = true;
  while (!s.empty()) {
    const size_t sp = s.find(' ');
    CHECK(sp != std::string_view::npos && sp > 0);
    const std::string_view mode = s.substr(0, sp);
    CHECK(mode == "40000" || mode == "100644" || mode == "100755" || mode == "120000" || mode == "160000" ||
          mode == "100664");
    const size_t nul = s.find('\0', sp + 1);
    CHECK(nul != std::string_view::npos && s.size() - nul - 1 >= 20);
    const std::string_view name = s.substr(sp + 1, nul - sp - 1);
    const std::string_view id = s.substr(nul + 1, 20);
    CHECK(!name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos);
    CHECK(!hub::IsDotGitName(name));
    CHECK(id.find_first_not_of('\0') != std::string_view::npos);
    CHECK(names.insert(name).second);
    std::string key(name);
    if (mode == "40000") key += '/';
    CHECK(first || previous < key);
    previous = std::move(key);
    first = false;
    s.remove_prefix(nul + 21);
  }
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto tree = hub::CheckTree(body);
  CheckIssues(tree);
  if (tree.empty()) CheckCleanTree(body);

  const auto commit = hub::CheckCommit(body);
  CheckIssues(commit);
  if (commit.empty()) {
    CHECK(body.substr(0, 5) == "tree " && body.size() > 46 && body[45] == '\n');
    const std::string_view header = body.substr(0, body.find("\n\n"));
    CHECK(header.find('\0') == std::string_view::npos);
    CHECK(header.find("\nauthor ") != std::string_view::npos && header.find("\ncommitter ") != std::string_view::npos);
  }

  const auto tag = hub::CheckTag(body);
  CheckIssues(tag);
  if (tag.empty()) {
    CHECK(body.substr(0, 7) == "object " && body.size() > 48 && body[47] == '\n');
    const std::string_view header = body.substr(0, body.find("\n\n"));
    CHECK(header.find('\0') == std::string_view::npos);
    CHECK(header.find("\ntype ") != std::string_view::npos && header.find("\ntag ") != std::string_view::npos);
  }

  // The input as one path component: ".git" and ".gitmodules" are matched without regard to ASCII case.
  if (size <= 256) {
    CHECK(hub::IsDotGitName(body) == hub::IsDotGitName(AsciiLower(body)));
    CHECK(hub::IsDotGitmodulesName(body) == hub::IsDotGitmodulesName(AsciiLower(body)));
  }
  return 0;
}
