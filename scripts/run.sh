#!/usr/bin/env bash
# Installs what is missing, builds Weft, and starts the REST server (`weft serve`) on
# 127.0.0.1:8080 with the embedded default: SQLite in ./var/weft.db and the plugins from the build.
# On the first start the server creates an administrator; this script then creates an API key
# for it (kept in ./var/run-api-key, mode 0600), runs a first workflow through the API, and
# prints copy-paste curl commands. Ctrl-C stops the server gracefully.
#
#   scripts/run.sh                     build + serve on 127.0.0.1:8080
#   WEFT_PORT=9090 scripts/run.sh      another port
#
# Reads the same environment as scripts/build.sh (WEFT_BUILD_DIR, WEFT_BUILD_TYPE, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
WEFT_SKIP_DEPS=1 WEFT_SANITIZE=0 ./scripts/build.sh

BUILD_DIR=${WEFT_BUILD_DIR:-build}
case $BUILD_DIR in
  /*) WEFT="$BUILD_DIR/weft" ;;
  *) WEFT="./$BUILD_DIR/weft" ;;
esac
if [ ! -x "$WEFT" ]; then
  echo "run: error: the build finished but $WEFT does not exist (or is not executable)." >&2
  exit 1
fi

ADDRESS=${WEFT_ADDRESS:-127.0.0.1}
PORT=${WEFT_PORT:-8080}
BASE="http://$ADDRESS:$PORT"
mkdir -p var

if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
  echo "run: error: something already answers on $BASE (a weft serve started earlier?)." >&2
  echo "run: stop it, or pick another port: WEFT_PORT=9090 scripts/run.sh" >&2
  exit 1
fi

# The credentials vault's master key: a development key outside the data directory (var/), owner-only.
# Production deployments create theirs with `weft vault init FILE` and set vault.key_file.
if [ -z "${WEFT_VAULT_KEY_FILE:-}" ]; then
  WEFT_VAULT_KEY_FILE="${XDG_CONFIG_HOME:-$HOME/.config}/weft/master.key"
  export WEFT_VAULT_KEY_FILE
fi
if [ ! -e "$WEFT_VAULT_KEY_FILE" ]; then
  "$WEFT" vault init "$WEFT_VAULT_KEY_FILE" >/dev/null
  echo "run: created a development master key at $WEFT_VAULT_KEY_FILE (mode 0600): it encrypts your credentials; back it up"
else
  echo "run: credentials are encrypted with the master key at $WEFT_VAULT_KEY_FILE"
fi

echo "run: starting $WEFT serve on $BASE (database sqlite:var/weft.db)"
"$WEFT" serve --address "$ADDRESS" --port "$PORT" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' INT TERM EXIT

ready=0
for _ in $(seq 1 100); do
  if curl -s -o /dev/null --max-time 1 "$BASE/readyz"; then ready=1; break; fi
  if ! kill -0 $SERVER 2>/dev/null; then break; fi
  sleep 0.1
done
if [ $ready -ne 1 ]; then
  echo "run: error: the server did not become ready (see its messages above)." >&2
  exit 1
fi

# An API key for the administrator: reuse the one from an earlier run while it still works.
KEY_FILE=var/run-api-key
KEY=""
if [ -s "$KEY_FILE" ]; then
  KEY=$(cat "$KEY_FILE")
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$BASE/api/auth/me" || true)
  [ "$code" = "200" ] || KEY=""
fi
if [ -z "$KEY" ]; then
  ADMIN=${WEFT_ADMIN_EMAIL:-admin@localhost}
  if ! KEY=$("$WEFT" keys create "$ADMIN" --name run.sh); then
    echo "run: error: could not create an API key for $ADMIN (create an account with '$WEFT users create')." >&2
    exit 1
  fi
  (umask 077 && printf '%s\n' "$KEY" > "$KEY_FILE")
fi

# A first workflow through the API.
json_field() { sed -n "s/^{\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
WF=$(curl -s -X POST "$BASE/api/workflows" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' --data-binary @examples/hello.json)
WID=$(printf '%s' "$WF" | json_field id)
RUN=$(curl -s -X POST "$BASE/api/workflows/$WID/execute" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d '{"input":{"name":"Weft"}}')
EID=$(printf '%s' "$RUN" | sed -n 's/^{"execution":{"id":"\([^"]*\)".*/\1/p')

cat <<EOF

------------------------------------------------------------------------------------------
Weft is serving on $BASE  (Ctrl-C stops it; running work finishes or parks first)

An API key for the administrator is in $KEY_FILE (mode 0600). In another terminal:

  export WEFT_API_KEY=\$(cat $PWD/$KEY_FILE)

This script just saved examples/hello.json as workflow $WID and ran it:
  $RUN

Copy-paste:

  # save a workflow (every save is a new immutable version)
  curl -s -X POST $BASE/api/workflows -H "Authorization: Bearer \$WEFT_API_KEY" \\
       -H 'Content-Type: application/json' --data-binary @examples/branches.json

  # run one: quick workflows answer with their result, others with 202 + an execution id
  curl -s -X POST $BASE/api/workflows/$WID/execute -H "Authorization: Bearer \$WEFT_API_KEY" \\
       -H 'Content-Type: application/json' -d '{"input":{"name":"you"}}'

  # run it in the background and watch its events live (Server-Sent Events)
  curl -s -X POST "$BASE/api/workflows/$WID/execute?mode=async" -H "Authorization: Bearer \$WEFT_API_KEY"
  curl -N $BASE/api/executions/$EID/events -H "Authorization: Bearer \$WEFT_API_KEY"

  # list executions, read one execution's per-node logs
  curl -s "$BASE/api/executions?limit=5" -H "Authorization: Bearer \$WEFT_API_KEY"
  curl -s $BASE/api/executions/$EID/logs -H "Authorization: Bearer \$WEFT_API_KEY"

  # store a credential (secrets are encrypted with $WEFT_VAULT_KEY_FILE and never shown again),
  # then use it from an HTTP Request node with data.credentials {"auth": "<its id>"}
  curl -s $BASE/api/credentials/types -H "Authorization: Bearer \$WEFT_API_KEY"
  curl -s -X POST $BASE/api/credentials -H "Authorization: Bearer \$WEFT_API_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{"name":"my-api","type":"http_bearer","fields":{"token":"paste-the-token-here"}}'

  # ask a human: save examples/approval.json, run it (it parks), then answer its request
  curl -s -X POST $BASE/api/workflows -H "Authorization: Bearer \$WEFT_API_KEY" \\
       -H 'Content-Type: application/json' --data-binary @examples/approval.json
  curl -s -X POST $BASE/api/workflows/<its id>/execute -H "Authorization: Bearer \$WEFT_API_KEY"
  curl -s $BASE/api/orchestrator/pending -H "Authorization: Bearer \$WEFT_API_KEY"
  curl -s -X POST $BASE/api/orchestrator/respond/<request id> -H "Authorization: Bearer \$WEFT_API_KEY" \\
       -H 'Content-Type: application/json' -d '{"decision":"approve","comment":"ok"}'

  # everything else: the OpenAPI document, the palette, health and metrics
  curl -s $BASE/api/openapi.json
  curl -s $BASE/api/nodes -H "Authorization: Bearer \$WEFT_API_KEY"
  curl -s $BASE/metrics

The administrator's generated password is in var/initial-admin.json (mode 0600); log in with
POST /api/auth/login {"email","password"} for a JWT, change it with POST /api/auth/password.
------------------------------------------------------------------------------------------
EOF

wait $SERVER
