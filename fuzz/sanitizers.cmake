# -DSKYPORT_FUZZ=ON: fuzz/CMakeLists.txt gives the parser libraries and the
# targets ASan + UBSan and libFuzzer's coverage instrumentation (the generated
# protobuf code stays plain: it is not what we fuzz, and it is the slow part of
# the build); asserts stay on (no NDEBUG).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "SKYPORT_FUZZ needs clang (CXX=clang++ with libclang-rt-14-dev), not ${CMAKE_CXX_COMPILER_ID}")
endif()
set(CMAKE_BUILD_TYPE Fuzz)
# Line tables for the stack traces; the prefix map keeps the clone's path out of them, so that
# ccache (base_dir = the clone) hits across clones even though -g makes it hash the build dir.
set(CMAKE_CXX_FLAGS_FUZZ "-O1 -gline-tables-only -fdebug-prefix-map=${CMAKE_SOURCE_DIR}=. -fno-omit-frame-pointer")
set(SKYPORT_SANITIZE -fsanitize=address,undefined -fno-sanitize-recover=all)
add_link_options(${SKYPORT_SANITIZE})
