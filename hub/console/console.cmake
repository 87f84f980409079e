# The console (issue 17): the hub's web UI server. Included from hub/CMakeLists.txt.
#   skyport_hub_console_logic   pure: routes, cookies, login bodies, CSRF, sessions, login limits (unit tests, fuzz)
#   skyport_hub_console_assets  hub/console/assets/* and Chart.js as byte arrays (generated at build time)
#   skyport_hub_console         the Beast server and the data it serves (the CLI's clients and shaping code)

# Chart.js from Debian's libjs-chart.js: the UMD build that defines the global `Chart`.
set(SKYPORT_CHART_JS "" CACHE FILEPATH "Chart.js UMD build compiled into the console (default: Debian's libjs-chart.js)")
if(NOT SKYPORT_CHART_JS)
  foreach(candidate /usr/share/javascript/chart.js/chart.umd.js /usr/share/javascript/chart.js/chart.min.js)
    if(EXISTS ${candidate})
      set(SKYPORT_CHART_JS ${candidate})
      break()
    endif()
  endforeach()
endif()
if(NOT SKYPORT_CHART_JS OR NOT EXISTS "${SKYPORT_CHART_JS}")
  message(FATAL_ERROR "The hub's console needs Chart.js: install Debian's libjs-chart.js "
                      "(apt-get install libjs-chart.js; scripts/setup.sh does) or pass -DSKYPORT_CHART_JS=/path/chart.umd.js")
endif()
file(READ "${SKYPORT_CHART_JS}" _chart_head LIMIT 2000)
if(NOT _chart_head MATCHES "\\.Chart ?=")
  message(FATAL_ERROR "${SKYPORT_CHART_JS} is not Chart.js's UMD build (no global `Chart`): install libjs-chart.js "
                      "or pass -DSKYPORT_CHART_JS")
endif()

find_program(SKYPORT_PYTHON3 python3 REQUIRED)
file(GLOB_RECURSE SKYPORT_CONSOLE_ASSETS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/console/assets/*)
set(_embed_args)
foreach(f ${SKYPORT_CONSOLE_ASSETS})
  file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR}/console/assets ${f})
  list(APPEND _embed_args "${rel}=${f}")
endforeach()
list(APPEND _embed_args "chart.js=${SKYPORT_CHART_JS}")
set(_assets_cc ${CMAKE_CURRENT_BINARY_DIR}/console_assets.cc)
add_custom_command(OUTPUT ${_assets_cc}
  COMMAND ${SKYPORT_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/console/embed_assets.py ${_assets_cc} ${_embed_args}
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/console/embed_assets.py ${SKYPORT_CONSOLE_ASSETS} ${SKYPORT_CHART_JS}
  COMMENT "Embedding the console's assets"
  VERBATIM)
add_library(skyport_hub_console_assets STATIC ${_assets_cc})
target_include_directories(skyport_hub_console_assets PUBLIC ${CMAKE_SOURCE_DIR})

add_library(skyport_hub_console_logic STATIC console/console_request.cc console/session_table.cc console/login_limiter.cc
  console/host_check.cc)
target_link_libraries(skyport_hub_console_logic PUBLIC skyport_core nlohmann_json::nlohmann_json)

add_library(skyport_hub_console STATIC console/console_data.cc console/console_server.cc)
target_link_libraries(skyport_hub_console
  PUBLIC skyport_hub_console_logic skyport_core
  PRIVATE skyport_hub_console_assets skyport_cli_shell skyport_contract Boost::headers Threads::Threads)
