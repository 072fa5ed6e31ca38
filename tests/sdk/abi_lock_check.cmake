# abi_lock_test: fails when sdk/include/weft/weft_abi.h changed without an ABI version bump and an
# update of sdk/abi.lock.   cmake -DHEADER=<weft_abi.h> -DLOCK=<abi.lock> -P abi_lock_check.cmake
#
# abi.lock holds one non-comment line "<major>.<minor> <sha256 of weft_abi.h>".
include(${CMAKE_CURRENT_LIST_DIR}/../../sdk/cmake/WeftPluginHelpers.cmake)

file(SHA256 "${HEADER}" _sha)
weft_sdk_abi_version("${HEADER}" _version)

file(STRINGS "${LOCK}" _lines REGEX "^[0-9]+\\.[0-9]+ [0-9a-f]+$")
list(LENGTH _lines _n)
if(NOT _n EQUAL 1)
  message(FATAL_ERROR "abi_lock_test: ${LOCK} must contain exactly one line \"<major>.<minor> <sha256>\"; "
                      "expected:\n${_version} ${_sha}")
endif()
string(REGEX REPLACE "^([0-9]+\\.[0-9]+) ([0-9a-f]+)$" "\\1" _lock_version "${_lines}")
string(REGEX REPLACE "^([0-9]+\\.[0-9]+) ([0-9a-f]+)$" "\\2" _lock_sha "${_lines}")

if(_sha STREQUAL _lock_sha AND _version STREQUAL _lock_version)
  message(STATUS "abi_lock_test: weft_abi.h matches ABI ${_version} (${_sha})")
  return()
endif()

if(NOT _sha STREQUAL _lock_sha AND _version STREQUAL _lock_version)
  message(FATAL_ERROR
    "abi_lock_test: sdk/include/weft/weft_abi.h changed, but its ABI version is still ${_version}.\n"
    "Every change to the ABI header is a change of the contract with already-built plugins:\n"
    "  * if it only APPENDS (new fields at the end of a struct, new entries at the end of a function\n"
    "    table, new status codes/flags), bump WEFT_ABI_VERSION_MINOR;\n"
    "  * if it changes or removes anything existing, bump WEFT_ABI_VERSION_MAJOR (and reset MINOR);\n"
    "  * then write the new version and hash into sdk/abi.lock, and say in docs/plugin-abi.md what changed.\n"
    "(A pure comment/whitespace edit still needs the lock updated deliberately: revert it instead if\n"
    "it was not meant to be part of the ABI.)\n"
    "Current hash: ${_sha}")
endif()

# The version changed: the lock must follow it.
message(FATAL_ERROR
  "abi_lock_test: sdk/abi.lock records ABI ${_lock_version} (${_lock_sha}), but weft_abi.h is now ABI "
  "${_version} (${_sha}).\nIf the bump is intended, replace the line in sdk/abi.lock with:\n"
  "${_version} ${_sha}")
