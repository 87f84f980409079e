// git's fsck checks on pushed trees, commits and tags (table driven).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "hub/git/object_check.h"

namespace skyport::hub {
namespace {

using namespace std::string_literals;

struct E {
  std::string mode, name;
  char id = '\x11';  // the 20 id bytes, all this value
};

std::string Tree(const std::vector<E>& entries) {
  std::string out;
  for (const E& e : entries) out += e.mode + " " + e.name + '\0' + std::string(20, e.id);
  return out;
}

std::vector<std::string> Ids(const std::vector<FsckIssue>& issues) {
  std::vector<std::string> ids;
  for (const auto& i : issues) ids.push_back(i.id);
  return ids;
}

using Ids_ = std::vector<std::string>;

TEST_CASE("CheckTree: the entries git's fsck flags", "[hub][fsck]") {
  struct Case {
    const char* what;
    std::string body;
    Ids_ want;
  };
  const std::vector<Case> cases = {
      {"a normal tree", Tree({{"100644", ".gitignore"}, {"100755", "a.sh"}, {"40000", "a"}, {"120000", "link"},
                              {"160000", "sub"}, {"100644", "z"}}),
       {}},
      {"empty tree", "", {}},
      {"historic 100664", Tree({{"100664", "old"}}), {}},
      {".git", Tree({{"40000", ".git"}}), {"hasDotgit"}},
      {".GIT", Tree({{"40000", ".GIT"}}), {"hasDotgit"}},
      {".Git file", Tree({{"100644", ".Git"}}), {"hasDotgit"}},
      {"git~1", Tree({{"40000", "git~1"}}), {"hasDotgit"}},
      {"GIT~1", Tree({{"40000", "GIT~1"}}), {"hasDotgit"}},
      {".git. (NTFS trailing dot)", Tree({{"100644", ".git."}}), {"hasDotgit"}},
      {".git  (NTFS trailing spaces)", Tree({{"100644", ".git  "}}), {"hasDotgit"}},
      {".git::$INDEX_ALLOCATION", Tree({{"40000", ".git::$INDEX_ALLOCATION"}}), {"hasDotgit"}},
      {"HFS zero-width joiner", Tree({{"40000", ".g\u200dit"}}), {"hasDotgit"}},
      {"HFS BOM", Tree({{"40000", "\ufeff.git"}}), {"hasDotgit"}},
      {"backslash path (Windows)", Tree({{"100644", "a\\.git"}}), {"hasDotgit"}},
      {".gitx is fine", Tree({{"100644", ".gitx"}}), {}},
      {"git~2 is fine", Tree({{"100644", "git~2"}}), {}},
      {"..", Tree({{"40000", ".."}}), {"hasDotdot"}},
      {".", Tree({{"40000", "."}}), {"hasDot"}},
      {"...", Tree({{"100644", "..."}}), {}},
      {"empty name", Tree({{"100644", ""}}), {"emptyName"}},
      {"slash in a name", Tree({{"100644", "a/b"}}), {"fullPathname"}},
      {"null id", Tree({{"100644", "a", '\0'}}), {"nullSha1"}},
      {"zero-padded mode", Tree({{"040000", "d"}}), {"zeroPaddedFilemode"}},
      {"bad mode 100777", Tree({{"100777", "x"}}), {"badFilemode"}},
      {"bad mode 0", Tree({{"0", "x"}}), {"zeroPaddedFilemode", "badFilemode"}},
      {".gitmodules symlink", Tree({{"120000", ".gitmodules"}}), {"gitmodulesSymlink"}},
      {".GITMODULES. symlink", Tree({{"120000", ".GITMODULES."}}), {"gitmodulesSymlink"}},
      {"gitmod~1 symlink", Tree({{"120000", "gitmod~1"}}), {"gitmodulesSymlink"}},
      {"gi7eba~9 symlink", Tree({{"120000", "gi7eba~9"}}), {"gitmodulesSymlink"}},
      {".gitmodules file is fine", Tree({{"100644", ".gitmodules"}}), {}},
      {"duplicate files", Tree({{"100644", "a"}, {"100644", "a"}}), {"duplicateEntries"}},
      {"file and directory of one name", Tree({{"100644", "a"}, {"100644", "a.txt"}, {"40000", "a"}}),
       {"duplicateEntries"}},
      {"unsorted", Tree({{"100644", "b"}, {"100644", "a"}}), {"treeNotSorted"}},
      {"directory sorts as name/", Tree({{"40000", "a"}, {"100644", "a.txt"}}), {"treeNotSorted"}},
      {"several at once", Tree({{"40000", ".."}, {"40000", ".git"}}), {"hasDotdot", "hasDotgit"}},
      {"truncated id", Tree({{"100644", "a"}}).substr(0, 20), {"badTree"}},
      {"no mode", " a"s + '\0' + std::string(20, 'x'), {"badTree"}},
      {"mode not octal", "10064x a"s + '\0' + std::string(20, 'x'), {"badTree"}},
      {"no NUL", "100644 abc", {"badTree"}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(Ids(CheckTree(c.body)) == c.want);
  }
  auto msg = CheckTree(Tree({{"40000", ".git"}}));
  REQUIRE(msg.size() == 1);
  CHECK(msg[0].message == "contains '.git'");
}

TEST_CASE("IsDotGitName and IsDotGitmodulesName", "[hub][fsck]") {
  for (const char* yes : {".git", ".GiT", "git~1", ".git.", ".git :x", ".\u200cgit", ".git\u200f"}) {
    INFO(yes);
    CHECK(IsDotGitName(yes));
  }
  for (const char* no : {"git", ".gi", ".gitignore", "x.git", "git~11", ".git~1", ".g\u00efit"}) {
    INFO(no);
    CHECK(!IsDotGitName(no));
  }
  for (const char* yes : {".gitmodules", ".GitModules", "gitmod~4", "GI7EBA~1", ".gitmodules ."}) {
    INFO(yes);
    CHECK(IsDotGitmodulesName(yes));
  }
  for (const char* no : {"gitmodules", ".gitmodulesx", "gitmod~5", "gi7ebb~1"}) {
    INFO(no);
    CHECK(!IsDotGitmodulesName(no));
  }
}

const std::string kTree = "tree " + std::string(40, 'a') + "\n";
const std::string kParent = "parent " + std::string(40, 'b') + "\n";
const std::string kWho = "A U Thor <a@example.com> 1700000000 +0100\n";

TEST_CASE("CheckCommit: header lines", "[hub][fsck]") {
  struct Case {
    const char* what;
    std::string body;
    Ids_ want;
  };
  const std::vector<Case> cases = {
      {"a commit", kTree + kParent + kParent + "author " + kWho + "committer " + kWho + "\nmessage\n", {}},
      {"no message", kTree + "author " + kWho + "committer " + kWho, {}},
      {"extra headers", kTree + "author " + kWho + "committer " + kWho + "encoding latin1\ngpgsig x\n y\n\nm", {}},
      {"no tree", kParent + "author " + kWho + "committer " + kWho + "\nm", {"missingTree"}},
      {"short tree id", "tree abc\nauthor " + kWho + "committer " + kWho + "\nm", {"badTreeSha1"}},
      {"upper-case tree id (git reads it)", "tree " + std::string(40, 'A') + "\nauthor " + kWho + "committer " + kWho + "\nm",
       {}},
      {"bad parent", kTree + "parent nothex\nauthor " + kWho + "committer " + kWho + "\nm", {"badParentSha1"}},
      {"no author", kTree + "committer " + kWho + "\nm", {"missingAuthor"}},
      {"two authors", kTree + "author " + kWho + "author " + kWho + "committer " + kWho + "\nm", {"multipleAuthors"}},
      {"no committer", kTree + "author " + kWho + "\nm", {"missingCommitter"}},
      {"no email", kTree + "author nobody 1 +0000\ncommitter " + kWho + "\nm", {"missingEmail"}},
      {"no name", kTree + "author <a@b> 1 +0000\ncommitter " + kWho + "\nm", {"missingNameBeforeEmail"}},
      {"no space before email", kTree + "author a<a@b> 1 +0000\ncommitter " + kWho + "\nm", {"missingSpaceBeforeEmail"}},
      {"'>' in name", kTree + "author a> <a@b> 1 +0000\ncommitter " + kWho + "\nm", {"badName"}},
      {"bad email", kTree + "author a <a@b 1 +0000\ncommitter " + kWho + "\nm", {"badEmail"}},
      {"no space before date", kTree + "author a <a@b>1 +0000\ncommitter " + kWho + "\nm", {"missingSpaceBeforeDate"}},
      {"zero-padded date", kTree + "author a <a@b> 01 +0000\ncommitter " + kWho + "\nm", {"zeroPaddedDate"}},
      {"date overflow", kTree + "author a <a@b> 99999999999999999999 +0000\ncommitter " + kWho + "\nm",
       {"badDateOverflow"}},
      {"bad date", kTree + "author a <a@b> soon +0000\ncommitter " + kWho + "\nm", {"badDate"}},
      {"bad timezone", kTree + "author a <a@b> 1 0100\ncommitter " + kWho + "\nm", {"badTimezone"}},
      {"timezone too short", kTree + "author " + kWho + "committer a <a@b> 1 +010\n\nm", {"badTimezone"}},
      {"NUL in header", kTree + "author a <a@b> 1 +0000\0\ncommitter "s + kWho + "\nm", {"nulInHeader"}},
      {"NUL in message", kTree + "author " + kWho + "committer " + kWho + "\nm\0x"s, {"nulInCommit"}},
      {"unterminated header", kTree + "author " + kWho + "committer A <a@b> 1 +0000", {"unterminatedHeader"}},
      {"empty", "", {"unterminatedHeader"}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(Ids(CheckCommit(c.body)) == c.want);
  }
}

TEST_CASE("CheckTag: header lines", "[hub][fsck]") {
  const std::string obj = "object " + std::string(40, 'c') + "\n";
  struct Case {
    const char* what;
    std::string body;
    Ids_ want;
  };
  const std::vector<Case> cases = {
      {"a tag", obj + "type commit\ntag v1\ntagger " + kWho + "\nrelease\n", {}},
      {"no tagger (old tags)", obj + "type tree\ntag v1\n\nm", {}},
      {"no object", "type commit\ntag v1\n\nm", {"missingObject"}},
      {"bad object id", "object 123\ntype commit\ntag v1\n\nm", {"badObjectSha1"}},
      {"no type", obj + "tag v1\ntagger " + kWho + "\nm", {"missingTypeEntry"}},
      {"bad type", obj + "type sandwich\ntag v1\n\nm", {"badType"}},
      {"no tag line", obj + "type commit\ntagger " + kWho + "\nm", {"missingTagEntry"}},
      {"bad tagger", obj + "type commit\ntag v1\ntagger t <t@x> never +0000\n\nm", {"badDate"}},
      {"NUL in header", obj + "type commit\0\ntag v1\n\nm"s, {"nulInHeader"}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(Ids(CheckTag(c.body)) == c.want);
  }
}

}  // namespace
}  // namespace skyport::hub
