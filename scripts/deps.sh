#!/usr/bin/env bash
# Installs the Debian packages Weft needs to build, test and run. Idempotent: it only asks apt
# for packages that are not installed yet, and never prompts. Works as root (or via sudo).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  rapidjson-dev
  libboost-dev libboost-filesystem-dev libboost-system-dev
  libsoci-dev libsoci-sqlite3-4.0 libsoci-postgresql4.0 libsqlite3-dev
  libpq-dev postgresql
  libsodium-dev libcurl4-openssl-dev
  bubblewrap libseccomp-dev libtree-sitter-dev python3
  tzdata
  libpistache-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Optional extra packages a caller wants (e.g. bench tools): WEFT_EXTRA_PKGS="wrk hyperfine".
if [ -n "${WEFT_EXTRA_PKGS:-}" ]; then
  # shellcheck disable=SC2206
  PKGS+=(${WEFT_EXTRA_PKGS})
fi

# Node.js runs the OpenAPI validator in the tests (and, later, JavaScript code nodes). A machine
# that already has node + npm (e.g. from NodeSource, whose nodejs bundles npm and conflicts with
# Debian's npm package) keeps them; otherwise Debian's packages are installed.
if ! command -v node >/dev/null 2>&1; then PKGS+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then PKGS+=(npm); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages already installed"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: done"
fi

# The pinned Tree-sitter grammars (npm tarballs, checksum-verified; never committed) that
# host/codecheck compiles. Skips everything when they are already unpacked and intact.
"$(dirname "$0")/grammars.sh"
