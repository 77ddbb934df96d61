# Replay half of aos/events/logging: MCAP export, log sorting and reading,
# replay and comparison tools. Included at the end of this directory's
# CMakeLists.txt, which holds the logger's own targets and finds zstd
# (PkgConfig::ZSTD) for both halves.

set(AOS_REPLAY_DIR ${CMAKE_CURRENT_LIST_DIR})

find_package(ZLIB REQUIRED)

aos_library(NAME aos_mcap_writer
  SRCS ${AOS_REPLAY_DIR}/mcap_writer.cc
  HDRS ${AOS_REPLAY_DIR}/mcap_writer.h
  DEPS aos_status PkgConfig::ZSTD ZLIB::ZLIB glog::glog)

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
  DEPS aos_json_to_flatbuffer aos_tmpdir glog::glog)
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

# Finding, sorting and reading logs, on the logger's part-file layer.
aos_library(NAME aos_logfile_sorting
  SRCS ${AOS_REPLAY_DIR}/logfile_sorting.cc
       ${AOS_REPLAY_DIR}/log_message_stream.cc
  HDRS ${AOS_REPLAY_DIR}/logfile_sorting.h
       ${AOS_REPLAY_DIR}/log_message_stream.h
  DEPS aos_log_parts aos_configuration aos_time aos_status glog::glog)

aos_library(NAME aos_log_to_mcap
  SRCS ${AOS_REPLAY_DIR}/log_to_mcap.cc
  HDRS ${AOS_REPLAY_DIR}/log_to_mcap.h
  DEPS aos_logfile_sorting aos_mcap_writer aos_configuration
       aos_json_to_flatbuffer glog::glog)

aos_binary(NAME log_to_mcap
  SRCS ${AOS_REPLAY_DIR}/log_to_mcap_main.cc
  DEPS aos_log_to_mcap aos_init gflags)

# Clock offsets between nodes from forwarded messages (multi-node replay).
aos_library(NAME aos_clock_offset_estimator
  SRCS ${AOS_REPLAY_DIR}/clock_offset_estimator.cc
  HDRS ${AOS_REPLAY_DIR}/clock_offset_estimator.h
  DEPS aos_time glog::glog)

aos_test(NAME aos_clock_offset_estimator_test
  SRCS ${AOS_REPLAY_DIR}/clock_offset_estimator_test.cc
  DEPS aos_clock_offset_estimator
  LABELS replay)

# Live replay's timing accuracy report (upstream's aos.timing.ReplayTiming).
aos_flatbuffer(NAME aos_replay_timing_fbs SCHEMA replay_timing.fbs)

aos_library(NAME aos_log_reader
  SRCS ${AOS_REPLAY_DIR}/log_reader.cc
       ${AOS_REPLAY_DIR}/log_reader_multinode.cc
       ${AOS_REPLAY_DIR}/log_reader_live.cc
       ${AOS_REPLAY_DIR}/multinode_replay.cc
  HDRS ${AOS_REPLAY_DIR}/log_reader.h
       ${AOS_REPLAY_DIR}/multinode_replay.h
  DEPS aos_logfile_sorting aos_clock_offset_estimator aos_simulated_event_loop
       aos_shm_event_loop aos_replay_timing_fbs aos_configuration gflags
       glog::glog)

aos_library(NAME aos_replay_test_util
  SRCS ${AOS_REPLAY_DIR}/replay_test_util.cc
  HDRS ${AOS_REPLAY_DIR}/replay_test_util.h
  DEPS aos_log_parts aos_event_loop aos_configuration glog::glog)

# The flattened ping/pong configuration (aos/examples), with schemas.
set(AOS_REPLAY_PINGPONG_CONFIG ${CMAKE_BINARY_DIR}/aos/examples/pingpong_config.bfbs)

aos_test(NAME aos_log_reader_test
  SRCS ${AOS_REPLAY_DIR}/log_reader_test.cc
  DEPS aos_log_reader aos_logger_lib aos_replay_test_util aos_examples_ping_lib
       aos_examples_pong_lib aos_json_to_flatbuffer
  LABELS replay)
target_compile_definitions(aos_log_reader_test PRIVATE
  AOS_PINGPONG_CONFIG="${AOS_REPLAY_PINGPONG_CONFIG}")
add_dependencies(aos_log_reader_test pingpong_config)

aos_replay_mcap_test(aos_log_to_mcap_test
  SRCS ${AOS_REPLAY_DIR}/log_to_mcap_test.cc
  DEPS aos_log_to_mcap aos_mcap_check aos_replay_test_util aos_testing_process
       aos_simulated_event_loop aos_examples_ping_lib aos_examples_pong_lib
       aos_json_to_flatbuffer)
target_compile_definitions(aos_log_to_mcap_test PRIVATE
  AOS_PINGPONG_CONFIG="${AOS_REPLAY_PINGPONG_CONFIG}"
  AOS_LOG_TO_MCAP="$<TARGET_FILE:log_to_mcap>")
add_dependencies(aos_log_to_mcap_test pingpong_config log_to_mcap)

aos_test(NAME aos_logfile_sorting_test
  SRCS ${AOS_REPLAY_DIR}/logfile_sorting_test.cc
  DEPS aos_logfile_sorting aos_replay_test_util aos_simulated_event_loop
       aos_examples_ping_lib aos_examples_pong_lib
  LABELS replay)
target_compile_definitions(aos_logfile_sorting_test PRIVATE
  AOS_PINGPONG_CONFIG="${AOS_REPLAY_PINGPONG_CONFIG}")
add_dependencies(aos_logfile_sorting_test pingpong_config)

aos_test(NAME aos_log_message_stream_test
  SRCS ${AOS_REPLAY_DIR}/log_message_stream_test.cc
  DEPS aos_logfile_sorting aos_json_to_flatbuffer aos_configuration aos_uuid
  LABELS replay)

aos_library(NAME aos_log_diff
  SRCS ${AOS_REPLAY_DIR}/log_diff.cc
  HDRS ${AOS_REPLAY_DIR}/log_diff.h
  DEPS aos_logfile_sorting aos_json_to_flatbuffer glog::glog)

aos_binary(NAME log_diff
  SRCS ${AOS_REPLAY_DIR}/log_diff_main.cc
  DEPS aos_log_diff aos_init gflags)

aos_flatbuffer(NAME aos_log_replayer_config_fbs
  SCHEMA log_replayer_config.fbs DEPS aos_configuration_fbs)
aos_flatbuffer(NAME aos_log_replayer_stats_fbs
  SCHEMA log_replayer_stats.fbs
  DEPS aos_configuration_fbs aos_log_replayer_config_fbs)

aos_binary(NAME log_replayer
  SRCS ${AOS_REPLAY_DIR}/log_replayer.cc
  DEPS aos_log_reader aos_logger_lib aos_log_replayer_stats_fbs
       aos_shm_event_loop aos_examples_ping_lib aos_examples_pong_lib
       aos_json_to_flatbuffer aos_util_file aos_init gflags)

aos_test(NAME aos_replay_tools_test
  SRCS ${AOS_REPLAY_DIR}/replay_tools_test.cc
  DEPS aos_log_reader aos_log_diff aos_logger_lib aos_simulated_event_loop
       aos_examples_ping_lib aos_examples_pong_lib aos_log_replayer_stats_fbs
       aos_json_to_flatbuffer aos_util_file aos_testing_process
  LABELS replay)
target_compile_definitions(aos_replay_tools_test PRIVATE
  AOS_PINGPONG_CONFIG="${AOS_REPLAY_PINGPONG_CONFIG}"
  AOS_LOG_REPLAYER="$<TARGET_FILE:log_replayer>"
  AOS_LOG_DIFF="$<TARGET_FILE:log_diff>")
add_dependencies(aos_replay_tools_test pingpong_config log_replayer log_diff)

aos_test(NAME aos_replay_shm_test
  SRCS ${AOS_REPLAY_DIR}/replay_shm_test.cc
  DEPS aos_log_reader aos_simulated_event_loop aos_examples_pong_lib
  LABELS replay)
target_compile_definitions(aos_replay_shm_test PRIVATE
  AOS_LOGGER="$<TARGET_FILE:aos_logger>"
  AOS_PING="$<TARGET_FILE:ping>"
  AOS_PONG="$<TARGET_FILE:pong>"
  AOS_PINGPONG_CONFIG="${CMAKE_BINARY_DIR}/aos/examples/pingpong_config.json")
add_dependencies(aos_replay_shm_test aos_logger ping pong pingpong_config)

aos_test(NAME aos_multinode_replay_test
  SRCS ${AOS_REPLAY_DIR}/multinode_replay_test.cc
  DEPS aos_log_reader aos_logger_lib aos_simulated_event_loop
       aos_testing_time_converter aos_event_loop_test_fbs aos_tmpdir
  LABELS replay)
target_compile_definitions(aos_multinode_replay_test PRIVATE
  AOS_LOGGING_TESTDATA_DIR="${AOS_REPLAY_DIR}/testdata")

# Live replay into shared memory, watched by a separate process.
aos_binary(NAME replay_live_watcher
  SRCS ${AOS_REPLAY_DIR}/replay_live_watcher.cc
  DEPS aos_shm_event_loop aos_configuration aos_init gflags)

aos_test(NAME aos_replay_live_test
  SRCS ${AOS_REPLAY_DIR}/replay_live_test.cc
  DEPS aos_log_reader aos_logger_lib aos_replay_test_util aos_shm_event_loop
       aos_shm_channel_queue aos_simulated_event_loop aos_examples_ping_lib
       aos_examples_pong_lib aos_event_loop_test_fbs aos_util_file
       aos_testing_process aos_log_replayer_stats_fbs aos_json_to_flatbuffer
  LABELS replay)
target_compile_definitions(aos_replay_live_test PRIVATE
  AOS_PINGPONG_CONFIG="${AOS_REPLAY_PINGPONG_CONFIG}"
  AOS_REPLAY_TIMING_BFBS="${CMAKE_CURRENT_BINARY_DIR}/replay_timing.bfbs"
  AOS_LOGGING_TESTDATA_DIR="${AOS_REPLAY_DIR}/testdata"
  AOS_REPLAY_LIVE_WATCHER="$<TARGET_FILE:replay_live_watcher>"
  AOS_LOG_REPLAYER="$<TARGET_FILE:log_replayer>"
  AOS_PONG="$<TARGET_FILE:pong>")
add_dependencies(aos_replay_live_test pingpong_config replay_live_watcher
  log_replayer pong)

aos_test(NAME aos_multinode_reboot_test
  SRCS ${AOS_REPLAY_DIR}/multinode_reboot_test.cc
  DEPS aos_log_reader aos_logger_lib aos_simulated_event_loop aos_shm_event_loop
       aos_testing_time_converter aos_event_loop_test_fbs aos_tmpdir
  LABELS replay logger)
target_compile_definitions(aos_multinode_reboot_test PRIVATE
  AOS_LOGGING_TESTDATA_DIR="${AOS_REPLAY_DIR}/testdata")
