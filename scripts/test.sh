#!/usr/bin/env bash
# Builds Weft with tests and runs the whole test suite against a throwaway PostgreSQL.
# Works as root on a fresh Debian 12 clone, never prompts, and can be re-run at will.
#
#   1. scripts/deps.sh, CMake configure + build      (scripts/build.sh)
#   2. a private PostgreSQL on a free loopback port  (scripts/pg-temp.sh start)
#      -> exports WEFT_TEST_PG_URL    = postgresql://weft@127.0.0.1:PORT/weft_test
#                 WEFT_TEST_PG_CONNSTR = host=127.0.0.1 port=PORT user=weft dbname=weft_test
#   3. ctest --output-on-failure -j2 over the whole suite
#   4. PostgreSQL is stopped and its directory removed on every exit path (success, failure,
#      build error, Ctrl-C), silently, so CTest's summary stays the last thing printed.
#
# By default the suite runs once, in the sanitizer build (build-asan/: AddressSanitizer +
# UndefinedBehaviorSanitizer, -O0): every test then also fails on a memory error or undefined
# behaviour that an optimised build would let pass silently. The same sources built optimised
# (build/, what scripts/run.sh serves) can run it too, or instead:
#
#   WEFT_TEST_PASSES="sanitize"          (default) the whole suite under ASan + UBSan
#   WEFT_TEST_PASSES="release"           the whole suite in the optimised build (build/)
#   WEFT_TEST_PASSES="sanitize release"  both, one after the other (about twice the time)
#
# Exit status: CTest's (or the failing step's); with two passes, non-zero if either failed.
#
# Environment (besides what scripts/build.sh reads: WEFT_BUILD_DIR, WEFT_BUILD_TYPE,
# WEFT_CMAKE_ARGS, WEFT_GENERATOR, WEFT_JOBS, WEFT_SKIP_DEPS):
#   WEFT_CTEST_ARGS   extra ctest arguments, split on whitespace (e.g. "-R Store -V")
#   WEFT_NO_PG=1      do not start PostgreSQL (the PostgreSQL tests skip themselves)
#   WEFT_SANITIZE_BUILD_DIR  the sanitizer build's directory (default build-asan)
#   WEFT_SANITIZE_PASS=0     shorthand for WEFT_TEST_PASSES=release
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD_DIR=${WEFT_BUILD_DIR:-build}
SAN_DIR=${WEFT_SANITIZE_BUILD_DIR:-build-asan}
read -r -a CTEST_EXTRA <<<"${WEFT_CTEST_ARGS:-}"
if [ "${WEFT_SANITIZE_PASS:-1}" = 0 ]; then
  DEFAULT_PASSES=release
else
  DEFAULT_PASSES=sanitize
fi
read -r -a PASSES <<<"${WEFT_TEST_PASSES:-$DEFAULT_PASSES}"
for p in "${PASSES[@]}"; do
  case "$p" in
    sanitize | release) ;;
    *)
      echo "test: unknown pass '$p' in WEFT_TEST_PASSES (use sanitize and/or release)" >&2
      exit 2
      ;;
  esac
done

# This run's own cluster, whatever the caller's environment holds.
unset WEFT_TEST_PG_URL WEFT_TEST_PG_CONNSTR WEFT_PG_PORT WEFT_PG_DIR WEFT_PG_DATA
export WEFT_PG_STATE="${TMPDIR:-/tmp}/weft-pg-test-$$.env"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  "$ROOT/scripts/pg-temp.sh" stop "$WEFT_PG_STATE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

./scripts/deps.sh
for p in "${PASSES[@]}"; do
  if [ "$p" = sanitize ]; then
    echo "test: building the sanitizer build in $SAN_DIR (ASan + UBSan, -O0 -g1)"
    WEFT_SKIP_DEPS=1 WEFT_SANITIZE=1 WEFT_BUILD_DIR="$SAN_DIR" WEFT_BUILD_TYPE=Debug ./scripts/build.sh
  else
    echo "test: building the optimised build in $BUILD_DIR"
    WEFT_SKIP_DEPS=1 WEFT_SANITIZE=0 WEFT_BUILD_DIR="$BUILD_DIR" ./scripts/build.sh
  fi
done

if [ "${WEFT_NO_PG:-0}" = 1 ]; then
  echo "test: WEFT_NO_PG=1: not starting PostgreSQL; the PostgreSQL tests will skip themselves" >&2
elif pg_env=$(./scripts/pg-temp.sh start); then
  eval "$pg_env"
  echo "test: WEFT_TEST_PG_URL=$WEFT_TEST_PG_URL"
else
  unset WEFT_TEST_PG_URL WEFT_TEST_PG_CONNSTR
  echo "test: WARNING: could not start a throwaway PostgreSQL (see the messages above);" >&2
  echo "test: WARNING: running the tests without it: the PostgreSQL tests will be SKIPPED" >&2
fi

# Leak detection is off under the sanitizers: LeakSanitizer cannot symbolize or scan libraries
# that were dlclose'd (every plugin is unloaded at exit) and either crashes or reports libpq's
# per-thread Kerberos state as leaks. ASan's memory errors and UBSan are fully on, and a UBSan
# report fails the test (halt_on_error).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Nothing may be printed after ctest: cleanup (the EXIT trap) is silent, so the last pass's CTest
# summary is the last line; the exit status covers every pass.
rc=0
for p in "${PASSES[@]}"; do
  if [ "$p" = sanitize ]; then
    echo "test: the whole suite under ASan + UBSan ($SAN_DIR)"
    ctest --test-dir "$SAN_DIR" --output-on-failure -j2 "${CTEST_EXTRA[@]}" || rc=$?
  else
    echo "test: the whole suite in the optimised build ($BUILD_DIR)"
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "${CTEST_EXTRA[@]}" || rc=$?
  fi
done
exit "$rc"
