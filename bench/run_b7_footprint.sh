#!/usr/bin/env bash
# B7 "footprint" (../shared/guides/BENCHMARKS.md): idle RSS of `weft serve` with every bundled
# plugin loaded, and the time from exec to the first 200 from /readyz.
#
#   bench/run_b7_footprint.sh BUILD_DIR [runs]
#
# 1. Start-up: `runs` (default 15) cold starts on a FRESH database (each in a new directory:
#    migrations, JWT key file, first-admin bootstrap = one argon2id hash with 64 MiB) and `runs`
#    on an EXISTING database (the directory of a previous run; the server is stopped with SIGTERM
#    and waited for between runs). Timed from just before exec to the first 200 from /readyz,
#    polled every 1 ms over loopback; the poller is one Python process, so no process start-up is
#    inside the measured time. (hyperfine is not used here: it would time the shutdown too, and a
#    curl-per-poll loop adds a process start per poll.)
# 2. Idle RSS: one server on an existing database, then a few requests (health, metrics, the
#    OpenAPI document, the plugin list, the palette, saving and running examples/hello.json), then
#    2 s idle; VmRSS from /proc (the figure `ps -o rss` shows), with its anonymous / file split.
# Prints one JSON line per part.
set -euo pipefail
build=${1:?usage: run_b7_footprint.sh BUILD_DIR [runs]}
runs=${2:-15}
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/.." && pwd)
build=$(cd "$build" && pwd); weft=$build/weft
[ -x "$weft" ] || { echo "run_b7: $weft does not exist; build the 'weft' target first" >&2; exit 2; }
work=$(mktemp -d /tmp/weft-b7.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 - "$weft" "$root" "$work" "$runs" <<'PY'
import json, os, re, signal, socket, statistics, subprocess, sys, time, urllib.request

weft, root, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = os.path.join(root, "config", "weft.json")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def ready_once(port):
    # One raw HTTP/1.0 request: cheaper and more precise than a client library per poll.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
            c.sendall(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n")
            return c.recv(64).split(b" ")[1:2] == [b"200"]
    except OSError:
        return False

def start(dbdir, port):
    os.makedirs(dbdir, exist_ok=True)
    cmd = [weft, "serve", "--port", str(port), "--db", "sqlite:" + os.path.join(dbdir, "weft.db"), "--config", config]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=dbdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, WEFT_WS_PORT="0"))
    while True:
        if ready_once(port):
            return p, (time.perf_counter() - t0) * 1000
        if p.poll() is not None:
            sys.exit("run_b7: the server exited: " + p.stderr.read())
        if time.perf_counter() - t0 > 30:
            p.kill(); sys.exit("run_b7: not ready within 30 s")
        time.sleep(0.001)

def stop(p):
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1]
    # The server's own figure: "ready in N ms" (see host/cli/main.cpp).
    m = re.search(r"ready in (\d+) ms", err)
    return int(m.group(1)) if m else None

def summary(xs):
    xs = sorted(xs)
    return {"mean_ms": round(statistics.mean(xs), 1), "median_ms": round(statistics.median(xs), 1),
            "min_ms": round(xs[0], 1), "max_ms": round(xs[-1], 1),
            "stdev_ms": round(statistics.stdev(xs), 1) if len(xs) > 1 else 0}

results = {}
existing = os.path.join(work, "existing")
p, _ = start(existing, free_port()); stop(p)  # create it (and warm the page cache for the binary)
for kind in ("fresh", "existing"):
    wall, own = [], []
    for i in range(runs):
        d = os.path.join(work, "fresh-%d" % i) if kind == "fresh" else existing
        p, ms = start(d, free_port())
        wall.append(ms)
        r = stop(p)
        if r is not None: own.append(r)
    s = summary(wall); s["runs"] = runs
    if own: s["server_reported_ready_mean_ms"] = round(statistics.mean(own), 1)
    results[kind] = s
print(json.dumps({"bench": "b7_startup_to_readyz", **results}))

# Idle RSS after start-up and a few requests.
port = free_port()
p, _ = start(existing, port)
base = "http://127.0.0.1:%d" % port
key = subprocess.run([weft, "keys", "create", "admin@localhost", "--name", "b7", "--db",
                      "sqlite:" + os.path.join(existing, "weft.db"), "--config", config],
                     cwd=existing, capture_output=True, text=True, check=True).stdout.strip()
def req(method, path, body=None, auth=True):
    r = urllib.request.Request(base + path, method=method, data=body)
    if auth: r.add_header("Authorization", "Bearer " + key)
    if body is not None: r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read() or b"null") if "json" in resp.headers.get("content-type", "") else resp.read()
req("GET", "/healthz", auth=False); req("GET", "/readyz", auth=False); req("GET", "/metrics", auth=False)
req("GET", "/api/openapi.json", auth=False)
plugins = req("GET", "/api/admin/plugins")["plugins"]
nodes = req("GET", "/api/nodes")["nodes"]
wf = req("POST", "/api/workflows", open(os.path.join(root, "examples", "hello.json"), "rb").read())
run = req("POST", "/api/workflows/%s/execute" % wf["id"], b'{"input":{"name":"bench"}}')
req("GET", "/api/executions?limit=5")
time.sleep(2)
status = dict(l.split(":", 1) for l in open("/proc/%d/status" % p.pid).read().splitlines() if ":" in l)
kib = lambda k: int(status[k].split()[0]) if k in status else None
out = {"bench": "b7_idle_rss", "rss_kib": kib("VmRSS"), "rss_mb": round(kib("VmRSS") / 1024, 1),
       "rss_anon_kib": kib("RssAnon"), "rss_file_kib": kib("RssFile"), "threads": kib("Threads"),
       "plugins": {pl["name"]: pl["state"] for pl in plugins}, "node_types": len(nodes),
       "hello_run": run["execution"]["status"]}
stop(p)
print(json.dumps(out))
PY
