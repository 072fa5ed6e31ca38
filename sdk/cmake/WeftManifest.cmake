# Writes a plugin manifest (run by weft_add_plugin after each build; see WeftPluginHelpers.cmake).
file(SHA256 "${PLUGIN_FILE}" _sha)
get_filename_component(_file "${PLUGIN_FILE}" NAME)
string(REPLACE "\\" "\\\\" _desc "${DESCRIPTION}")
string(REPLACE "\"" "\\\"" _desc "${_desc}")
file(WRITE "${OUT}.tmp" "{\n  \"name\": \"${PLUGIN_NAME}\",\n  \"version\": \"${PLUGIN_VERSION}\",\n  \"description\": \"${_desc}\",\n  \"abi\": {\"min\": \"${ABI_MIN}\", \"max\": \"${ABI_MAX}\"},\n  \"file\": \"${_file}\",\n  \"sha256\": \"${_sha}\"\n}\n")
file(RENAME "${OUT}.tmp" "${OUT}")
