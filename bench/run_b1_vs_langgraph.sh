#!/usr/bin/env bash
# B1 chain10, Weft next to LangGraph.js in the same run (guides/BENCHMARKS.md).
# Needs the peers installed once: PEERS_DIR=/tmp/weft-peers WITH_N8N=0 ../shared/bench-peers/install.sh
# Usage: bench/run_b1_vs_langgraph.sh [build dir, default build-release]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
PEERS_DIR=${PEERS_DIR:-/tmp/weft-peers}
SHARED=${WEFT_SHARED_DIR:-../shared}

if [ ! -x "$BUILD/weft_bench" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target weft_bench weft >/dev/null
fi
if [ ! -d "$PEERS_DIR/langgraph/node_modules/@langchain/langgraph" ]; then
  echo "LangGraph.js is not installed: PEERS_DIR=$PEERS_DIR WITH_N8N=0 $SHARED/bench-peers/install.sh" >&2
  exit 1
fi
# The peer script imports its packages relative to its own location.
cp "$SHARED/bench-peers/langgraph_chain.mjs" "$PEERS_DIR/langgraph/"

weft_json=$("$BUILD/weft_bench" --benchmark_filter='B1_' --benchmark_min_time=3 --benchmark_format=json 2>/dev/null)
lg_none=$(cd "$PEERS_DIR/langgraph" && node langgraph_chain.mjs none 500)
lg_sqlite=$(cd "$PEERS_DIR/langgraph" && node langgraph_chain.mjs sqlite 500)

python3 - "$weft_json" "$lg_none" "$lg_sqlite" <<'PY'
import json, sys
w = json.loads(sys.argv[1])["benchmarks"]
per = {b["name"]: b["per_node"] * 1e6 for b in w}
none = json.loads(sys.argv[2])["us_per_node"]
sqlite = json.loads(sys.argv[3])["us_per_node"]
a = per["BM_B1_Chain10_NoPersistence"]
b = per["BM_B1_Chain10_DurableSqlite"]
print(f"B1 chain10 (a) no persistence : weft {a:8.2f} us/node   langgraph.js {none:8.1f} us/node   ratio {none/a:6.1f}x")
print(f"B1 chain10 (b) durable sqlite : weft {b:8.2f} us/node   langgraph.js {sqlite:8.1f} us/node   ratio {sqlite/b:6.1f}x")
PY
