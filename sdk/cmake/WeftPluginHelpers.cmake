# weft_add_plugin(<target>
#     NAME <plugin name> VERSION <x.y.z>
#     [ABI_MIN <major.minor>] [ABI_MAX <major.minor>] [DESCRIPTION <text>]
#     [OUTPUT_DIR <dir>] SOURCES <files...>)
#
# Builds a Weft plugin as a MODULE library with hidden visibility and, after every build, writes
# its manifest <OUTPUT_DIR>/<NAME>.plugin.json with the file's sha256. The host only loads plugins
# through such manifests. Used both in-tree and by out-of-tree plugins via find_package(WeftSDK).
set(_WEFT_PLUGIN_HELPERS_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(weft_add_plugin target)
  cmake_parse_arguments(P "" "NAME;VERSION;ABI_MIN;ABI_MAX;DESCRIPTION;OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT P_NAME)
    set(P_NAME ${target})
  endif()
  if(NOT P_VERSION)
    set(P_VERSION "0.0.0")
  endif()
  if(NOT P_ABI_MIN)
    set(P_ABI_MIN "1.0")
  endif()
  if(NOT P_ABI_MAX)
    set(P_ABI_MAX "1.0")
  endif()
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
  # Refuse undefined symbols at link time: a plugin must be self-contained.
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
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
endfunction()
