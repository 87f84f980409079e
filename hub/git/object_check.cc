#include "hub/git/object_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <set>

namespace skyport::hub {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'f'); }

// Case-insensitive "does `s` start with `prefix`" (prefix is lowercase ASCII).
bool StartsNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

// NTFS ignores trailing dots and spaces, and "name:stream" names the same file.
bool NtfsSameAfter(std::string_view rest) {
  for (char c : rest) {
    if (c == ':' || c == '\\' || c == '/') return true;
    if (c != '.' && c != ' ') return false;
  }
  return true;
}

// Windows 8.3 short names: the first six characters of the long name and "~N",
// or (when those collide) a hash-derived `fallback` prefix with "~N".
bool NtfsShortName(std::string_view name, std::string_view long_name, std::string_view fallback) {
  if (name.size() >= 8 && StartsNoCase(name, long_name.substr(0, 6)) && name[6] == '~' && name[7] >= '1' &&
      name[7] <= '4') {
    return NtfsSameAfter(name.substr(8));
  }
  if (name.size() < 8) return false;
  bool tilde = false;
  for (size_t i = 0; i < 8; ++i) {
    char c = name[i];
    if (tilde) {
      if (!IsDigit(c)) return false;
    } else if (c == '~') {
      if (i + 1 >= 8 || name[i + 1] < '1' || name[i + 1] > '9') return false;
      tilde = true;
    } else if (i >= 6 || (static_cast<unsigned char>(c) & 0x80) || Lower(c) != fallback[i]) {
      return false;
    }
  }
  return NtfsSameAfter(name.substr(8));
}

bool IsNtfsDotGit(std::string_view name) {
  if (StartsNoCase(name, ".git")) return NtfsSameAfter(name.substr(4));
  if (StartsNoCase(name, "git~1")) return NtfsSameAfter(name.substr(5));
  return false;
}

bool IsNtfsDotGitmodules(std::string_view name) {
  if (StartsNoCase(name, ".gitmodules")) return NtfsSameAfter(name.substr(11));
  return NtfsShortName(name, "gitmodules", "gi7eba");
}

// Next UTF-8 code point of `s` at `*i`; -1 for an invalid sequence.
long NextCodePoint(std::string_view s, size_t* i) {
  auto b = static_cast<unsigned char>(s[(*i)++]);
  if (b < 0x80) return b;
  int extra = (b >= 0xf0 && b < 0xf8) ? 3 : (b >= 0xe0) ? 2 : (b >= 0xc0) ? 1 : -1;
  if (extra < 0) return -1;
  long cp = b & (0x3f >> extra);
  for (int k = 0; k < extra; ++k) {
    if (*i >= s.size()) return -1;
    auto c = static_cast<unsigned char>(s[(*i)++]);
    if ((c & 0xc0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3f);
  }
  return cp;
}

// HFS+ ignores these code points when comparing names.
bool HfsIgnored(long cp) {
  return (cp >= 0x200c && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x206a && cp <= 0x206f) ||
         cp == 0xfeff;
}

// Does `name` equal `needle` (lowercase ASCII) on HFS+ (case-folded, ignorables skipped)?
bool IsHfsName(std::string_view name, std::string_view needle) {
  size_t i = 0, n = 0;
  while (i < name.size()) {
    long cp = NextCodePoint(name, &i);
    if (cp < 0) return false;
    if (HfsIgnored(cp)) continue;
    if (cp == '/') break;
    if (n >= needle.size() || cp > 0x7f || Lower(static_cast<char>(cp)) != needle[n]) return false;
    ++n;
  }
  return n == needle.size();
}

bool IsSymlink(uint32_t mode) { return (mode & 0170000) == 0120000; }
bool IsDir(uint32_t mode) { return (mode & 0170000) == 0040000; }

bool GoodMode(uint32_t mode) {
  switch (mode) {
    case 0040000: case 0100644: case 0100755: case 0120000: case 0160000:
    case 0100664:  // written by git before 2005; git's own fsck lets it pass
      return true;
    default:
      return false;
  }
}

struct Entry {
  uint32_t mode = 0;
  bool zero_padded = false;
  std::string_view name;
  std::string_view id;  // 20 raw bytes
};

// The header lines of a commit or tag: everything before the first blank
// line. git refuses a NUL there, and a last line without its newline.
bool VerifyHeaders(std::string_view body, std::vector<FsckIssue>* out) {
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\0') {
      out->push_back({"nulInHeader", fmt::format("unterminated header: NUL at offset {}", i)});
      return false;
    }
    if (body[i] == '\n' && i + 1 < body.size() && body[i + 1] == '\n') return true;
  }
  if (!body.empty() && body.back() == '\n') return true;
  out->push_back({"unterminatedHeader", "unterminated header"});
  return false;
}

bool Consume(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// "<40 hex>\n" at the start of `*s` (git's parse_oid_hex takes either case).
bool ConsumeIdLine(std::string_view* s) {
  if (s->size() < 41 || (*s)[40] != '\n') return false;
  for (size_t i = 0; i < 40; ++i) {
    if (!IsHex((*s)[i])) return false;
  }
  s->remove_prefix(41);
  return true;
}

// The text after "author "/"committer "/"tagger ": "Name <email> 1234567890 +0100\n".
// Returns true if it is well formed; consumes through the newline.
bool CheckIdent(std::string_view* s, std::vector<FsckIssue>* out) {
  std::string_view p = *s;
  auto at = [&](size_t i) { return i < p.size() ? p[i] : '\0'; };
  auto issue = [&](const char* id, const char* msg) {
    out->push_back({id, msg});
    return false;
  };
  size_t i = 0;
  if (at(0) == '<') return issue("missingNameBeforeEmail", "invalid author/committer line - missing space before email");
  i = p.find_first_of("<>\n");
  if (i == std::string_view::npos) i = p.size();
  if (at(i) == '>') return issue("badName", "invalid author/committer line - bad name");
  if (at(i) != '<') return issue("missingEmail", "invalid author/committer line - missing email");
  if (i == 0 || p[i - 1] != ' ') return issue("missingSpaceBeforeEmail", "invalid author/committer line - missing space before email");
  ++i;
  size_t e = p.find_first_of("<>\n", i);
  if (e == std::string_view::npos || p[e] != '>') return issue("badEmail", "invalid author/committer line - bad email");
  i = e + 1;
  if (at(i) != ' ') return issue("missingSpaceBeforeDate", "invalid author/committer line - missing space before date");
  ++i;
  if (at(i) == '0' && at(i + 1) != ' ') return issue("zeroPaddedDate", "invalid author/committer line - zero-padded date");
  size_t d = i;
  while (IsDigit(at(d))) ++d;
  if (d - i > 19 || (d - i == 19 && p.substr(i, 19) > "9223372036854775806")) {
    return issue("badDateOverflow", "invalid author/committer line - date causes integer overflow");
  }
  if (d == i || at(d) != ' ') return issue("badDate", "invalid author/committer line - bad date");
  i = d + 1;
  if ((at(i) != '+' && at(i) != '-') || !IsDigit(at(i + 1)) || !IsDigit(at(i + 2)) || !IsDigit(at(i + 3)) ||
      !IsDigit(at(i + 4)) || at(i + 5) != '\n') {
    return issue("badTimezone", "invalid author/committer line - bad time zone");
  }
  s->remove_prefix(i + 6);
  return true;
}

}  // namespace

bool IsDotGitName(std::string_view name) { return IsHfsName(name, ".git") || IsNtfsDotGit(name); }

bool IsDotGitmodulesName(std::string_view name) {
  return IsHfsName(name, ".gitmodules") || IsNtfsDotGitmodules(name);
}

std::vector<FsckIssue> CheckTree(std::string_view body) {
  std::vector<FsckIssue> out;
  std::vector<Entry> entries;
  std::string_view s = body;
  while (!s.empty()) {
    Entry e;
    size_t sp = s.find(' ');
    if (sp == 0 || sp == std::string_view::npos || sp > 7) {
      out.push_back({"badTree", "cannot be parsed as a tree"});
      return out;
    }
    e.zero_padded = s[0] == '0';
    for (size_t i = 0; i < sp; ++i) {
      if (s[i] < '0' || s[i] > '7') {
        out.push_back({"badTree", "cannot be parsed as a tree"});
        return out;
      }
      e.mode = e.mode * 8 + static_cast<uint32_t>(s[i] - '0');
    }
    size_t nul = s.find('\0', sp + 1);
    if (nul == std::string_view::npos || s.size() - nul - 1 < 20) {
      out.push_back({"badTree", "cannot be parsed as a tree"});
      return out;
    }
    e.name = s.substr(sp + 1, nul - sp - 1);
    e.id = s.substr(nul + 1, 20);
    entries.push_back(e);
    s.remove_prefix(nul + 21);
  }

  // git reports each kind once per tree; so do we, in git's order.
  bool null_id = false, full_path = false, empty = false, dot = false, dotdot = false, dotgit = false;
  bool zero_pad = false, bad_mode = false, modules_link = false;
  for (const Entry& e : entries) {
    null_id |= e.id.find_first_not_of('\0') == std::string_view::npos;
    full_path |= e.name.find('/') != std::string_view::npos;
    empty |= e.name.empty();
    dot |= e.name == ".";
    dotdot |= e.name == "..";
    dotgit |= IsDotGitName(e.name);
    zero_pad |= e.zero_padded;
    bad_mode |= !GoodMode(e.mode);
    modules_link |= IsSymlink(e.mode) && IsDotGitmodulesName(e.name);
    // Windows also splits paths at '\': "a\.git" is ".git" in directory "a" there.
    for (size_t b = e.name.find('\\'); b != std::string_view::npos; b = e.name.find('\\', b + 1)) {
      std::string_view rest = e.name.substr(b + 1);
      dotgit |= IsNtfsDotGit(rest);
      modules_link |= IsSymlink(e.mode) && IsNtfsDotGitmodules(rest);
    }
  }
  if (null_id) out.push_back({"nullSha1", "contains entries pointing to null sha1"});
  if (full_path) out.push_back({"fullPathname", "contains full pathnames"});
  if (empty) out.push_back({"emptyName", "contains empty pathname"});
  if (dot) out.push_back({"hasDot", "contains '.'"});
  if (dotdot) out.push_back({"hasDotdot", "contains '..'"});
  if (dotgit) out.push_back({"hasDotgit", "contains '.git'"});
  if (zero_pad) out.push_back({"zeroPaddedFilemode", "contains zero-padded file modes"});
  if (bad_mode) out.push_back({"badFilemode", "contains bad file modes"});
  if (modules_link) out.push_back({"gitmodulesSymlink", ".gitmodules is a symbolic link"});

  // Order: by name, a directory sorting as if its name ended in '/'. Names
  // must be unique whatever the type ("a" and "a/" are one path on checkout).
  bool dups = false, unsorted = false;
  std::set<std::string_view> names;
  for (size_t i = 0; i < entries.size(); ++i) {
    dups |= !names.insert(entries[i].name).second;
    if (i == 0) continue;
    std::string a(entries[i - 1].name), b(entries[i].name);
    if (IsDir(entries[i - 1].mode)) a += '/';
    if (IsDir(entries[i].mode)) b += '/';
    unsorted |= a > b;
  }
  if (dups) out.push_back({"duplicateEntries", "contains duplicate file entries"});
  if (unsorted && !dups) out.push_back({"treeNotSorted", "not properly sorted"});
  return out;
}

std::vector<FsckIssue> CheckCommit(std::string_view body) {
  std::vector<FsckIssue> out;
  if (!VerifyHeaders(body, &out)) return out;
  std::string_view s = body;
  if (!Consume(&s, "tree ")) {
    out.push_back({"missingTree", "invalid format - expected 'tree' line"});
    return out;
  }
  if (!ConsumeIdLine(&s)) {
    out.push_back({"badTreeSha1", "invalid 'tree' line format - bad sha1"});
    return out;
  }
  while (Consume(&s, "parent ")) {
    if (!ConsumeIdLine(&s)) {
      out.push_back({"badParentSha1", "invalid 'parent' line format - bad sha1"});
      return out;
    }
  }
  int authors = 0;
  while (Consume(&s, "author ")) {
    ++authors;
    if (!CheckIdent(&s, &out)) return out;
  }
  if (authors == 0) {
    out.push_back({"missingAuthor", "invalid format - expected 'author' line"});
    return out;
  }
  if (authors > 1) {
    out.push_back({"multipleAuthors", "invalid format - multiple 'author' lines"});
    return out;
  }
  if (!Consume(&s, "committer ")) {
    out.push_back({"missingCommitter", "invalid format - expected 'committer' line"});
    return out;
  }
  if (!CheckIdent(&s, &out)) return out;
  if (body.find('\0') != std::string_view::npos) out.push_back({"nulInCommit", "NUL byte in the commit object body"});
  return out;
}

std::vector<FsckIssue> CheckTag(std::string_view body) {
  std::vector<FsckIssue> out;
  if (!VerifyHeaders(body, &out)) return out;
  std::string_view s = body;
  if (!Consume(&s, "object ")) {
    out.push_back({"missingObject", "invalid format - expected 'object' line"});
    return out;
  }
  if (!ConsumeIdLine(&s)) {
    out.push_back({"badObjectSha1", "invalid 'object' line format - bad sha1"});
    return out;
  }
  if (!Consume(&s, "type ")) {
    out.push_back({"missingTypeEntry", "invalid format - expected 'type' line"});
    return out;
  }
  size_t eol = s.find('\n');
  if (eol == std::string_view::npos) {
    out.push_back({"missingType", "invalid format - unexpected end after 'type' line"});
    return out;
  }
  std::string_view type = s.substr(0, eol);
  if (type != "commit" && type != "tree" && type != "blob" && type != "tag") {
    out.push_back({"badType", "invalid 'type' value"});
    return out;
  }
  s.remove_prefix(eol + 1);
  if (!Consume(&s, "tag ")) {
    out.push_back({"missingTagEntry", "invalid format - expected 'tag' line"});
    return out;
  }
  eol = s.find('\n');
  if (eol == std::string_view::npos) {
    out.push_back({"missingTag", "invalid format - unexpected end after 'type' line"});
    return out;
  }
  s.remove_prefix(eol + 1);
  if (Consume(&s, "tagger ")) CheckIdent(&s, &out);
  return out;
}

}  // namespace skyport::hub
