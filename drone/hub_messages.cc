#include "drone/hub_messages.h"

namespace skyport::drone {
namespace {

v1::DeployProgress::Stage StageProto(DeployStage s) {
  switch (s) {
    case DeployStage::kFetching: return v1::DeployProgress::FETCHING;
    case DeployStage::kCheckedOut: return v1::DeployProgress::CHECKED_OUT;
    case DeployStage::kBuilding: return v1::DeployProgress::BUILDING;
    case DeployStage::kStarting: return v1::DeployProgress::STARTING;
    case DeployStage::kHealthy: return v1::DeployProgress::HEALTHY;
    case DeployStage::kRegistered: return v1::DeployProgress::REGISTERED;
    case DeployStage::kFailed: return v1::DeployProgress::FAILED;
  }
  return v1::DeployProgress::FAILED;
}

// "running" reads better than "ready".
std::string StateName(ProcState s) { return s == ProcState::kReady ? "running" : ProcStateName(s); }

}  // namespace

v1::ProcessStatus StatusMessage(const ProcStatus& p, const std::string& drone) {
  v1::ProcessStatus out;
  out.set_app(p.key.app);
  out.set_commit(p.key.commit);
  out.set_role(p.key.role);
  out.set_instance(p.key.instance);
  out.set_drone(drone);
  out.set_pid(p.pid);
  out.set_port(p.port);
  out.set_state(p.crash_loop && p.state == ProcState::kBackoff ? "crash-loop" : StateName(p.state));
  out.set_restarts(p.restarts);
  out.set_last_error(p.last_error);
  out.set_started_unix_ms(p.started_unix_ms);
  return out;
}

v1::DroneMessage GoneMessage(const std::string& app, const std::string& commit, const std::string& role,
                             uint32_t instance) {
  v1::DroneMessage m;
  auto* g = m.mutable_gone();
  g->set_app(app);
  g->set_commit(commit);
  g->set_role(role);
  g->set_instance(instance);
  return m;
}

v1::DroneMessage LogMessage(uint64_t command_id, const std::string& drone, const LogLine& l) {
  v1::DroneMessage m;
  m.set_command_id(command_id);
  auto* out = m.mutable_log();
  out->set_drone(drone);
  out->set_commit(l.key.commit);
  out->set_role(l.key.role);
  out->set_instance(l.key.instance);
  out->set_stream(l.stream);
  out->set_text(l.text);
  out->set_unix_ms(l.unix_ms);
  return m;
}

v1::DroneMessage ProgressMessage(uint64_t command_id, const std::string& drone, const std::string& commit,
                                 DeployStage stage, const std::string& message, int64_t unix_ms) {
  v1::DroneMessage m;
  m.set_command_id(command_id);
  auto* p = m.mutable_progress();
  p->set_drone(drone);
  p->set_commit(commit);
  p->set_stage(StageProto(stage));
  p->set_message(message);
  p->set_unix_ms(unix_ms);
  return m;
}

v1::DroneMessage DoneMessage(uint64_t command_id, const Status& s) {
  v1::DroneMessage m;
  m.set_command_id(command_id);
  m.mutable_done()->set_ok(s.ok());
  m.mutable_done()->set_error(s.message());
  return m;
}

}  // namespace skyport::drone
