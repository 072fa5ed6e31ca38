#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the test suite.
#
#   scripts/pg-temp.sh start          initdb + start a private cluster on a free loopback port;
#                                     prints `export ...` lines on stdout (eval them) and saves
#                                     them in a state file so `stop` can find the cluster again
#   scripts/pg-temp.sh env   [STATE]  print the export lines of a running cluster again
#   scripts/pg-temp.sh stop  [STATE]  stop the cluster (-m immediate) and delete its directory
#   scripts/pg-temp.sh stop --all     stop every cluster that has a state file in $TMPDIR (or /tmp)
#
# Typical use:
#   eval "$(scripts/pg-temp.sh start)"
#   psql "$WEFT_TEST_PG_CONNSTR" -c 'select 1'
#   scripts/pg-temp.sh stop            # uses $WEFT_PG_STATE, exported by start
#
# The state file is $WEFT_PG_STATE when set, else $TMPDIR/weft-pg-<pid>.env. Exported variables:
#   WEFT_PG_PORT, WEFT_PG_DIR (temp dir; also the unix socket dir), WEFT_PG_DATA, WEFT_PG_STATE,
#   WEFT_TEST_PG_URL      postgresql://weft@127.0.0.1:PORT/weft_test
#   WEFT_TEST_PG_CONNSTR  host=127.0.0.1 port=PORT user=weft dbname=weft_test
#
# PostgreSQL refuses to run as root, so as root initdb/pg_ctl run as the `postgres` user (from the
# Debian `postgresql` package, see scripts/deps.sh) via runuser; as any other user they run as that
# user. Authentication is `trust`, the server listens on 127.0.0.1 only, fsync is off: test use only.
# Progress and errors go to stderr; stdout carries only the export lines.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_BASE=${TMPDIR:-/tmp}
MARKER=.weft-pg-temp
PG_ROLE=weft
PG_DB=weft_test

log() { printf 'pg-temp: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Directory of initdb/pg_ctl/pg_isready/psql: newest /usr/lib/postgresql/<ver>/bin, or
# $WEFT_PG_BINDIR, or whatever is on PATH.
find_bindir() {
  local d=""
  if [ -n "${WEFT_PG_BINDIR:-}" ]; then
    d=$WEFT_PG_BINDIR
  else
    # shellcheck disable=SC2012  # version dirs are plain names; sort -V picks the newest
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1) || true
    if [ -z "$d" ] && command -v initdb >/dev/null 2>&1; then
      d=$(dirname "$(command -v initdb)")
    fi
  fi
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] || return 1
  printf '%s\n' "$d"
}

# Run a PostgreSQL server tool as the user that owns the cluster. The `cd /` matters: the tools
# complain when they cannot read the current directory (e.g. a clone under /root).
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Single-quote a value for the export lines.
q() {
  local s=${1//\'/\'\\\'\'}
  printf "'%s'" "$s"
}

# Value of KEY from a state file written by cmd_start (parsed, never sourced).
state_get() {
  local file=$1 key=$2 line v
  line=$(grep -m1 "^export $key=" "$file" 2>/dev/null) || return 0
  v=${line#export "$key"=}
  if [ "${v:0:1}" = "'" ]; then
    v=${v:1:${#v}-2}
    v=${v//\'\\\'\'/\'}
  fi
  printf '%s\n' "$v"
}

pid_alive() { [ -n "$1" ] && [ -d "/proc/$1" ]; }
pid_is_postgres() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = postgres ]; }

# Direct children of a pid, read from /proc (procps may be missing on minimal images).
children_of() {
  local parent=$1 f s pid
  for f in /proc/[0-9]*/stat; do
    s=$(cat "$f" 2>/dev/null) || continue
    s=${s##*) }               # drop "pid (comm) "; comm may contain spaces
    pid=${f#/proc/}
    pid=${pid%/stat}
    # remaining fields: state ppid ...
    # shellcheck disable=SC2086
    set -- $s
    if [ "${2:-}" = "$parent" ]; then printf '%s\n' "$pid"; fi
  done
}

port_in_use() {
  local p=$1
  if command -v ss >/dev/null 2>&1; then
    if [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then return 0; fi
  fi
  # Something accepting connections on it? (refused quickly when free)
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 0; fi
  return 1
}

# A free port: random, below the kernel's ephemeral range so it cannot collide with outgoing
# connections or with ports the tests themselves get from bind(0).
pick_port() {
  local eph_lo=32768 eph_hi lo=20000 hi p
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range || true
  fi
  : "${eph_hi:=}"
  hi=$((eph_lo - 1))
  if [ "$hi" -le $((lo + 1000)) ]; then hi=60000; fi
  for _ in $(seq 1 100); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    if ! port_in_use "$p"; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# stop

# Stop the cluster described by one state file and delete its directory. Never fails.
stop_state() {
  local state=$1 dir data
  dir=$(state_get "$state" WEFT_PG_DIR)
  if [ -z "$dir" ]; then
    log "no WEFT_PG_DIR in $state; removing the state file only"
    rm -f -- "$state"
    return 0
  fi
  data="$dir/data"
  if [ -f "$dir/$MARKER" ]; then
    stop_cluster "$data"
    rm -rf -- "$dir"
    log "stopped and removed $dir"
  elif [ -d "$dir" ]; then
    log "warning: $dir lacks the $MARKER marker; not touching it"
  fi
  rm -f -- "$state"
}

# Stop the postmaster of a data dir, making sure neither it nor any backend survives.
stop_cluster() {
  local data=$1 pid="" kids="" k bindir
  [ -f "$data/postmaster.pid" ] || return 0
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null) || true
  if pid_alive "$pid"; then kids=$(children_of "$pid"); fi
  if bindir=$(find_bindir); then
    as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if pid_alive "$pid" && pid_is_postgres "$pid"; then
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid" && pid_is_postgres "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  for k in $kids; do
    if pid_alive "$k" && pid_is_postgres "$k"; then kill -KILL "$k" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 50); do
    pid_alive "$pid" || break
    sleep 0.1
  done
}

# Which state file(s) a stop/env command means: an explicit argument, else $WEFT_PG_STATE, else
# the only weft-pg-*.env in $TMPDIR.
resolve_state() {
  local arg=${1:-} files=()
  if [ -n "$arg" ]; then printf '%s\n' "$arg"; return 0; fi
  if [ -n "${WEFT_PG_STATE:-}" ]; then printf '%s\n' "$WEFT_PG_STATE"; return 0; fi
  shopt -s nullglob
  files=("$STATE_BASE"/weft-pg-*.env)
  shopt -u nullglob
  case ${#files[@]} in
    0) return 0 ;;
    1) printf '%s\n' "${files[0]}" ;;
    *) log "several clusters recorded: ${files[*]}"
       die "name one (scripts/pg-temp.sh stop FILE) or use --all" ;;
  esac
}

cmd_stop() {
  local state f
  if [ "${1:-}" = "--all" ]; then
    shopt -s nullglob
    for f in "$STATE_BASE"/weft-pg-*.env; do stop_state "$f"; done
    shopt -u nullglob
    return 0
  fi
  state=$(resolve_state "${1:-}")
  if [ -z "$state" ] || [ ! -f "$state" ]; then
    log "nothing to stop${state:+ ($state does not exist)}"
    return 0
  fi
  stop_state "$state"
}

cmd_env() {
  local state
  state=$(resolve_state "${1:-}")
  if [ -z "$state" ] || [ ! -f "$state" ]; then
    die "no running cluster recorded${state:+ ($state does not exist)}"
  fi
  grep '^export ' "$state"
}

# ---------------------------------------------------------------------------------------------
# start

START_OK=0
START_DIR=""
START_STATE=""

start_cleanup() {
  if [ "$START_OK" = 1 ]; then return 0; fi
  if [ -n "$START_DIR" ] && [ -f "$START_DIR/$MARKER" ]; then
    stop_cluster "$START_DIR/data"
    rm -rf -- "$START_DIR"
  fi
  if [ -n "$START_STATE" ]; then rm -f -- "$START_STATE" "$START_STATE".tmp.*; fi
}

make_tempdir() {
  local base=${WEFT_PG_TMPDIR:-${TMPDIR:-/tmp}} dir
  dir=$(mktemp -d "$base/weft-pg.XXXXXX")
  # The socket path ($dir/.s.PGSQL.NNNNN) must fit in sun_path (108 bytes), and as root the
  # postgres user must be able to reach the directory: otherwise fall back to /tmp.
  if [ ${#dir} -gt 80 ] || { is_root && ! (cd / && runuser -u postgres -- test -x "$(dirname "$dir")"); }; then
    rmdir -- "$dir"
    dir=$(mktemp -d /tmp/weft-pg.XXXXXX)
  fi
  if is_root; then chown postgres:postgres "$dir"; fi
  printf '%s\n' "$dir"
}

cmd_start() {
  local state=${WEFT_PG_STATE:-$STATE_BASE/weft-pg-$$.env}
  local bindir port="" attempt ready=0 old_dir old_pid tmp

  bindir=$(find_bindir) || die "PostgreSQL server binaries not found (install 'postgresql': scripts/deps.sh)"
  if is_root; then
    getent passwd postgres >/dev/null || die "running as root but there is no 'postgres' user to run the server as (install 'postgresql')"
    command -v runuser >/dev/null 2>&1 || die "running as root but runuser (util-linux) is missing"
  fi

  # Idempotent: a live cluster for this state file is reused, a dead one is cleaned up first.
  if [ -f "$state" ]; then
    port=$(state_get "$state" WEFT_PG_PORT)
    old_dir=$(state_get "$state" WEFT_PG_DIR)
    old_pid=""
    if [ -n "$old_dir" ] && [ -f "$old_dir/data/postmaster.pid" ]; then
      old_pid=$(head -n1 "$old_dir/data/postmaster.pid" 2>/dev/null) || true
    fi
    if [ -n "$port" ] && pid_alive "$old_pid" && pid_is_postgres "$old_pid" &&
       "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5 >/dev/null 2>&1; then
      log "already running on port $port (state $state)"
      grep '^export ' "$state"
      return 0
    fi
    log "stale state file $state: cleaning it up"
    stop_state "$state"
  fi

  START_STATE=$state
  trap start_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  START_DIR=$(make_tempdir)
  touch "$START_DIR/$MARKER"
  log "initdb in $START_DIR ($bindir)"
  if ! as_pg "$bindir/initdb" -D "$START_DIR/data" -A trust -U postgres --no-locale -E UTF8 \
       --no-sync --no-instructions >"$START_DIR/initdb.log" 2>&1; then
    tail -n 20 "$START_DIR/initdb.log" >&2 || true
    die "initdb failed"
  fi

  cat >>"$START_DIR/data/postgresql.conf" <<EOF

# --- weft throwaway test cluster (scripts/pg-temp.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$START_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF

  for attempt in 1 2 3 4 5 6 7 8; do
    port=$(pick_port) || die "no free loopback port found"
    rm -f -- "$START_DIR/postgres.log"
    if as_pg "$bindir/pg_ctl" -D "$START_DIR/data" -l "$START_DIR/postgres.log" -o "-p $port" \
         -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    if grep -qE 'could not bind|could not create listen socket|Address already in use' \
         "$START_DIR/postgres.log" 2>/dev/null; then
      log "port $port was taken (attempt $attempt); trying another"
      stop_cluster "$START_DIR/data"
      port=""
      continue
    fi
    tail -n 20 "$START_DIR/postgres.log" >&2 2>/dev/null || true
    die "pg_ctl start failed"
  done
  [ -n "$port" ] || die "could not find a port PostgreSQL can listen on"

  for _ in $(seq 1 300); do
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.1
  done
  if [ "$ready" != 1 ]; then
    tail -n 20 "$START_DIR/postgres.log" >&2 2>/dev/null || true
    die "server on port $port did not become ready"
  fi

  if ! "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
       -c "CREATE ROLE $PG_ROLE LOGIN SUPERUSER" \
       -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE" >/dev/null 2>"$START_DIR/psql.log"; then
    cat "$START_DIR/psql.log" >&2 || true
    die "could not create role $PG_ROLE / database $PG_DB"
  fi

  tmp=$(mktemp "$state.tmp.XXXXXX")
  {
    echo "# weft throwaway PostgreSQL; stop with: scripts/pg-temp.sh stop $(q "$state")"
    echo "export WEFT_PG_PORT=$port"
    echo "export WEFT_PG_DIR=$(q "$START_DIR")"
    echo "export WEFT_PG_DATA=$(q "$START_DIR/data")"
    echo "export WEFT_PG_STATE=$(q "$state")"
    echo "export WEFT_TEST_PG_URL=$(q "postgresql://$PG_ROLE@127.0.0.1:$port/$PG_DB")"
    echo "export WEFT_TEST_PG_CONNSTR=$(q "host=127.0.0.1 port=$port user=$PG_ROLE dbname=$PG_DB")"
  } >"$tmp"
  mv -f -- "$tmp" "$state"
  START_OK=1
  log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') ready on 127.0.0.1:$port (state $state)"
  grep '^export ' "$state"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  env) shift; cmd_env "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
