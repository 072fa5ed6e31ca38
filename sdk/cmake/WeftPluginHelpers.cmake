# weft_add_plugin(<target>
#     NAME <plugin name> VERSION <x.y.z>
#     [ABI_MIN <major.minor>] [ABI_MAX <major.minor>] [DESCRIPTION <text>]
#     [OUTPUT_DIR <dir>] SOURCES <files...>)
#
# Builds a Weft plugin as a MODULE library with hidden visibility and, after every build, writes
# its manifest <OUTPUT_DIR>/<NAME>.plugin.json with the file's sha256. The host only loads plugins
# through such manifests. Used both in-tree and by out-of-tree plugins via find_package(WeftSDK).
#
#   NAME        [a-z0-9_.-]+; the file is weft-<NAME>.so. Default: <target>.
#   VERSION     the plugin's own version (shown by `weft plugins`). Default: 0.0.0.
#   ABI_MIN/MAX the ABI range the plugin speaks, written to the manifest so the host can refuse an
#               incompatible plugin before loading it. Default: what weft/sdk.hpp speaks, i.e.
#               <major>.0 up to the version of the weft_abi.h it is compiled against.
#   OUTPUT_DIR  where the .so and the manifest go. Default: ${WEFT_PLUGIN_OUTPUT_DIR} when set
#               (in-tree: <build>/plugins), else ${CMAKE_CURRENT_BINARY_DIR}/plugins.
set(_WEFT_PLUGIN_HELPERS_DIR "${CMAKE_CURRENT_LIST_DIR}")

# weft_sdk_abi_version(<weft_abi.h> <out_var>): "<major>.<minor>" as declared by the header.
function(weft_sdk_abi_version header out_var)
  file(STRINGS "${header}" _major REGEX "^#define WEFT_ABI_VERSION_MAJOR [0-9]+")
  file(STRINGS "${header}" _minor REGEX "^#define WEFT_ABI_VERSION_MINOR [0-9]+")
  string(REGEX REPLACE "^#define WEFT_ABI_VERSION_MAJOR ([0-9]+).*" "\\1" _major "${_major}")
  string(REGEX REPLACE "^#define WEFT_ABI_VERSION_MINOR ([0-9]+).*" "\\1" _minor "${_minor}")
  if(NOT _major MATCHES "^[0-9]+$" OR NOT _minor MATCHES "^[0-9]+$")
    message(FATAL_ERROR "weft_sdk_abi_version: cannot read WEFT_ABI_VERSION_MAJOR/MINOR from ${header}")
  endif()
  set(${out_var} "${_major}.${_minor}" PARENT_SCOPE)
endfunction()

# The ABI version of the SDK in use: set by WeftSDKConfig.cmake for an installed SDK; in-tree it is
# read from the header next to this file.
if(NOT DEFINED WEFT_SDK_ABI_VERSION)
  if(EXISTS "${_WEFT_PLUGIN_HELPERS_DIR}/../include/weft/weft_abi.h")
    weft_sdk_abi_version("${_WEFT_PLUGIN_HELPERS_DIR}/../include/weft/weft_abi.h" WEFT_SDK_ABI_VERSION)
  else()
    set(WEFT_SDK_ABI_VERSION "1.0")
  endif()
endif()

function(weft_add_plugin target)
  cmake_parse_arguments(P "" "NAME;VERSION;ABI_MIN;ABI_MAX;DESCRIPTION;OUTPUT_DIR" "SOURCES" ${ARGN})
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "weft_add_plugin(${target}): unknown arguments: ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "weft_add_plugin(${target}): SOURCES is required")
  endif()
  if(NOT P_NAME)
    set(P_NAME ${target})
  endif()
  if(NOT P_VERSION)
    set(P_VERSION "0.0.0")
  endif()
  string(REGEX MATCH "^[0-9]+" _abi_major "${WEFT_SDK_ABI_VERSION}")
  if(NOT P_ABI_MIN)
    set(P_ABI_MIN "${_abi_major}.0")
  endif()
  if(NOT P_ABI_MAX)
    set(P_ABI_MAX "${WEFT_SDK_ABI_VERSION}")
  endif()
  # The manifest is JSON written by string concatenation: only accept values that need no escaping
  # (and that the registry accepts anyway).
  if(NOT P_NAME MATCHES "^[a-z0-9_.-]+$")
    message(FATAL_ERROR "weft_add_plugin(${target}): NAME \"${P_NAME}\" must be [a-z0-9_.-]+")
  endif()
  if(NOT P_VERSION MATCHES "^[0-9A-Za-z.+-]+$")
    message(FATAL_ERROR "weft_add_plugin(${target}): VERSION \"${P_VERSION}\" must look like 1.2.3")
  endif()
  foreach(_v P_ABI_MIN P_ABI_MAX)
    if(NOT ${_v} MATCHES "^[0-9]+\\.[0-9]+$")
      message(FATAL_ERROR "weft_add_plugin(${target}): ${_v} \"${${_v}}\" must be <major>.<minor>")
    endif()
  endforeach()
  if(NOT P_OUTPUT_DIR)
    if(DEFINED WEFT_PLUGIN_OUTPUT_DIR)
      set(P_OUTPUT_DIR ${WEFT_PLUGIN_OUTPUT_DIR})
    else()
      set(P_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/plugins)
    endif()
  endif()
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "weft-${P_NAME}"
    LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(TARGET WeftSDK::sdk)
    target_link_libraries(${target} PRIVATE WeftSDK::sdk)
  elseif(TARGET weft_sdk)
    target_link_libraries(${target} PRIVATE weft_sdk)
  endif()
  if(NOT APPLE)
    # Refuse undefined symbols at link time: a plugin must be self-contained.
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
    # No C++ symbol leaves a plugin. Hidden visibility is not enough: template instantiations from
    # the standard library headers (declared with default visibility there) would otherwise be
    # exported and could be interposed between plugins. C symbols a plugin exports on purpose
    # (the weft_plugin_* entry points, WEFT_EXPORT data) stay visible.
    set(_map "${CMAKE_CURRENT_BINARY_DIR}/weft-plugin-exports.map")
    if(NOT EXISTS "${_map}")
      file(WRITE "${_map}" "{\n  local:\n    _Z*;\n};\n")
    endif()
    target_link_options(${target} PRIVATE "-Wl,--version-script=${_map}")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${_map}")
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND}
      -DPLUGIN_FILE=$<TARGET_FILE:${target}>
      -DPLUGIN_NAME=${P_NAME}
      -DPLUGIN_VERSION=${P_VERSION}
      -DABI_MIN=${P_ABI_MIN}
      -DABI_MAX=${P_ABI_MAX}
      "-DDESCRIPTION=${P_DESCRIPTION}"
      -DOUT=${P_OUTPUT_DIR}/${P_NAME}.plugin.json
      -P ${_WEFT_PLUGIN_HELPERS_DIR}/WeftManifest.cmake
    VERBATIM)
  set_target_properties(${target} PROPERTIES
    WEFT_PLUGIN_NAME "${P_NAME}"
    WEFT_PLUGIN_MANIFEST "${P_OUTPUT_DIR}/${P_NAME}.plugin.json")
endfunction()
