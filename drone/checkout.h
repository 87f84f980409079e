// The drone's copy of the code: packs from the hub indexed into a local bare
// repository per app, and commits checked out into fresh directories.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::drone {

// Indexes a streamed packfile into REPO (a bare repository, created if needed).
class PackWriter {
 public:
  static Result<std::unique_ptr<PackWriter>> Begin(const std::string& repo_path);
  virtual ~PackWriter() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Commit() = 0;
};

// True if REPO has the commit and its tree.
bool HasCommit(const std::string& repo_path, const std::string& commit);

// Writes the commit's tree into `dir` (created; must not exist).
Status CheckoutCommit(const std::string& repo_path, const std::string& commit, const std::string& dir);

}  // namespace skyport::drone
