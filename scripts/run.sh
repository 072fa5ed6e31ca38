#!/usr/bin/env bash
# Builds Weft (same build/ directory and settings as scripts/test.sh, so switching between the two
# does not reconfigure) and runs an example workflow once from the command line.
#
#   scripts/run.sh                                   runs examples/hello.json
#   scripts/run.sh examples/NAME.json [weft run options, e.g. --input '{"x":1}']
#
# Reads the same environment as scripts/build.sh (WEFT_BUILD_DIR, WEFT_BUILD_TYPE, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${WEFT_BUILD_DIR:-build}
case $BUILD_DIR in
  /*) WEFT="$BUILD_DIR/weft" ;;
  *) WEFT="./$BUILD_DIR/weft" ;;
esac
if [ $# -eq 0 ]; then set -- examples/hello.json; fi
WORKFLOW=$1

if [ ! -f "$WORKFLOW" ]; then
  shopt -s nullglob
  examples=(examples/*.json)
  echo "run: error: workflow file $WORKFLOW not found (available: ${examples[*]:-none})" >&2
  exit 1
fi

./scripts/build.sh

if [ ! -x "$WEFT" ]; then
  echo "run: error: the build finished but $WEFT does not exist (or is not executable)." >&2
  echo "run: the weft command-line binary is expected there; check that the top-level" >&2
  echo "run: CMakeLists.txt builds the 'weft' target into $BUILD_DIR/." >&2
  exit 1
fi

mkdir -p var
echo
echo "run: $WEFT run $*"
echo "------------------------------------------------------------------------------------------"
rc=0
"$WEFT" run "$@" || rc=$?
echo "------------------------------------------------------------------------------------------"
if [ "$rc" -ne 0 ]; then
  echo "run: weft run exited with status $rc (see the messages above)." >&2
  exit "$rc"
fi

cat <<EOF

What happened:
  * weft loaded its plugins from $BUILD_DIR/plugins (each checked against its manifest's sha256
    and ABI range): the core node pack and the SQLite and PostgreSQL storage backends;
  * it compiled $WORKFLOW: every node type, handle, parameter, expression and edge was
    checked before anything ran (try '$WEFT validate' on a broken file to see all problems at once);
  * it executed the nodes in dependency order and committed each node's result, log and events
    to the SQLite database ./var/weft.db before any dependent node started, so a crash resumes
    from the last committed node ('$WEFT worker --until-idle' finishes interrupted runs);
  * the numbered lines above are those events, in order; the REST API (next milestone) streams
    the same events to clients over Server-Sent Events.

Try more:
EOF
printf '  %-56s %s\n' \
  "$WEFT run examples/<name>.json --input '{\"x\":1}'" "run another example with an input" \
  "$WEFT validate examples/<name>.json" "compile and check a workflow without running it" \
  "$WEFT nodes" "list the available node types" \
  "$WEFT plugins list" "list the loaded plugins" \
  "ls examples/" "the example workflows"
