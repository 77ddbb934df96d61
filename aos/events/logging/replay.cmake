# Replay half of aos/events/logging: MCAP export, log sorting and reading,
# replay and comparison tools. Included from aos/events/CMakeLists.txt; the
# logger's own targets live in this directory's CMakeLists.txt.

set(AOS_REPLAY_DIR ${CMAKE_CURRENT_LIST_DIR})

find_package(PkgConfig REQUIRED)
pkg_check_modules(AOS_REPLAY_ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_package(ZLIB REQUIRED)

aos_library(NAME aos_mcap_writer
  SRCS ${AOS_REPLAY_DIR}/mcap_writer.cc
  HDRS ${AOS_REPLAY_DIR}/mcap_writer.h
  DEPS aos_status PkgConfig::AOS_REPLAY_ZSTD ZLIB::ZLIB glog::glog)

# The MCAP checker: Foxglove's TypeScript reader, installed from the npm
# registry into the build tree by a CTest set-up fixture (test-only; see
# mcap_check/install.sh for what happens offline).
set(AOS_MCAP_CHECK_DIR ${CMAKE_BINARY_DIR}/mcap_check)
add_test(NAME replay_mcap_checker_install
  COMMAND ${AOS_REPLAY_DIR}/mcap_check/install.sh ${AOS_REPLAY_DIR}/mcap_check
          ${AOS_MCAP_CHECK_DIR})
set_tests_properties(replay_mcap_checker_install PROPERTIES
  FIXTURES_SETUP mcap_checker LABELS replay TIMEOUT 330)

aos_library(NAME aos_mcap_check
  SRCS ${AOS_REPLAY_DIR}/mcap_check.cc
  HDRS ${AOS_REPLAY_DIR}/mcap_check.h
  DEPS aos_tmpdir glog::glog)
target_compile_definitions(aos_mcap_check PRIVATE
  AOS_MCAP_CHECK_DIR="${AOS_MCAP_CHECK_DIR}")

# A test binary of the replay component whose tests need the MCAP checker.
function(aos_replay_mcap_test name)
  aos_test(NAME ${name} ${ARGN} LABELS replay)
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${name}_fixtures.cmake)
  file(WRITE ${script}
       "if(${name}_TESTS)\n"
       "  set_tests_properties(\${${name}_TESTS} PROPERTIES FIXTURES_REQUIRED mcap_checker)\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()

aos_replay_mcap_test(aos_mcap_writer_test
  SRCS ${AOS_REPLAY_DIR}/mcap_writer_test.cc
  DEPS aos_mcap_writer aos_mcap_check)
