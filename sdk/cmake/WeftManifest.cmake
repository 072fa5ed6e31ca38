# Writes a plugin manifest (run by weft_add_plugin after each build; see WeftPluginHelpers.cmake).
#   -DPLUGIN_FILE= -DPLUGIN_NAME= -DPLUGIN_VERSION= -DABI_MIN= -DABI_MAX= -DDESCRIPTION= -DOUT=
# name/version/abi are validated by weft_add_plugin; the description is escaped for JSON here.
# Written to a temporary file and renamed, so a reader never sees half a manifest.
file(SHA256 "${PLUGIN_FILE}" _sha)
get_filename_component(_file "${PLUGIN_FILE}" NAME)
string(REPLACE "\\" "\\\\" _desc "${DESCRIPTION}")
string(REPLACE "\"" "\\\"" _desc "${_desc}")
string(REPLACE "\n" "\\n" _desc "${_desc}")
string(REPLACE "\r" "\\r" _desc "${_desc}")
string(REPLACE "\t" "\\t" _desc "${_desc}")
file(WRITE "${OUT}.tmp" "{\n  \"name\": \"${PLUGIN_NAME}\",\n  \"version\": \"${PLUGIN_VERSION}\",\n  \"description\": \"${_desc}\",\n  \"abi\": {\"min\": \"${ABI_MIN}\", \"max\": \"${ABI_MAX}\"},\n  \"file\": \"${_file}\",\n  \"sha256\": \"${_sha}\"\n}\n")
file(RENAME "${OUT}.tmp" "${OUT}")
