# Installing AOS, and using it from other projects (issue 16).
#
# Included once from the top-level CMakeLists.txt, after every component.
# This file is the one list of what AOS exports: a component that adds a
# library or a tool users need adds its target name to AOS_EXPORTED_LIBRARIES
# or AOS_EXPORTED_TOOLS below (one line), and nothing else. Each library
# `aos_foo` becomes:
#   - `aos::foo` in this build (an ALIAS, for projects that
#     add_subdirectory(aos) and for examples/), and
#   - `aos::foo` after `find_package(aos)` from an installed AOS (the export
#     set below, written to <prefix>/lib/cmake/aos/).
# `aos::aos` links everything an application needs; `aos::test_main` is the
# main of simulation tests (aos_test links it).
#
# Installed layout (prefix /usr for the .deb):
#   include/aos/...   headers, generated headers (foo_generated.h,
#                     foo_static.h), schemas (.fbs, .bfbs) and AOS's configs
#                     (aos/events/aos.json), so `#include "aos/..."`,
#                     `include "aos/....fbs";` and
#                     `"imports": ["aos/events/aos.json"]` all resolve there
#   include/aos/reflection/include/flatbuffers/reflection_generated.h
#                     the full reflection header (cmake/AosConfig.cmake),
#                     searched before /usr/include by every aos:: target
#   lib/libaos_*.a    the libraries
#   bin/aos_*         the tools, the config flattener and the static
#                     flatbuffer generator (aos_flatbuffer/aos_config run them)
#   lib/cmake/aos/    the package config, the exported targets, and
#                     AosHelpers.cmake / AosConfig.cmake (aos_flatbuffer,
#                     aos_config, aos_binary, aos_test)

include(CMakePackageConfigHelpers)

set(AOS_EXPORTED_LIBRARIES
  # Foundation.
  aos_status aos_time aos_uuid aos_init aos_flatbuffers aos_shm_base
  aos_tmpdir aos_test_main aos_json_to_flatbuffer aos_configuration_fbs
  aos_configuration aos_testing_path aos_util_file aos_flatbuffer_merge
  # Static flatbuffers, the queue, the mutex.
  aos_static_flatbuffers aos_ipc_lib aos_stl_mutex
  # Event loops and simulation.
  aos_realtime aos_phased_loop aos_event_loop_fbs aos_event_loop aos_epoll
  aos_shm_channel_queue aos_shm_event_loop aos_event_scheduler
  aos_simulated_event_loop
  # AOS_LOG.
  aos_log_message_fbs aos_logging
  # Message-bridge schemas and the simulation's clocks.
  aos_remote_message_fbs aos_timestamp_fbs aos_message_bridge_server_fbs
  aos_message_bridge_client_fbs aos_testing_time_converter
  # The friendly program start (aos::cli::InitTool, LoadConfig) and what the
  # tools share.
  aos_cli_utils aos_examples_latency_histogram
  # The schemas of the log files and of the starter's /aos channels
  # (aos/events/aos.json has them). The logging, replay, starter and bridge
  # libraries are not exported yet: their zstd, xz, snappy, OpenSSL and
  # Cyclone DDS dependencies need find_dependency lines in
  # aos-config.cmake.in first; their tools are installed.
  aos_logger_fbs aos_process_info_fbs aos_starter_fbs aos_starter_rpc_fbs)

set(AOS_EXPORTED_TOOLS
  aos_dump aos_send aos_shm aos_timing_report_streamer
  aos_logger log_cat log_info log_to_mcap log_diff log_replayer
  starterd aos_starter
  message_bridge message_bridge_server message_bridge_client
  # Run by aos_config() and aos_flatbuffer(... STATIC) in users' builds.
  aos_config_flattener aos_static_flatbuffers_generator)

# Everything an application links: both event loops, AOS_LOG, configs and
# the program start.
add_library(aos_umbrella INTERFACE)
target_link_libraries(aos_umbrella INTERFACE
  aos_shm_event_loop aos_simulated_event_loop aos_event_loop aos_logging
  aos_configuration aos_json_to_flatbuffer aos_cli_utils aos_init
  aos_static_flatbuffers gflags glog::glog)
set_target_properties(aos_umbrella PROPERTIES EXPORT_NAME aos)
add_library(aos::aos ALIAS aos_umbrella)

foreach(library ${AOS_EXPORTED_LIBRARIES} ${AOS_EXPORTED_TOOLS})
  if(NOT TARGET ${library})
    message(FATAL_ERROR "cmake/AosInstall.cmake exports ${library}, which no "
                        "component defines")
  endif()
  string(REGEX REPLACE "^aos_" "" export_name ${library})
  set_target_properties(${library} PROPERTIES EXPORT_NAME ${export_name})
  get_target_property(type ${library} TYPE)
  if(type STREQUAL "EXECUTABLE")
    add_executable(aos::${export_name} ALIAS ${library})
  else()
    add_library(aos::${export_name} ALIAS ${library})
  endif()
endforeach()
foreach(library ${AOS_EXPORTED_LIBRARIES} aos_umbrella)
  # Where users of the library find AOS's headers: the source and build
  # trees when AOS is a subdirectory, include/ once installed. The full
  # reflection header must come before /usr/include's.
  target_include_directories(${library} SYSTEM BEFORE INTERFACE
    $<BUILD_INTERFACE:${AOS_REFLECTION_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:include/aos/reflection/include>)
  target_include_directories(${library} INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>
    $<INSTALL_INTERFACE:include>)
endforeach()

install(TARGETS ${AOS_EXPORTED_LIBRARIES} aos_umbrella
  EXPORT aos_targets
  ARCHIVE DESTINATION lib
  INCLUDES DESTINATION include)
install(TARGETS ${AOS_EXPORTED_TOOLS}
  EXPORT aos_targets
  RUNTIME DESTINATION bin)

# Sources: headers, schemas and configs; not tests and their data.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/aos/
  DESTINATION include/aos
  FILES_MATCHING PATTERN "*.h" PATTERN "*.fbs" PATTERN "*.json"
  PATTERN "*_test.h" EXCLUDE
  PATTERN "testdata" EXCLUDE
  PATTERN "fuzz" EXCLUDE
  PATTERN "fuzz_corpus" EXCLUDE
  PATTERN "golden" EXCLUDE)
# Generated: headers, binary schemas, the reflection header.
install(DIRECTORY ${PROJECT_BINARY_DIR}/aos/
  DESTINATION include/aos
  FILES_MATCHING PATTERN "*_generated.h" PATTERN "*_static.h" PATTERN "*.bfbs"
  PATTERN "*_config.bfbs" EXCLUDE
  PATTERN "CMakeFiles" EXCLUDE
  PATTERN "staging" EXCLUDE
  PATTERN "testdata" EXCLUDE)

# The schemas of aos_events_config (the /aos channels), as installed paths
# relative to the prefix, for the package config.
get_property(_aos_events_schemas GLOBAL PROPERTY aos_events_config_CONFIG_SCHEMAS)
set(AOS_EVENTS_CONFIG_SCHEMAS)
foreach(schema ${_aos_events_schemas})
  file(RELATIVE_PATH rel ${PROJECT_BINARY_DIR} ${schema})
  list(APPEND AOS_EVENTS_CONFIG_SCHEMAS "include/${rel}")
endforeach()

install(EXPORT aos_targets
  NAMESPACE aos::
  FILE aos-targets.cmake
  DESTINATION lib/cmake/aos)
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/aos-config.cmake.in
  ${PROJECT_BINARY_DIR}/aos-config.cmake
  INSTALL_DESTINATION lib/cmake/aos)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/aos-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/aos-config.cmake
  ${PROJECT_BINARY_DIR}/aos-config-version.cmake
  ${CMAKE_CURRENT_LIST_DIR}/AosHelpers.cmake
  ${CMAKE_CURRENT_LIST_DIR}/AosConfig.cmake
  DESTINATION lib/cmake/aos)

# `cpack -G DEB` in the build directory: aos_<version>_<arch>.deb, installing
# under /usr. Its dependencies are what the installed headers and targets
# need to build an application (so `apt-get install ./aos_*.deb` is enough
# to build examples/out_of_tree); cmake, ninja and g++ are the user's choice.
set(CPACK_PACKAGE_NAME aos)
set(CPACK_PACKAGE_VENDOR "AOS developers")
set(CPACK_PACKAGE_CONTACT "AOS developers <aos@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Robotics middleware: shared-memory event loops, simulation, tools")
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libgoogle-glog-dev, libgflags-dev, libflatbuffers-dev, flatbuffers-compiler, libgtest-dev, libgmock-dev, libzstd-dev, liblzma-dev, libsnappy-dev, libssl-dev, zlib1g-dev, cyclonedds-dev")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
