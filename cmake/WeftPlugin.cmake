# In-tree access to the same plugin helper that the installed SDK ships.
include(${CMAKE_SOURCE_DIR}/sdk/cmake/WeftPluginHelpers.cmake)
