# The safety rails of the EventLoop API (issue 16). Included from
# CMakeLists.txt.
#
# Run-time: event_loop_safety_test.cc. Compile-time: each mistake in
# event_loop_compile_errors.cc must fail to compile with its one clear
# message, and the correct code must compile (check_compile_errors.sh runs
# the compiler three times, -fsyntax-only, with this build's include paths;
# the generated test_message headers come from aos_event_loop_test_fbs).

aos_test(NAME aos_event_loop_safety_test
  SRCS event_loop_safety_test.cc
  DEPS aos_simulated_event_loop aos_event_loop_test_fbs
  LABELS events)

# The compiler checks do not depend on instrumentation: only in the plain
# build.
if(NOT AOS_ASAN AND NOT AOS_TSAN)
  add_test(NAME aos_event_loop_compile_errors
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/check_compile_errors.sh
            ${CMAKE_CURRENT_SOURCE_DIR}/event_loop_compile_errors.cc
            ${CMAKE_CXX_COMPILER} -std=c++23 -Werror=unused-result
            -isystem ${AOS_REFLECTION_INCLUDE_DIR}
            -I ${PROJECT_SOURCE_DIR} -I ${PROJECT_BINARY_DIR})
  set_tests_properties(aos_event_loop_compile_errors PROPERTIES
    LABELS events TIMEOUT 300)
endif()

# aos_config's build-time max_size check: a channel whose max_size is below
# its static message's size fails to compile, naming the channel and the
# smallest legal max_size. (Configs that pass are checked by every
# aos_config with STATIC schemas in the build, e.g. pingpong_config.)
if(NOT AOS_ASAN AND NOT AOS_TSAN)
  get_property(_aos_test_message_bfbs GLOBAL PROPERTY
               aos_event_loop_test_fbs_BFBS)
  set(_aos_check_dir ${CMAKE_CURRENT_BINARY_DIR}/max_size_check_test)
  add_test(NAME aos_config_max_size_checked_at_build_time
    COMMAND sh -c "mkdir -p ${_aos_check_dir} && $<TARGET_FILE:aos_config_flattener> --import_path=${PROJECT_SOURCE_DIR} --static_headers=${_aos_test_message_bfbs}=aos/events/test_message_static.h --max_size_check=${_aos_check_dir}/check.cc ${CMAKE_CURRENT_SOURCE_DIR}/testdata/max_size_too_small.json ${_aos_check_dir}/config.json ${_aos_check_dir}/config.bfbs ${_aos_test_message_bfbs} && ${CMAKE_CXX_COMPILER} -std=c++23 -fsyntax-only -isystem ${AOS_REFLECTION_INCLUDE_DIR} -I ${PROJECT_SOURCE_DIR} -I ${PROJECT_BINARY_DIR} ${_aos_check_dir}/check.cc")
  set_tests_properties(aos_config_max_size_checked_at_build_time PROPERTIES
    LABELS events
    PASS_REGULAR_EXPRESSION "CheckMaxSize[^\n]*kChannel = [^\n]*/test aos.TestMessage[^\n]*kSmallestLegalMaxSize = [0-9]+; [a-z ]*kMaxSize = 8")
endif()
