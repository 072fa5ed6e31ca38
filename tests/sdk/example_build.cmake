# sdk_example_build: installs the SDK from the build tree into a fresh prefix, then configures,
# builds and unit-tests sdk/examples/hello-plugin against that prefix ALONE (the example's sources
# are copied out of the repository first, so nothing can reach the source tree's include dirs).
#
#   cmake -DBUILD_DIR=<weft build> -DEXAMPLE_SRC=<sdk/examples/hello-plugin> -DWORK_DIR=<scratch>
#         -DSOURCE_DIR=<repo root> [-DGENERATOR=<cmake generator>] -P example_build.cmake
#
# On success WORK_DIR/plugin-dir.txt holds the directory with weft-hello.so + hello.plugin.json,
# for tests that load the example through the real registry (CTest fixture "weft_hello_plugin").
foreach(v BUILD_DIR EXAMPLE_SRC WORK_DIR SOURCE_DIR)
  if(NOT ${v})
    message(FATAL_ERROR "example_build.cmake: -D${v}= is required")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sdk_example_build: ${what} failed (${rc}):\n${ARGN}\n${out}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(src "${WORK_DIR}/src")
set(build "${WORK_DIR}/build")

# 1. Install the SDK component only.
run("installing the SDK" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component sdk)
foreach(f include/weft/weft_abi.h include/weft/sdk.hpp include/weft/testing/fake_host.hpp)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "sdk_example_build: the SDK install lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE config "${prefix}/*/WeftSDKConfig.cmake")
if(NOT config)
  message(FATAL_ERROR "sdk_example_build: the SDK install lacks WeftSDKConfig.cmake")
endif()

# 2. Configure and build the example out of the repository, against the prefix alone.
file(COPY "${EXAMPLE_SRC}/" DESTINATION "${src}")
set(gen)
if(GENERATOR)
  set(gen -G "${GENERATOR}")
endif()
run("configuring the example" ${CMAKE_COMMAND} -S "${src}" -B "${build}" ${gen}
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run("building the example" ${CMAKE_COMMAND} --build "${build}" -j 2)

# 3. The plugin and its manifest exist, and the manifest describes this very file.
set(so "${build}/plugins/weft-hello.so")
set(manifest "${build}/plugins/hello.plugin.json")
foreach(f "${so}" "${manifest}")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "sdk_example_build: ${f} was not produced")
  endif()
endforeach()
file(READ "${manifest}" mtext)
file(SHA256 "${so}" sha)
foreach(expect "\"name\": \"hello\"" "\"file\": \"weft-hello.so\"" "\"sha256\": \"${sha}\"" "\"abi\": {\"min\": \"1.0\"")
  string(FIND "${mtext}" "${expect}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "sdk_example_build: the manifest lacks ${expect}:\n${mtext}")
  endif()
endforeach()

# 4. Nothing was compiled against the source tree's headers.
file(READ "${build}/compile_commands.json" commands)
string(FIND "${commands}" "${SOURCE_DIR}/sdk/include" pos)
if(NOT pos EQUAL -1)
  message(FATAL_ERROR "sdk_example_build: the example was compiled with ${SOURCE_DIR}/sdk/include")
endif()
string(FIND "${commands}" "${prefix}/include" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "sdk_example_build: the example was not compiled against ${prefix}/include")
endif()

# 5. Its own unit tests (fake host) pass.
if(EXISTS "${build}/hello_tests")
  run("running the example's unit tests" ${CMAKE_CTEST_COMMAND} --test-dir "${build}" --output-on-failure)
else()
  message(STATUS "sdk_example_build: hello_tests not built (no GoogleTest); skipped")
endif()

file(WRITE "${WORK_DIR}/plugin-dir.txt" "${build}/plugins\n")
message(STATUS "sdk_example_build: OK, plugin in ${build}/plugins")
