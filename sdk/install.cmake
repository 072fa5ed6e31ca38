# Installation of the SDK (component "sdk"): headers, CMake helpers and a generated package config,
# so that an out-of-tree plugin needs only
#     find_package(WeftSDK REQUIRED)      # target WeftSDK::sdk, function weft_add_plugin()
# Install just the SDK with:  cmake --install <build> --prefix <dir> --component sdk
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

weft_sdk_abi_version(${CMAKE_CURRENT_SOURCE_DIR}/include/weft/weft_abi.h WEFT_SDK_ABI_VERSION)
set(WEFT_SDK_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/WeftSDK)

# In-tree code may spell the target the way out-of-tree plugins do.
if(NOT TARGET WeftSDK::sdk)
  add_library(WeftSDK::sdk ALIAS weft_sdk)
endif()

install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/weft
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT sdk
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

configure_package_config_file(
  ${CMAKE_CURRENT_SOURCE_DIR}/cmake/WeftSDKConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/WeftSDKConfig.cmake
  INSTALL_DESTINATION ${WEFT_SDK_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/WeftSDKConfigVersion.cmake
  VERSION ${WEFT_SDK_ABI_VERSION}
  COMPATIBILITY SameMajorVersion
  ARCH_INDEPENDENT)

install(FILES
    ${CMAKE_CURRENT_BINARY_DIR}/WeftSDKConfig.cmake
    ${CMAKE_CURRENT_BINARY_DIR}/WeftSDKConfigVersion.cmake
    ${CMAKE_CURRENT_SOURCE_DIR}/cmake/WeftPluginHelpers.cmake
    ${CMAKE_CURRENT_SOURCE_DIR}/cmake/WeftManifest.cmake
  DESTINATION ${WEFT_SDK_INSTALL_CMAKEDIR}
  COMPONENT sdk)
