#!/usr/bin/env bash
# Installs missing dependencies (scripts/deps.sh), configures and builds Weft. Shared by
# scripts/test.sh and scripts/run.sh. Idempotent: re-running only rebuilds what changed.
#
# Environment:
#   WEFT_SANITIZE=1   the sanitizer build: AddressSanitizer + UndefinedBehaviorSanitizer, -O0 -g1,
#                     in build-asan/ by default (what scripts/test.sh runs the suite in)
#   WEFT_BUILD_DIR    build directory (default: build, or build-asan with WEFT_SANITIZE=1)
#   WEFT_BUILD_TYPE   CMAKE_BUILD_TYPE (default: RelWithDebInfo, or Debug with WEFT_SANITIZE=1)
#   WEFT_CMAKE_ARGS   extra arguments for the configure step, split on whitespace
#                     (e.g. WEFT_CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++")
#   WEFT_GENERATOR    CMake generator for a new build directory (default: Ninja when installed;
#                     an existing directory keeps the generator it was configured with)
#   WEFT_JOBS         parallel build jobs (default: nproc)
#   WEFT_SKIP_DEPS=1  do not run scripts/deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SANITIZE=${WEFT_SANITIZE:-0}
if [ "$SANITIZE" = 1 ]; then
  BUILD_DIR=${WEFT_BUILD_DIR:-build-asan}
  BUILD_TYPE=${WEFT_BUILD_TYPE:-Debug}
else
  BUILD_DIR=${WEFT_BUILD_DIR:-build}
  BUILD_TYPE=${WEFT_BUILD_TYPE:-RelWithDebInfo}
fi
JOBS=${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}
read -r -a CMAKE_EXTRA <<<"${WEFT_CMAKE_ARGS:-}"

if [ "${WEFT_SKIP_DEPS:-0}" != 1 ]; then
  ./scripts/deps.sh
fi

# Ninja builds this tree in about two thirds of the time of Makefiles on two cores (it schedules
# every target's objects together). A directory configured before keeps its generator: CMake
# refuses to switch one.
GEN=()
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  if [ -n "${WEFT_GENERATOR:-}" ]; then
    GEN=(-G "$WEFT_GENERATOR")
  elif command -v ninja >/dev/null 2>&1; then
    GEN=(-G Ninja)
  fi
fi

# Benchmarks have their own Release build (bench/README.md); WEFT_BUILD_BENCH=ON adds them here.
FLAGS=()
if [ "$SANITIZE" = 1 ]; then
  # -O0 -g1: UBSan's instrumentation makes the optimiser (and full debug info) several times slower
  # to compile (executor.cpp: 47 s at -O1 -g, 10 s at -O0 -g1); line tables keep file:line in
  # every sanitizer report.
  FLAGS=(-DWEFT_SANITIZE=ON)
  if [ "$BUILD_TYPE" = Debug ]; then
    FLAGS+=("-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O0 -g1")
  fi
else
  FLAGS=(-DWEFT_SANITIZE=OFF)
  if [ "$BUILD_TYPE" = RelWithDebInfo ]; then
    # Line tables only (-g1): backtraces keep file:line, and the build takes about half the time
    # of full debug info (-g).
    FLAGS+=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
  fi
fi

echo "build: configuring $BUILD_DIR ($BUILD_TYPE$([ "$SANITIZE" = 1 ] && echo ', ASan + UBSan'))"
cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DWEFT_BUILD_TESTS=ON \
  -DWEFT_BUILD_BENCH="${WEFT_BUILD_BENCH:-OFF}" "${FLAGS[@]}" "${CMAKE_EXTRA[@]}"

echo "build: building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j"$JOBS"
