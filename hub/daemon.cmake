# The hub daemon (included from hub/CMakeLists.txt, below the git library).
# Pure logic: desired state, reconcile diff, target choice (deploys/), flight
# steps and states (flights/), the log queue of `skyport logs`, the leader election (ha/). Flight specs,
# gates and the experiment maths are contracts (skyport_contract).
add_library(skyport_hub_logic STATIC deploys/desired.cc deploys/app_settings.cc deploys/push_deploy.cc deploys/reconcile.cc
  deploys/targets.cc deploys/releases.cc deploys/rollback_plan.cc
  deploys/log_follower.cc flights/flight_bounds.cc flights/flight_bounds_report.cc flights/flight_plan.cc
  flights/flight_state.cc ha/election.cc ha/advertise.cc ops/repack_plan.cc)
target_link_libraries(skyport_hub_logic PUBLIC skyport_contract skyport_core skyport_proto nlohmann_json::nlohmann_json)

# Flights and the desired state on etcd: the key layout and what one step's write is (pure), and
# the stores over two injected calls (a fenced Txn, a Range), which unit tests drive with a fake etcd.
add_library(skyport_hub_etcd_logic STATIC flights/etcd_flight_layout.cc flights/etcd_flight_store.cc ha/desired_store.cc)
target_link_libraries(skyport_hub_etcd_logic PUBLIC skyport_hub_logic skyport_etcd_proto skyport_etcd)

# Durable experiment data (SQLite): stats/.
add_library(skyport_hub_stats STATIC stats/stats_store.cc stats/stats_check.cc stats/user_cap.cc)
target_link_libraries(skyport_hub_stats PUBLIC skyport_contract skyport_core skyport_proto PRIVATE SQLite::SQLite3)

# Hubs on etcd: pushes replicated to the standbys, catch-up between hubs, the HubPeer service (peer/;
# peer_plan is pure).
add_library(skyport_hub_peer STATIC peer/peer_plan.cc peer/replica_apply.cc peer/peer_stubs.cc peer/peer_service.cc
  peer/replicator.cc peer/catch_up.cc)
target_link_libraries(skyport_hub_peer PUBLIC skyport_hub_git skyport_hub_logic skyport_rpc)
# The control tower and the single hub's flight store (SQLite): their I/O is behind TowerIo and the
# file, so unit tests drive them with fakes and a temp dir.
add_library(skyport_hub_flights STATIC flights/sqlite_flight_store.cc flights/tower.cc)
target_link_libraries(skyport_hub_flights PUBLIC skyport_hub_logic Threads::Threads PRIVATE SQLite::SQLite3)

# Shell: sessions and commands, gRPC services, the control tower's I/O, the election on etcd (ha/), the daemon.
add_library(skyport_hub_shell STATIC deploys/hub.cc deploys/service.cc deploys/operations.cc deploys/config_rollout.cc deploys/stop_guard.cc daemon.cc
  deploys/hub_releases.cc deploys/apps_service.cc ops/info_service.cc
  stats/stats_service.cc flights/tower_io.cc flights/ping_http.cc
  flights/flight_service.cc ha/gate.cc ha/leadership.cc)
target_link_libraries(skyport_hub_shell PUBLIC skyport_hub_console skyport_hub_logic skyport_hub_flights skyport_hub_etcd_logic skyport_hub_git skyport_hub_peer skyport_hub_stats skyport_rpc skyport_etcd Threads::Threads
  PRIVATE SQLite::SQLite3 Boost::headers)

add_executable(skyport-hub main.cc)
target_link_libraries(skyport-hub PRIVATE skyport_hub_shell skyport_flags)
# `skyport status` (HubInfo) and repository housekeeping (ops/): the repack and its janitor over
# libgit2 (unit tests link it with a temp dir of repositories).
add_library(skyport_hub_ops STATIC ops/repack.cc)
target_link_libraries(skyport_hub_ops PUBLIC skyport_hub_git skyport_hub_logic Threads::Threads)
target_link_libraries(skyport_hub_shell PUBLIC skyport_version skyport_hub_ops)
