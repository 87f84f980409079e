// Turns the Hub.Deploy stream into the lines `skyport deploy` prints. Pure:
// feed it each DeployProgress, print what it returns.
//
// Text: `<drone>  <commit12>  <stage>  <message>`, the drone and stage
// columns padded (drones to the widest seen so far) so that a stream lines up.
// JSON: {"drone","commit","stage","message","unix_ms"}, one object per line.
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

// fetching, checked-out, building, starting, healthy, registered, failed
// ("unknown" for anything else).
std::string StageName(v1::DeployProgress::Stage stage);

class DeployPrinter {
 public:
  explicit DeployPrinter(std::string app) : app_(std::move(app)) {}

  // The line for one message, without a newline.
  std::string Text(const v1::DeployProgress& p);
  // `answered_by`: the hub that runs the deploy (with --hub lists, which one).
  std::string Json(const v1::DeployProgress& p, const std::string& answered_by = "");

  // After a stream that ended OK: "deployed APP COMMIT12 on N drone(s): a, b".
  std::string Summary() const;
  // The resolved commit ("" until a message named one).
  const std::string& commit() const { return commit_; }

 private:
  void Note(const v1::DeployProgress& p);

  std::string app_;
  std::string commit_;            // the resolved commit, from the first message naming one
  std::set<std::string> drones_;  // every drone that reported
  size_t drone_width_ = 0;
};

}  // namespace skyport::cli
