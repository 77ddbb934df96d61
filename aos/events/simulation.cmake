# Deterministic simulation: the event scheduler, SimulatedEventLoopFactory
# and the simulated message bridge (issue 6). Included from CMakeLists.txt.

aos_library(NAME aos_event_scheduler
  SRCS event_scheduler.cc
  HDRS event_scheduler.h
  DEPS aos_time aos_status aos_epoll glog::glog)

aos_library(NAME aos_simulated_event_loop
  SRCS simulated_event_loop.cc simulated_channel_endpoints.cc
       simulated_event_loop_factory.cc simulated_channel.cc
       simulated_network_bridge.cc
  HDRS simulated_event_loop.h simulated_channel.h simulated_network_bridge.h
  DEPS aos_event_loop aos_event_scheduler aos_init aos_realtime aos_uuid
       aos_remote_message_fbs aos_timestamp_fbs aos_message_bridge_server_fbs
       aos_message_bridge_client_fbs aos_timestamp_channel glog::glog)

aos_test(NAME aos_event_scheduler_test
  SRCS event_scheduler_test.cc
  DEPS aos_event_scheduler
  LABELS simulation)

aos_test(NAME aos_simulated_event_loop_test
  SRCS simulated_event_loop_test.cc
  DEPS aos_event_loop_conformance aos_simulated_event_loop
       aos_testing_time_converter
       aos_event_loop_test_fbs aos_realtime
  LABELS simulation)
get_property(aos_test_message_bfbs GLOBAL PROPERTY aos_event_loop_test_fbs_BFBS)
target_compile_definitions(aos_simulated_event_loop_test PRIVATE
  AOS_SIM_TESTDATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/testdata"
  AOS_TEST_MESSAGE_BFBS="${aos_test_message_bfbs}")

aos_test(NAME aos_simulated_network_bridge_test
  SRCS simulated_network_bridge_test.cc
  DEPS aos_simulated_event_loop aos_testing_time_converter
       aos_event_loop_test_fbs aos_testing_process
  LABELS simulation)
target_compile_definitions(aos_simulated_network_bridge_test PRIVATE
  AOS_SIM_TESTDATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/testdata")

# Watchers and fetchers under FallBehindPolicy, on both loops (issue 13).
aos_test(NAME aos_fall_behind_test
  SRCS fall_behind_test.cc
  DEPS aos_shm_event_loop aos_simulated_event_loop aos_event_loop_test_fbs
       aos_tmpdir
  LABELS events)
