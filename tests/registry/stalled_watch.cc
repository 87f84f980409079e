// stalled_watch: a watcher that stops reading, as a hung router would, while
// its process stays alive (it answers the registry's keep-alive pings, so
// only the registry's own bound can end it). It takes the snapshot, prints
// {"ready": true, "revision": R}, then reads nothing — its receive window is
// small (no BDP growth) so the registry's queue for it fills — until a line
// comes on stdin; then it reads what the registry had sent and the stream's
// end, and prints {"messages": N, "events": E, "last_revision": L, "code":
// C, "error": "..."}. tests/integration/test_registry_shared_watch.py runs it.
//   stalled_watch --registry HOST:PORT --token-file FILE
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "rpc/auth.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace {

namespace v1 = skyport::v1;

class Stalled final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  Stalled(v1::Registry::Stub* stub, const std::string& token) {
    skyport::rpc::AttachToken(ctx_, token);
    stub->async()->Watch(&ctx_, &req_, this);
    StartRead(&msg_);
    StartCall();
  }
  // Reads on after the stall.
  void Resume() {
    std::lock_guard lock(mu_);
    stalled_ = false;
    if (parked_) {
      parked_ = false;
      StartRead(&msg_);
    }
  }
  nlohmann::json Wait(bool done) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done ? done_ : ready_ || done_; });
    return {{"ready", ready_}, {"revision", snapshot_revision_}, {"messages", messages_}, {"events", events_},
            {"last_revision", last_revision_}, {"code", static_cast<int>(status_.error_code())},
            {"error", status_.error_message()}};
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    std::lock_guard lock(mu_);
    if (!ready_) {
      if (msg_.kind() == v1::WatchResponse::SNAPSHOT && !msg_.more()) {
        ready_ = true;
        snapshot_revision_ = msg_.revision();
        cv_.notify_all();
      }
    } else {
      ++messages_;
      events_ += msg_.events_size();
      last_revision_ = msg_.revision();
    }
    if (stalled_ && ready_) {
      parked_ = true;
      return;
    }
    StartRead(&msg_);
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

 private:
  grpc::ClientContext ctx_;
  v1::WatchRequest req_;
  v1::WatchResponse msg_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false, stalled_ = true, parked_ = false, done_ = false;
  int64_t snapshot_revision_ = 0, messages_ = 0, events_ = 0, last_revision_ = 0;
  grpc::Status status_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string registry, token_file;
  CLI::App app{"stalled_watch: a watcher that stops reading until a line on stdin"};
  app.add_option("--registry", registry)->required();
  app.add_option("--token-file", token_file)->required();
  CLI11_PARSE(app, argc, argv);
  std::ifstream tf(token_file);
  std::string token;
  std::getline(tf, token);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // the window stays small: the registry's queue takes the rest
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
  auto channel = grpc::CreateCustomChannel(registry, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::Registry::NewStub(channel);
  Stalled watch(stub.get(), token);
  std::cout << watch.Wait(false).dump() << std::endl;
  std::string line;
  std::getline(std::cin, line);
  watch.Resume();
  std::cout << watch.Wait(true).dump() << std::endl;
  return 0;
}
