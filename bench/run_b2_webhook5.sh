#!/usr/bin/env bash
# B2 "webhook5" (../shared/guides/BENCHMARKS.md): POST {"x":1} to a webhook → x = x+1 → tag = "ok"
# → if x > 0 → y = x*2, answered synchronously with {"x":2,"tag":"ok","y":4}. Durable with the
# product defaults: SQLite (WAL, synchronous=NORMAL), every node's result, log and events
# committed before the next node starts, and the execution row with its output.
#
#   bench/run_b2_webhook5.sh BUILD_DIR [seconds] [connections]
#
# Starts `weft serve` on a free port with a temporary database and a copy of config/weft.json in
# which only the admission limits are lifted, since a benchmark is one client hammering one URL:
#   server.webhook_requests_per_minute = 0   (default 600/min per webhook path)
#   server.rate_limits = false               (a webhook run also counts against its owner's
#                                             "execute" limit: 5/min on the free tier)
#   server.max_sync_runs_per_user = 0        (default 2: further concurrent synchronous runs of
#                                             one owner are queued and answered 202 at once)
# Everything on the execution path keeps the product defaults. It creates bench/webhook5.json
# through the API, checks the answer, warms up (wrk -c4 2 s), then runs
#   wrk -t1 -c<connections> -d<seconds>s --latency -s ../shared/bench-peers/post.lua URL
# and prints one JSON line in the format of ../shared/bench-peers/webhook5.sh. Then, unless
# WITH_PEERS=0, runs the peers in the same session (Node-RED, and n8n when installed) and prints
# their lines and the ratios. PEERS_DIR (default /tmp/weft-peers) is where install.sh put them.
# Extra environment: KEEP=1 keeps the temporary directory (database, server log).
set -euo pipefail
build=${1:?usage: run_b2_webhook5.sh BUILD_DIR [seconds] [connections]}
secs=${2:-10}; conns=${3:-16}
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/.." && pwd)
peers_scripts=${PEERS_SCRIPTS:-$root/../shared/bench-peers}
[ -d "$peers_scripts" ] || peers_scripts=/work/shared/bench-peers
build=$(cd "$build" && pwd); weft=$build/weft
[ -x "$weft" ] || { echo "run_b2: $weft does not exist; build the 'weft' target first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "run_b2: wrk is missing (WEFT_EXTRA_PKGS=\"wrk hyperfine\" scripts/deps.sh)" >&2; exit 2; }

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
work=$(mktemp -d /tmp/weft-b2.XXXXXX); pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ "${KEEP:-0}" = 1 ] && echo "run_b2: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# The product's configuration file, with only the admission limits lifted (see above).
python3 - "$root/config/weft.json" "$work/weft.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["server"]["webhook_requests_per_minute"] = 0
c["server"]["rate_limits"] = False
c["server"]["max_sync_runs_per_user"] = 0
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
db=sqlite:$work/weft.db
base=http://127.0.0.1:$port
(cd "$work" && WEFT_WS_PORT=0 exec "$weft" serve --port "$port" --db "$db" --config "$work/weft.json") >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  curl -sf -o /dev/null "$base/readyz" && break
  kill -0 "$pid" 2>/dev/null || { echo "run_b2: the server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.05
done
key=$("$weft" keys create admin@localhost --name bench --db "$db" --config "$work/weft.json")
created=$(curl -sf -X POST "$base/api/workflows" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' --data-binary @"$here/webhook5.json")
wid=$(printf '%s' "$created" | python3 -c 'import json,sys;d=json.load(sys.stdin);assert d["compile"]["ok"],d["compile"];print(d["id"])')
hooks=$(curl -sf "$base/api/workflows/$wid/webhooks" -H "Authorization: Bearer $key")
path=$(printf '%s' "$hooks" | python3 -c 'import json,sys;print(json.load(sys.stdin)["webhooks"][0]["url"])')
url=$base$path

answer=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"x":1}' "$url")
if [ "$answer" != '{"x":2,"tag":"ok","y":4}' ]; then
  echo "run_b2: the webhook answered '$answer', expected {\"x\":2,\"tag\":\"ok\",\"y\":4}" >&2
  exit 1
fi

wrk -t1 -c4 -d2s -s "$peers_scripts/post.lua" "$url" >/dev/null
wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$peers_scripts/post.lua" "$url" >"$work/wrk"
rss=$(ps -o rss= -p "$pid" | awk '{print int($1/1024)}')
curl -s "$base/metrics" >"$work/metrics"
(python3 - "$work/wrk" "$rss" "$conns" "$work/metrics" <<'PY'
import re, sys, json
f, rss, c = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
metrics = open(sys.argv[4]).read()
def gauge(name, labels):
    m = re.search(r'^%s\{%s\} ([0-9.e+]+)$' % (re.escape(name), re.escape(labels)), metrics, re.M)
    return int(float(m.group(1))) if m else 0
ok = gauge("weft_executions", 'state="succeeded"')
# Every webhook answer by status (the server's own count, warm-up included): anything but 200
# means a request was not answered with its result.
hook = {}
for m in re.finditer(r'^weft_http_requests_total\{([^}]*)\} ([0-9.e+]+)$', metrics, re.M):
    lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    if lab.get("route") == "/webhook/*path":
        hook[lab.get("status")] = hook.get(lab.get("status"), 0) + int(float(m.group(2)))
def lat(p):
    m = re.search(r'\s%s%%\s+([\d.]+)(us|ms|s)' % p, f); v = float(m.group(1))
    return v / 1000 if m.group(2) == 'us' else v * 1000 if m.group(2) == 's' else v
print(json.dumps({"peer": "weft", "workload": "webhook5", "connections": int(c),
  "req_per_s": float(re.search(r'Requests/sec:\s+([\d.]+)', f).group(1)),
  "p50_ms": lat(50), "p99_ms": lat(99), "rss_mb": int(rss or 0),
  "non2xx": int((re.search(r'Non-2xx or 3xx responses:\s+(\d+)', f) or [0, 0])[1]),
  "executions_stored": ok, "webhook_status_counts": hook}))
if set(hook) - {"200"}:
    print("run_b2: some webhook answers were not 200: %s" % hook, file=sys.stderr)
PY
) | tee "$work/results"
if [ -n "${WRK_OUT:-}" ]; then cp "$work/wrk" "$WRK_OUT"; fi

# Stop Weft before the peers run so they get the whole machine, as Weft did.
kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
[ "${WITH_PEERS:-1}" = 1 ] || exit 0
export PEERS_DIR=${PEERS_DIR:-/tmp/weft-peers}
for peer in nodered n8n; do
  if [ ! -f "$PEERS_DIR/$peer/.installed" ]; then
    echo "{\"peer\":\"$peer\",\"skipped\":\"not installed in $PEERS_DIR (run $peers_scripts/install.sh)\"}"
    continue
  fi
  ("$peers_scripts/webhook5.sh" "$peer" "$secs" "$conns" || echo "{\"peer\":\"$peer\",\"failed\":true}") \
    | tee -a "$work/results"
done
python3 - "$work/results" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        d = json.loads(line); rows[d["peer"]] = d
w = rows.get("weft")
out = {"ratios": {}}
for p in ("nodered", "n8n"):
    d = rows.get(p)
    if w and d and d.get("req_per_s"):
        out["ratios"][p] = {"req_per_s": round(w["req_per_s"] / d["req_per_s"], 2),
                            "p99": round(d["p99_ms"] / w["p99_ms"], 2) if w["p99_ms"] else None,
                            "rss": round(d["rss_mb"] / w["rss_mb"], 1) if w["rss_mb"] else None}
print(json.dumps(out))
PY
