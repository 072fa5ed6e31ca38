# Installs the Node packages of tests/api/package.json (pinned by package-lock.json) into NPM_DIR,
# for tests/api/validate_openapi.mjs. Run as a CTest fixture (openapi_npm_install):
#   cmake -DSOURCE_DIR=<tests/api> -DNPM_DIR=<build>/npm -P npm_install.cmake
# Skips the install when NPM_DIR already holds exactly this lock file and its packages. Fails
# (never skips) when node or npm is missing: scripts/deps.sh installs them.
foreach(v SOURCE_DIR NPM_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "npm_install.cmake: -D${v}=... is required")
  endif()
endforeach()

find_program(WEFT_NODE node)
find_program(WEFT_NPM npm)
if(NOT WEFT_NODE OR NOT WEFT_NPM)
  message(FATAL_ERROR "openapi validator: node and npm are required (node: '${WEFT_NODE}', npm: '${WEFT_NPM}'); "
                      "install them with scripts/deps.sh (Debian packages nodejs and npm)")
endif()

set(lock ${SOURCE_DIR}/package-lock.json)
set(installed_lock ${NPM_DIR}/package-lock.json)
set(marker ${NPM_DIR}/node_modules/.weft-lock.sha256)
file(SHA256 ${lock} want)
if(EXISTS ${marker} AND EXISTS ${NPM_DIR}/node_modules/@apidevtools/swagger-parser/package.json
   AND EXISTS ${NPM_DIR}/node_modules/ajv/package.json)
  file(READ ${marker} have)
  string(STRIP "${have}" have)
  if(have STREQUAL want)
    message(STATUS "openapi validator: packages already installed in ${NPM_DIR}")
    return()
  endif()
endif()

file(MAKE_DIRECTORY ${NPM_DIR})
file(COPY ${SOURCE_DIR}/package.json ${lock} DESTINATION ${NPM_DIR})
message(STATUS "openapi validator: npm ci into ${NPM_DIR}")
execute_process(
  COMMAND ${WEFT_NPM} ci --prefix ${NPM_DIR} --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${NPM_DIR}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  TIMEOUT 540)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "openapi validator: 'npm ci' in ${NPM_DIR} failed (${rc}):\n${out}\n${err}")
endif()
file(WRITE ${marker} "${want}\n")
message(STATUS "openapi validator: installed")
