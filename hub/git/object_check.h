// The object checks git's receive.fsckObjects runs on pushed objects
// (git's fsck.c with --strict: its WARN messages count as errors), as pure
// functions over an object's raw body (what follows "<type> <size>\0").
//
// Trees: badTree (unparsable entry), emptyName, fullPathname (a '/' in a
// name), hasDot ("."), hasDotdot (".."), hasDotgit (".git" in any case, with
// HFS+-ignored code points, NTFS trailing dots/spaces/":stream" and the 8.3
// short name "git~1", also after a '\' in the name), nullSha1,
// zeroPaddedFilemode ("040000"), badFilemode, gitmodulesSymlink (a
// .gitmodules, in any of those spellings, that is a symbolic link),
// treeNotSorted and duplicateEntries.
// Commits: missingTree, badTreeSha1, badParentSha1, missingAuthor,
// multipleAuthors, missingCommitter, the ident checks (badName, missingEmail,
// badEmail, missingSpaceBeforeEmail, missingNameBeforeEmail,
// missingSpaceBeforeDate, zeroPaddedDate, badDate, badDateOverflow,
// badTimezone), nulInHeader, unterminatedHeader.
// Tags: missingObject, badObjectSha1, missingTypeEntry, badType,
// missingTagEntry, the tagger ident when present, nulInHeader,
// unterminatedHeader.
//
// Differences from git, all stricter: badFilemode (INFO in git) is an error
// for anything but 40000, 100644, 100755, 120000, 160000 and the historic
// 100664. Not checked: the contents of .gitmodules/.gitattributes blobs
// (the hub serves no clones, and drones check out without submodules).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace skyport::hub {

struct FsckIssue {
  std::string id;       // git's message id: "hasDotgit"
  std::string message;  // git's text: "contains '.git'"
};

std::vector<FsckIssue> CheckTree(std::string_view body);
std::vector<FsckIssue> CheckCommit(std::string_view body);
std::vector<FsckIssue> CheckTag(std::string_view body);

// Exposed for table tests: does `name` (one path component) mean ".git" or
// ".gitmodules" to git on some filesystem?
bool IsDotGitName(std::string_view name);
bool IsDotGitmodulesName(std::string_view name);

}  // namespace skyport::hub
