// Helpers for the hub tests: temp dirs, shell commands, a git environment that
// ignores the user's config.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include "tests/unit/test_util.h"

namespace skyport::hub::testing {

using skyport::testing::TempDir;

struct RunResult {
  int exit = -1;
  std::string out;  // stdout and stderr together
};

inline RunResult Run(const std::string& cmd) {
  RunResult r;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  int st = pclose(f);
  r.exit = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// "cd <dir> && env ... git": no user or system config, no prompts, fixed identity.
inline std::string Git(const std::string& home, const std::string& dir = ".") {
  return "cd '" + dir + "' && env -u GIT_DIR -u GIT_WORK_TREE HOME='" + home +
         "' XDG_CONFIG_HOME='" + home + "' GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_ASKPASS= SSH_ASKPASS= "
         "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@x git ";
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// A work tree with one commit on master holding `files`.
inline std::string MakeWorkRepo(const std::string& home, const std::string& dir) {
  std::filesystem::create_directories(dir);
  Run(Git(home, dir) + "init -q -b master .");
  WriteFile(dir + "/app.txt", "hello\n");
  std::filesystem::create_directories(dir + "/a/b");
  WriteFile(dir + "/a/b/c.txt", "nested\n");
  Run(Git(home, dir) + "add -A && " + Git(home, dir) + "commit -q -m first");
  return Trim(Run(Git(home, dir) + "rev-parse HEAD").out);
}

}  // namespace skyport::hub::testing
