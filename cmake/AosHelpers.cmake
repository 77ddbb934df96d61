# Helpers for building AOS and applications on AOS. Included by the
# top-level CMakeLists.txt of AOS, and by an installed AOS's package config
# (find_package(aos)), so they work the same in the AOS tree, in a project
# that add_subdirectory()s AOS, and in a project built against an installed
# AOS. They never use CMAKE_SOURCE_DIR: paths are relative to the calling
# project (PROJECT_SOURCE_DIR / PROJECT_BINARY_DIR) or come from the global
# properties below.
#
#   aos_library(NAME name SRCS a.cc ... [HDRS ...] [DEPS target ...])
#     A static library with our warning flags. It, aos_binary and aos_test
#     put the project's source directory on the include path, so a project's
#     headers are included by their path from its root.
#   aos_flatbuffer(NAME name SCHEMA foo.fbs [STATIC] [INCLUDE_DIRS dir ...]
#                  [DEPS name ...])
#     Compiles foo.fbs into foo_generated.h (at the schema's path relative to
#     the project's source directory, under the project's binary directory)
#     and foo.bfbs, and makes an INTERFACE target `name` that depends on both
#     and puts that binary directory on its users' include path: a schema at
#     <project>/robot/foo.fbs is included as "robot/foo_generated.h".
#     ${name}_BFBS holds the path of the binary schema. Schemas may include
#     AOS's own (`include "aos/configuration.fbs";`).
#     With STATIC it also generates foo_static.h, the static flatbuffer API
#     (aos/flatbuffers/static_table.h); schemas it includes tables from must
#     be STATIC too, and be in DEPS.
#   aos_test(NAME name SRCS a_test.cc ... [DEPS ...] [LABELS ...])
#     A GoogleTest binary linked with aos/testing's main (InitGoogle plus a
#     private temporary shm base), registered with CTest test by test. With
#     the label `tsan` it is also built by the `tsan_tests` target, which is
#     all the ThreadSanitizer pass of CI builds.
#   aos_binary(NAME name SRCS ... [DEPS ...])
#     A program with our warning flags.
#
# Global properties they read (set by AOS's CMakeLists.txt, or by the
# installed package config):
#   AOS_FBS_INCLUDE_DIR     where "aos/....fbs" schemas are found
#   AOS_STATIC_GENERATOR    the static flatbuffer generator (a target)
#   AOS_STATIC_FLATBUFFERS  the library generated static headers need
#   AOS_TEST_MAIN           the test main library

# Our own code is warning-free; dependencies' headers are included as system.
# Sanitizer builds do not turn warnings into errors: instrumented code at -O1
# makes g++'s flow-based warnings report false positives (e.g.
# -Wstringop-overread in flatbuffers' reflection header); the Release build
# is the one that keeps the code warning-free.
if(AOS_ASAN OR AOS_TSAN)
  set(AOS_WARNINGS -Wall -Wextra)
else()
  set(AOS_WARNINGS -Wall -Wextra -Werror)
endif()

# Command and dependency of a custom command running `tool` (an executable
# target, built here or imported from an installed AOS).
function(_aos_tool_command tool out_command out_depends)
  get_target_property(imported ${tool} IMPORTED)
  set(${out_command} $<TARGET_FILE:${tool}> PARENT_SCOPE)
  if(imported)
    set(${out_depends} $<TARGET_FILE:${tool}> PARENT_SCOPE)
  else()
    set(${out_depends} ${tool} PARENT_SCOPE)
  endif()
endfunction()

function(aos_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  if(ARG_SRCS)
    add_library(${ARG_NAME} STATIC ${ARG_SRCS} ${ARG_HDRS})
    target_compile_options(${ARG_NAME} PRIVATE ${AOS_WARNINGS})
    target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
    target_include_directories(${ARG_NAME} PUBLIC
                               $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  else()
    add_library(${ARG_NAME} INTERFACE ${ARG_HDRS})
    target_link_libraries(${ARG_NAME} INTERFACE ${ARG_DEPS})
    target_include_directories(${ARG_NAME} INTERFACE
                               $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  endif()
endfunction()

function(aos_flatbuffer)
  cmake_parse_arguments(ARG "STATIC" "NAME;SCHEMA" "INCLUDE_DIRS;DEPS" ${ARGN})
  get_filename_component(schema_abs ${ARG_SCHEMA} ABSOLUTE)
  get_filename_component(schema_stem ${ARG_SCHEMA} NAME_WE)
  file(RELATIVE_PATH rel_dir ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set(out_dir ${PROJECT_BINARY_DIR}/${rel_dir})
  set(header ${out_dir}/${schema_stem}_generated.h)
  set(bfbs ${out_dir}/${schema_stem}.bfbs)
  get_property(aos_fbs_dir GLOBAL PROPERTY AOS_FBS_INCLUDE_DIR)
  set(include_flags -I ${PROJECT_SOURCE_DIR})
  if(NOT aos_fbs_dir STREQUAL PROJECT_SOURCE_DIR)
    list(APPEND include_flags -I ${aos_fbs_dir})
  endif()
  foreach(dir ${ARG_INCLUDE_DIRS})
    list(APPEND include_flags -I ${dir})
  endforeach()
  set(dep_schemas)
  foreach(dep ${ARG_DEPS})
    get_property(dep_schema GLOBAL PROPERTY ${dep}_SCHEMA)
    list(APPEND dep_schemas ${dep_schema})
  endforeach()
  add_custom_command(
    OUTPUT ${header} ${bfbs}
    COMMAND ${AOS_FLATC} --cpp --gen-object-api --gen-mutable --gen-compare --reflect-names
            --keep-prefix --cpp-std c++17 --gen-name-strings
            ${include_flags} -o ${out_dir} ${schema_abs}
    COMMAND ${AOS_FLATC} --binary --schema --bfbs-comments --bfbs-builtins
            ${include_flags} -o ${out_dir} ${schema_abs}
    DEPENDS ${schema_abs} ${dep_schemas} ${AOS_FLATC}
    COMMENT "flatc ${ARG_SCHEMA}"
    VERBATIM)
  set(outputs ${header} ${bfbs})
  set(static_deps)
  if(ARG_STATIC)
    # The generator (aos/flatbuffers) reads the .bfbs just written.
    set(static_header ${out_dir}/${schema_stem}_static.h)
    file(RELATIVE_PATH schema_rel ${PROJECT_SOURCE_DIR} ${schema_abs})
    get_property(generator GLOBAL PROPERTY AOS_STATIC_GENERATOR)
    _aos_tool_command(${generator} generator_command generator_depends)
    add_custom_command(
      OUTPUT ${static_header}
      COMMAND ${generator_command} --bfbs=${bfbs}
              --schema=${schema_rel} --output=${static_header}
      DEPENDS ${bfbs} ${generator_depends}
      COMMENT "static flatbuffers ${ARG_SCHEMA}"
      VERBATIM)
    list(APPEND outputs ${static_header})
    get_property(static_deps GLOBAL PROPERTY AOS_STATIC_FLATBUFFERS)
    # For aos_config's build-time max_size check: how to include it.
    file(RELATIVE_PATH static_include ${PROJECT_BINARY_DIR} ${static_header})
    set_property(GLOBAL PROPERTY ${ARG_NAME}_STATIC_INCLUDE ${static_include})
  endif()
  add_custom_target(${ARG_NAME}_gen DEPENDS ${outputs})
  add_library(${ARG_NAME} INTERFACE)
  add_dependencies(${ARG_NAME} ${ARG_NAME}_gen)
  target_link_libraries(${ARG_NAME} INTERFACE flatbuffers::flatbuffers_shared ${ARG_DEPS}
                        ${static_deps})
  target_include_directories(${ARG_NAME} INTERFACE
                             $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>)
  set_property(GLOBAL PROPERTY ${ARG_NAME}_SCHEMA ${schema_abs})
  set(${ARG_NAME}_BFBS ${bfbs} PARENT_SCOPE)
  set_property(GLOBAL PROPERTY ${ARG_NAME}_BFBS ${bfbs})
endfunction()

function(aos_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${AOS_WARNINGS})
  get_property(test_main GLOBAL PROPERTY AOS_TEST_MAIN)
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} ${test_main} GTest::gmock)
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT 300)
  # PROPERTIES would split a list of labels (keeping only the first), so the
  # labels are set by a script CTest runs after the discovered tests are
  # defined. ${ARG_NAME}_TESTS is the discovery's list of test names; it only
  # exists once the binary has been built.
  if(ARG_LABELS)
    set(labels_script ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_labels.cmake)
    file(WRITE ${labels_script}
         "if(${ARG_NAME}_TESTS)\n"
         "  set_tests_properties(\${${ARG_NAME}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\n"
         "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${labels_script})
  endif()
  if("tsan" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY AOS_TSAN_TESTS ${ARG_NAME})
  endif()
endfunction()

# Call once, after every aos_test: makes `tsan_tests`, which builds the test
# binaries labelled `tsan`.
function(aos_add_tsan_tests_target)
  get_property(tests GLOBAL PROPERTY AOS_TSAN_TESTS)
  add_custom_target(tsan_tests)
  if(tests)
    add_dependencies(tsan_tests ${tests})
  endif()
endfunction()

function(aos_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${AOS_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
endfunction()
