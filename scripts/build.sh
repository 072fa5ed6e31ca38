#!/usr/bin/env bash
# Installs missing dependencies (scripts/deps.sh), configures and builds Weft. Shared by
# scripts/test.sh and scripts/run.sh. Idempotent: re-running only rebuilds what changed.
#
# Environment:
#   WEFT_BUILD_DIR    build directory (default: build)
#   WEFT_BUILD_TYPE   CMAKE_BUILD_TYPE (default: RelWithDebInfo)
#   WEFT_CMAKE_ARGS   extra arguments for the configure step, split on whitespace
#                     (e.g. WEFT_CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++ -DWEFT_SANITIZE=ON")
#   WEFT_JOBS         parallel build jobs (default: nproc)
#   WEFT_SKIP_DEPS=1  do not run scripts/deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${WEFT_BUILD_DIR:-build}
BUILD_TYPE=${WEFT_BUILD_TYPE:-RelWithDebInfo}
JOBS=${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}
read -r -a CMAKE_EXTRA <<<"${WEFT_CMAKE_ARGS:-}"

if [ "${WEFT_SKIP_DEPS:-0}" != 1 ]; then
  ./scripts/deps.sh
fi

echo "build: configuring $BUILD_DIR ($BUILD_TYPE)"
# Benchmarks have their own Release build (bench/README.md); WEFT_BUILD_BENCH=ON adds them here.
# RelWithDebInfo with line tables only (-g1): backtraces keep file:line, and the build takes about
# half the time of full debug info (-g). WEFT_CMAKE_ARGS can still override it.
FLAGS=()
if [ "$BUILD_TYPE" = RelWithDebInfo ]; then
  FLAGS=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DWEFT_BUILD_TESTS=ON \
  -DWEFT_BUILD_BENCH="${WEFT_BUILD_BENCH:-OFF}" "${FLAGS[@]}" "${CMAKE_EXTRA[@]}"

echo "build: building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j"$JOBS"
