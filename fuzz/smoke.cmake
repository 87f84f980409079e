# ctest entries fuzz.<target>: a few seconds of each libFuzzer target over its
# seed corpus (scripts/fuzz-smoke.sh). The binaries come from the clang build
# dir that scripts/setup.sh makes (SKYPORT_FUZZ_DIR); where clang/libFuzzer is
# missing the script says so and exits 77, which ctest reports as skipped.
include(${CMAKE_SOURCE_DIR}/fuzz/targets.cmake)
set(SKYPORT_FUZZ_DIR "${CMAKE_SOURCE_DIR}/build-fuzz" CACHE PATH "The -DSKYPORT_FUZZ=ON build dir whose fuzzers ctest smokes")
foreach(t ${SKYPORT_FUZZ_TARGETS})
  add_test(NAME fuzz.${t} COMMAND ${CMAKE_SOURCE_DIR}/scripts/fuzz-smoke.sh ${t})
  set_tests_properties(fuzz.${t} PROPERTIES
    ENVIRONMENT "SKYPORT_FUZZ_DIR=${SKYPORT_FUZZ_DIR}"
    SKIP_RETURN_CODE 77
    TIMEOUT 120)
endforeach()
