# The drone daemon (included from drone/CMakeLists.txt, below the supervisor).
add_library(skyport_drone_logic STATIC procfile.cc app_env.cc checkout_files.cc metrics.cc app_uids.cc rolling_plan.cc
  retention.cc
  registration.cc)
target_link_libraries(skyport_drone_logic PUBLIC skyport_core skyport_proto nlohmann_json::nlohmann_json)

add_library(skyport_drone_shell STATIC agent.cc checkout.cc registry_link.cc run_command.cc daemon.cc app_runtime.cc
  app_launch.cc data_dir.cc deploy_pipeline.cc deploy_steps.cc hub_messages.cc instance_runner.cc ready_watch.cc
  stored_logs.cc disk_janitor.cc)
target_link_libraries(skyport_drone_shell PUBLIC skyport_drone_logic skyport_drone_supervisor skyport_rpc
  PkgConfig::LIBGIT2 Threads::Threads)

add_executable(skyport-drone main.cc)
target_link_libraries(skyport-drone PRIVATE skyport_drone_shell skyport_flags)
# `skyport status`: the drone's hello carries its version.
target_link_libraries(skyport_drone_shell PUBLIC skyport_version)
