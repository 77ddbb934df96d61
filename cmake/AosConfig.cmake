# Build support for AOS configurations (issue 4). Included once from the
# top-level CMakeLists.txt, before any component, because of (1).
#
# (1) The reflection schema header.
#   aos/configuration.fbs embeds each channel's schema as a `reflection.Schema`
#   table. Debian's flatbuffers 2.0.8 ships <flatbuffers/reflection_generated.h>
#   but not reflection.fbs, and the shipped header was generated without the
#   object API and mini-reflection, which our generated code (aos_flatbuffer
#   passes --gen-object-api --reflect-names) needs for every table it refers to
#   (ChannelT holds a reflection::SchemaT, ChannelTypeTable refers to
#   reflection::SchemaTypeTable). So:
#   - aos/reflection/reflection.fbs restates the shipped schema field for field;
#   - here, at configure time, flatc generates from it a full
#     <build>/aos/reflection/include/flatbuffers/reflection_generated.h with the
#     shipped header's enum style (--no-prefix, unscoped, no explicit
#     underlying type) plus the object API and mini-reflection;
#   - that directory is searched before /usr/include for every target, so the
#     one definition of the reflection types that any of our code (and
#     flatbuffers' own reflection.h / idl.h, which include it by that path)
#     sees is the full one. Both are generated from the same schema and have
#     the same include guard and layout, so flatbuffers' library is unaffected.
#   - generated code includes "aos/reflection/reflection_generated.h" (flatc
#     --keep-prefix keeps the include path of configuration.fbs), a one-line
#     header in the source tree that includes <flatbuffers/reflection_generated.h>.
#   The header is made at configure time (and again when reflection.fbs
#   changes) so that it exists before anything compiles, whatever the order.
#
# (2) aos_config(NAME name SRC foo.json [FLATBUFFERS fbs_target ...]
#                [DEPS other_aos_config ...] [FLATTENER_FLAGS --flag=value ...])
#   Flattens foo.json at build time with config_flattener: merges its imports
#   (looked for beside the importing file, then under AOS's root, so
#   "aos/events/aos.json" is found in the AOS tree and in an installed AOS),
#   validates it, embeds the schema of every channel's type (from the .bfbs of
#   the FLATBUFFERS targets and of every DEPS config's) and fails if a channel
#   has no schema. The schemas of aos_events_config (the /aos channels) are
#   always included. For channels whose type has a static API (a STATIC
#   aos_flatbuffer in FLATBUFFERS), the build fails if max_size is below the
#   static message's size, naming the smallest legal max_size. Produces ${CMAKE_CURRENT_BINARY_DIR}/name.json (multi-line,
#   with schemas), name.stripped.json (the same without schemas, for people)
#   and name.bfbs (binary, fastest to load), a target `name`, and the
#   variables ${name}_JSON, ${name}_STRIPPED_JSON and ${name}_BFBS in the
#   caller's scope. FLATTENER_FLAGS go to config_flattener, e.g.
#   --max_queue_memory_mib=4096 for a config whose queues really are that big
#   (see docs/decisions/configuration.md).

# AOS_INSTALLED is set by an installed AOS's package config: the reflection
# header and AOS's schemas are then installed files, not built here.
if(NOT AOS_INSTALLED)
  set(AOS_REFLECTION_SCHEMA ${PROJECT_SOURCE_DIR}/aos/reflection/reflection.fbs)
  set(AOS_REFLECTION_INCLUDE_DIR ${PROJECT_BINARY_DIR}/aos/reflection/include)
  set(_aos_reflection_header
      ${AOS_REFLECTION_INCLUDE_DIR}/flatbuffers/reflection_generated.h)
  # flatc writes into a staging directory; the header itself is only
  # rewritten when its content changes, so that re-running CMake does not
  # recompile everything that includes it.
  set(_aos_reflection_staging ${PROJECT_BINARY_DIR}/aos/reflection/staging)

  execute_process(
    COMMAND ${AOS_FLATC} --cpp --no-prefix --gen-object-api --gen-compare
            --reflect-names --gen-name-strings --cpp-std c++11
            -o ${_aos_reflection_staging} ${AOS_REFLECTION_SCHEMA}
    RESULT_VARIABLE _aos_flatc_result
    ERROR_VARIABLE _aos_flatc_error)
  if(NOT _aos_flatc_result EQUAL 0)
    message(FATAL_ERROR "flatc failed on ${AOS_REFLECTION_SCHEMA}: ${_aos_flatc_error}")
  endif()
  # c++11 output declares `enum BaseType : int8_t`; the shipped header (which
  # libflatbuffers was compiled against) declares `enum BaseType`. Keep the
  # shipped declarations so both agree exactly.
  file(READ ${_aos_reflection_staging}/reflection_generated.h _aos_reflection_text)
  foreach(_aos_enum "BaseType : int8_t" "AdvancedFeatures : uint64_t")
    string(FIND "${_aos_reflection_text}" "enum ${_aos_enum} {" _aos_found)
    if(_aos_found EQUAL -1)
      message(FATAL_ERROR "flatc output changed: no 'enum ${_aos_enum}' in ${_aos_reflection_staging}/reflection_generated.h")
    endif()
    string(REGEX REPLACE " : .*" "" _aos_enum_name "${_aos_enum}")
    string(REPLACE "enum ${_aos_enum} {" "enum ${_aos_enum_name} {"
           _aos_reflection_text "${_aos_reflection_text}")
  endforeach()
  file(MAKE_DIRECTORY ${AOS_REFLECTION_INCLUDE_DIR}/flatbuffers)
  file(WRITE ${_aos_reflection_staging}/reflection_generated.h.final
       "${_aos_reflection_text}")
  file(COPY_FILE ${_aos_reflection_staging}/reflection_generated.h.final
       ${_aos_reflection_header} ONLY_IF_DIFFERENT)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${AOS_REFLECTION_SCHEMA})
  include_directories(BEFORE SYSTEM ${AOS_REFLECTION_INCLUDE_DIR})

  # aos/configuration.fbs is compiled by aos_flatbuffer in aos/CMakeLists.txt,
  # after the components that include it; recording its path now lets their
  # aos_flatbuffer(... DEPS aos_configuration_fbs) depend on it.
  set_property(GLOBAL PROPERTY aos_configuration_fbs_SCHEMA
               ${PROJECT_SOURCE_DIR}/aos/configuration.fbs)
endif()

function(aos_config)
  cmake_parse_arguments(ARG "" "NAME;SRC" "FLATBUFFERS;DEPS;FLATTENER_FLAGS"
                        ${ARGN})
  get_filename_component(src_abs ${ARG_SRC} ABSOLUTE)
  set(out_json ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.json)
  set(out_bfbs ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.bfbs)
  # Written by the flattener beside out_json.
  set(out_stripped ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.stripped.json)

  # Schemas and source files, including those of the configs we depend on
  # (their files are what foo.json imports).
  set(schemas)
  foreach(fbs ${ARG_FLATBUFFERS})
    get_property(bfbs GLOBAL PROPERTY ${fbs}_BFBS)
    if(NOT bfbs)
      message(FATAL_ERROR "aos_config(${ARG_NAME}): ${fbs} is not an aos_flatbuffer target")
    endif()
    list(APPEND schemas ${bfbs})
  endforeach()
  set(sources ${src_abs})
  set(dep_targets ${ARG_FLATBUFFERS})
  # Every application config imports aos/events/aos.json (the /aos channels
  # every process needs), so its schemas are always embedded: the implicit
  # dependency on aos_events_config (defined in aos/examples, or by an
  # installed AOS's package config).
  set(deps ${ARG_DEPS})
  get_property(have_events_config GLOBAL PROPERTY aos_events_config_CONFIG_SOURCES SET)
  if(have_events_config AND NOT ARG_NAME STREQUAL "aos_events_config")
    list(APPEND deps aos_events_config)
  endif()
  list(REMOVE_DUPLICATES deps)
  foreach(dep ${deps})
    get_property(dep_schemas GLOBAL PROPERTY ${dep}_CONFIG_SCHEMAS)
    get_property(dep_sources GLOBAL PROPERTY ${dep}_CONFIG_SOURCES)
    if(NOT dep_sources)
      message(FATAL_ERROR "aos_config(${ARG_NAME}): ${dep} is not an aos_config target")
    endif()
    list(APPEND schemas ${dep_schemas})
    list(APPEND sources ${dep_sources})
    # An installed AOS's configs are files, not targets.
    if(TARGET ${dep})
      list(APPEND dep_targets ${dep})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES schemas)
  list(REMOVE_DUPLICATES sources)
  set_property(GLOBAL PROPERTY ${ARG_NAME}_CONFIG_SCHEMAS ${schemas})
  set_property(GLOBAL PROPERTY ${ARG_NAME}_CONFIG_SOURCES ${sources})

  # Imports not found beside the importing file are looked for under AOS's
  # root, so `"imports": ["aos/events/aos.json"]` works from any project.
  get_property(import_dir GLOBAL PROPERTY AOS_CONFIG_IMPORT_DIR)
  get_property(flattener GLOBAL PROPERTY AOS_CONFIG_FLATTENER)
  _aos_tool_command(${flattener} flattener_command flattener_depends)

  # The build-time max_size check: the flattener writes a C++ file with a
  # static_assert per channel whose type has a static API (STATIC
  # FLATBUFFERS), and compiling it (the ${name}_max_size_check object
  # library, built with the config) fails naming the channel and the
  # smallest legal max_size, before any program can send.
  set(static_pairs)
  set(static_targets)
  foreach(fbs ${ARG_FLATBUFFERS})
    get_property(static_include GLOBAL PROPERTY ${fbs}_STATIC_INCLUDE)
    if(static_include)
      get_property(bfbs GLOBAL PROPERTY ${fbs}_BFBS)
      list(APPEND static_pairs "${bfbs}=${static_include}")
      list(APPEND static_targets ${fbs})
    endif()
  endforeach()
  set(check_flags)
  set(out_check)
  if(static_pairs)
    set(out_check ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_max_size_check.cc)
    string(REPLACE ";" "," static_pairs "${static_pairs}")
    set(check_flags --static_headers=${static_pairs}
                    --max_size_check=${out_check})
  endif()
  add_custom_command(
    OUTPUT ${out_json} ${out_stripped} ${out_bfbs} ${out_check}
    COMMAND ${flattener_command} --import_path=${import_dir} ${check_flags}
            ${ARG_FLATTENER_FLAGS} ${src_abs} ${out_json} ${out_bfbs} ${schemas}
    DEPENDS ${sources} ${schemas} ${flattener_depends}
    COMMENT "Flattening config ${ARG_NAME}"
    VERBATIM)
  add_custom_target(${ARG_NAME} ALL DEPENDS ${out_json} ${out_stripped}
                    ${out_bfbs})
  if(dep_targets)
    add_dependencies(${ARG_NAME} ${dep_targets})
  endif()
  if(out_check)
    add_library(${ARG_NAME}_max_size_check OBJECT ${out_check})
    target_link_libraries(${ARG_NAME}_max_size_check PRIVATE ${static_targets})
    add_dependencies(${ARG_NAME} ${ARG_NAME}_max_size_check)
  endif()
  set(${ARG_NAME}_JSON ${out_json} PARENT_SCOPE)
  set(${ARG_NAME}_STRIPPED_JSON ${out_stripped} PARENT_SCOPE)
  set(${ARG_NAME}_BFBS ${out_bfbs} PARENT_SCOPE)
endfunction()
