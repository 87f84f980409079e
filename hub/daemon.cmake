# The hub daemon (included from hub/CMakeLists.txt, below the git library).
# Pure logic: desired state, reconcile diff, target choice, experiment statistics
# (Boost.Math, header-only, stays private to stats_math.cc).
add_library(skyport_hub_logic STATIC desired.cc reconcile.cc targets.cc stats_math.cc gates.cc
  flight_spec.cc flight_plan.cc flight_state.cc log_follower.cc)
target_link_libraries(skyport_hub_logic PUBLIC skyport_core skyport_proto nlohmann_json::nlohmann_json
  PRIVATE Boost::headers)

# Shell: sessions and commands, gRPC services, the daemon.
# Durable experiment data (SQLite).
add_library(skyport_hub_stats STATIC stats_store.cc stats_check.cc user_cap.cc)
target_link_libraries(skyport_hub_stats PUBLIC skyport_core skyport_proto PRIVATE SQLite::SQLite3)

add_library(skyport_hub_shell STATIC hub.cc service.cc operations.cc daemon.cc stats_service.cc
  flight_store.cc tower.cc tower_io.cc ping_http.cc flight_service.cc)
target_link_libraries(skyport_hub_shell PUBLIC skyport_hub_logic skyport_hub_git skyport_hub_stats skyport_rpc Threads::Threads
  PRIVATE skyport_router_logic skyport_registry_logic SQLite::SQLite3 Boost::headers)

add_executable(skyport-hub main.cc)
target_link_libraries(skyport-hub PRIVATE skyport_hub_shell skyport_flags)
