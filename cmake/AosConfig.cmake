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
#   Flattens foo.json at build time with config_flattener: merges its imports,
#   validates it, embeds the schema of every channel's type (from the .bfbs of
#   the FLATBUFFERS targets and of every DEPS config's) and fails if a channel
#   has no schema. Produces ${CMAKE_CURRENT_BINARY_DIR}/name.json (multi-line,
#   with schemas), name.stripped.json (the same without schemas, for people)
#   and name.bfbs (binary, fastest to load), a target `name`, and the
#   variables ${name}_JSON, ${name}_STRIPPED_JSON and ${name}_BFBS in the
#   caller's scope. FLATTENER_FLAGS go to config_flattener, e.g.
#   --max_queue_memory_mib=4096 for a config whose queues really are that big
#   (see docs/decisions/configuration.md).

set(AOS_REFLECTION_SCHEMA ${CMAKE_SOURCE_DIR}/aos/reflection/reflection.fbs)
set(AOS_REFLECTION_INCLUDE_DIR ${CMAKE_BINARY_DIR}/aos/reflection/include)
set(_aos_reflection_header
    ${AOS_REFLECTION_INCLUDE_DIR}/flatbuffers/reflection_generated.h)

execute_process(
  COMMAND ${AOS_FLATC} --cpp --no-prefix --gen-object-api --gen-compare
          --reflect-names --gen-name-strings --cpp-std c++11
          -o ${AOS_REFLECTION_INCLUDE_DIR}/flatbuffers ${AOS_REFLECTION_SCHEMA}
  RESULT_VARIABLE _aos_flatc_result
  ERROR_VARIABLE _aos_flatc_error)
if(NOT _aos_flatc_result EQUAL 0)
  message(FATAL_ERROR "flatc failed on ${AOS_REFLECTION_SCHEMA}: ${_aos_flatc_error}")
endif()
# c++11 output declares `enum BaseType : int8_t`; the shipped header (which
# libflatbuffers was compiled against) declares `enum BaseType`. Keep the
# shipped declarations so both agree exactly.
file(READ ${_aos_reflection_header} _aos_reflection_text)
foreach(_aos_enum "BaseType : int8_t" "AdvancedFeatures : uint64_t")
  string(FIND "${_aos_reflection_text}" "enum ${_aos_enum} {" _aos_found)
  if(_aos_found EQUAL -1)
    message(FATAL_ERROR "flatc output changed: no 'enum ${_aos_enum}' in ${_aos_reflection_header}")
  endif()
  string(REGEX REPLACE " : .*" "" _aos_enum_name "${_aos_enum}")
  string(REPLACE "enum ${_aos_enum} {" "enum ${_aos_enum_name} {"
         _aos_reflection_text "${_aos_reflection_text}")
endforeach()
file(WRITE ${_aos_reflection_header} "${_aos_reflection_text}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${AOS_REFLECTION_SCHEMA})
include_directories(BEFORE SYSTEM ${AOS_REFLECTION_INCLUDE_DIR})

# aos/configuration.fbs is compiled by aos_flatbuffer in aos/CMakeLists.txt,
# after the components that include it; recording its path now lets their
# aos_flatbuffer(... DEPS aos_configuration_fbs) depend on it.
set_property(GLOBAL PROPERTY aos_configuration_fbs_SCHEMA
             ${CMAKE_SOURCE_DIR}/aos/configuration.fbs)

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
  foreach(dep ${ARG_DEPS})
    get_property(dep_schemas GLOBAL PROPERTY ${dep}_CONFIG_SCHEMAS)
    get_property(dep_sources GLOBAL PROPERTY ${dep}_CONFIG_SOURCES)
    if(NOT dep_sources)
      message(FATAL_ERROR "aos_config(${ARG_NAME}): ${dep} is not an aos_config target")
    endif()
    list(APPEND schemas ${dep_schemas})
    list(APPEND sources ${dep_sources})
    list(APPEND dep_targets ${dep})
  endforeach()
  list(REMOVE_DUPLICATES schemas)
  list(REMOVE_DUPLICATES sources)
  set_property(GLOBAL PROPERTY ${ARG_NAME}_CONFIG_SCHEMAS ${schemas})
  set_property(GLOBAL PROPERTY ${ARG_NAME}_CONFIG_SOURCES ${sources})

  add_custom_command(
    OUTPUT ${out_json} ${out_stripped} ${out_bfbs}
    COMMAND aos_config_flattener ${ARG_FLATTENER_FLAGS} ${src_abs} ${out_json}
            ${out_bfbs} ${schemas}
    DEPENDS ${sources} ${schemas} aos_config_flattener
    COMMENT "Flattening config ${ARG_NAME}"
    VERBATIM)
  add_custom_target(${ARG_NAME} ALL DEPENDS ${out_json} ${out_stripped}
                    ${out_bfbs})
  if(dep_targets)
    add_dependencies(${ARG_NAME} ${dep_targets})
  endif()
  set(${ARG_NAME}_JSON ${out_json} PARENT_SCOPE)
  set(${ARG_NAME}_STRIPPED_JSON ${out_stripped} PARENT_SCOPE)
  set(${ARG_NAME}_BFBS ${out_bfbs} PARENT_SCOPE)
endfunction()
