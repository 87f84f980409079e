#include "core/proc_stat.h"

#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace skyport {
namespace {

template <class T>
bool ParseNum(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return Status::InvalidArgument("proc stat: no command name");
  ProcStat st;
  if (!ParseNum(text.substr(0, open > 0 ? open - 1 : 0), st.pid)) return Status::InvalidArgument("proc stat: pid");
  // Fields after the name, numbered as in proc(5): 3 = state, 4 = ppid,
  // 5 = pgrp, 22 = starttime.
  std::string_view rest = text.substr(close + 1);
  int field = 2;
  while (!rest.empty() && field < 22) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    size_t end = rest.find_first_of(" \n");
    std::string_view tok = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    ++field;
    bool ok = true;
    if (field == 3) {
      ok = tok.size() == 1;
      st.state = ok ? tok[0] : '?';
    } else if (field == 4) {
      ok = ParseNum(tok, st.ppid);
    } else if (field == 5) {
      ok = ParseNum(tok, st.pgid);
    } else if (field == 22) {
      ok = ParseNum(tok, st.start_time);
    }
    if (!ok) return Status::InvalidArgument(fmt::format("proc stat: field {}", field));
  }
  if (field < 22) return Status::InvalidArgument("proc stat: too few fields");
  return st;
}

Result<ProcStat> ReadProcStat(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  if (!in) return Status::NotFound(fmt::format("no process {}", pid));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseProcStat(ss.str());
}

std::vector<ProcStat> ListProcesses() {
  std::vector<ProcStat> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    pid_t pid = 0;
    if (!ParseNum(std::string_view(e->d_name), pid)) continue;
    auto st = ReadProcStat(pid);
    if (st.ok()) out.push_back(*st);
  }
  closedir(dir);
  return out;
}

bool GroupHasLiveMembers(pid_t pgid) {
  if (pgid <= 0) return false;
  // The cheap answer first: no member at all, zombies included.
  if (kill(-pgid, 0) != 0 && errno == ESRCH) return false;
  for (const auto& p : ListProcesses())
    if (p.pgid == pgid && p.state != 'Z') return true;
  return false;
}

}  // namespace skyport
