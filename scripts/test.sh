#!/usr/bin/env bash
# Builds Weft with tests and runs the whole test suite against a throwaway PostgreSQL.
# Works as root on a fresh Debian 12 clone, never prompts, and can be re-run at will.
#
#   1. scripts/deps.sh, CMake configure + build      (scripts/build.sh)
#   2. a private PostgreSQL on a free loopback port  (scripts/pg-temp.sh start)
#      -> exports WEFT_TEST_PG_URL    = postgresql://weft@127.0.0.1:PORT/weft_test
#                 WEFT_TEST_PG_CONNSTR = host=127.0.0.1 port=PORT user=weft dbname=weft_test
#   3. ctest --test-dir build --output-on-failure -j2
#   4. PostgreSQL is stopped and its directory removed on every exit path (success, failure,
#      build error, Ctrl-C), silently, so CTest's summary stays the last thing printed.
#
# Exit status: CTest's (or the failing step's).
#
# Environment (besides what scripts/build.sh reads: WEFT_BUILD_DIR, WEFT_BUILD_TYPE,
# WEFT_CMAKE_ARGS, WEFT_JOBS, WEFT_SKIP_DEPS):
#   WEFT_CTEST_ARGS   extra ctest arguments, split on whitespace (e.g. "-R Store -V")
#   WEFT_NO_PG=1      do not start PostgreSQL (the PostgreSQL tests skip themselves)
#   WEFT_SANITIZE_PASS=0  skip the AddressSanitizer/UndefinedBehaviorSanitizer pass (build-asan/),
#                     which otherwise builds everything with -fsanitize=address,undefined and runs
#                     the suite under it before the main run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD_DIR=${WEFT_BUILD_DIR:-build}
read -r -a CTEST_EXTRA <<<"${WEFT_CTEST_ARGS:-}"

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

./scripts/build.sh

SAN_DIR=${WEFT_SANITIZE_BUILD_DIR:-build-asan}
if [ "${WEFT_SANITIZE_PASS:-1}" = 1 ]; then
  # -O0 -g1: UBSan's instrumentation makes the optimiser (and full debug info) several times slower
  # to compile (executor.cpp: 47 s at -O1 -g, 10 s at -O0 -g1); line tables keep file:line in
  # every sanitizer report. The suite runs a little slower unoptimised, far less than it saves.
  echo "test: building the sanitizer pass in $SAN_DIR (ASan + UBSan, -O0 -g1)"
  cmake -S . -B "$SAN_DIR" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O0 -g1" \
    -DWEFT_SANITIZE=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_BENCH=OFF >/dev/null
  cmake --build "$SAN_DIR" -j"${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
fi

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

rc=0
if [ "${WEFT_SANITIZE_PASS:-1}" = 1 ]; then
  # Leak detection is off here: LeakSanitizer cannot symbolize or scan libraries that were
  # dlclose'd (every plugin is unloaded at exit) and either crashes or reports libpq's
  # per-thread Kerberos state as leaks. ASan's memory errors and UBSan are fully on.
  echo "test: sanitizer pass (the whole suite under ASan + UBSan)"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    ctest --test-dir "$SAN_DIR" --output-on-failure -j2 "${CTEST_EXTRA[@]}" || rc=$?
  echo "test: main pass"
fi

# Nothing may be printed after ctest: cleanup (the EXIT trap) is silent. The main pass runs last
# so that its summary is the last line; the exit status covers both passes.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "${CTEST_EXTRA[@]}" || rc=$?
exit "$rc"
