#!/usr/bin/env bash
# Fetches the pinned Tree-sitter grammars (JavaScript, Python) that host/codecheck compiles.
# They are other projects' code (MIT), so they are never committed: this script downloads the npm
# tarballs, checks each against its pinned sha512 integrity string, and unpacks only what the
# build needs into the cache dir:
#   <cache>/<language>/src/parser.c, src/scanner.c, src/tree_sitter/*.h, LICENSE
# Idempotent and non-interactive; safe as root (no ownership taken from the archive, no package
# scripts run). When a language is already unpacked and its files match the checksums recorded
# at unpack time, nothing is fetched.
#
# Usage: scripts/grammars.sh [cache-dir]
#   cache dir: $1, else $WEFT_GRAMMAR_DIR, else <repo>/.deps/tree-sitter
#   (CMake reads the same place: -DWEFT_GRAMMAR_DIR=..., default <repo>/.deps/tree-sitter)
# Needs: npm (or curl), tar, coreutils. Registry: $npm_config_registry or registry.npmjs.org.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-${WEFT_GRAMMAR_DIR:-$ROOT/.deps/tree-sitter}}"

# language  npm package  version  dist.integrity (from `npm view NAME@VERSION dist.integrity`)
# ABI 14 grammars: the Debian tree-sitter 0.20.7 runtime loads ABI 13-14 only (0.25.x is ABI 15).
GRAMMARS=(
  "javascript tree-sitter-javascript 0.23.1 sha512-/bnhbrTD9frUYHQTiYnPcxyHORIw157ERBa6dqzaKxvR/x3PC4Yzd+D1pZIMS6zNg2v3a8BZ0oK7jHqsQo9fWA=="
  "python tree-sitter-python 0.23.6 sha512-yIM9z0oxKIxT7bAtPOhgoVl6gTXlmlIhue7liFT4oBPF/lha7Ha4dQBS82Av6hMMRZoVnFJI8M6mL+SwWoLD3A=="
)
# What the build needs from each tarball (paths inside it).
MEMBERS=(package/LICENSE package/src/parser.c package/src/scanner.c package/src/tree_sitter)

die() { echo "grammars: $*" >&2; exit 1; }

# sha512 of a file as an npm/SRI integrity string's hex digest, and the pinned string as hex.
sha512_hex() { sha512sum "$1" | cut -d' ' -f1; }
integrity_hex() {
  local b64="${1#sha512-}"
  printf '%s' "$b64" | base64 -d | od -An -v -tx1 | tr -d ' \n'
}

# True when <dir> was unpacked from the pinned tarball and is unchanged since.
unpacked_ok() {
  local dir="$1" integrity="$2"
  [ -f "$dir/.weft-integrity" ] && [ -f "$dir/.weft-sha256" ] || return 1
  [ "$(cat "$dir/.weft-integrity")" = "$integrity" ] || return 1
  [ -f "$dir/src/parser.c" ] && [ -f "$dir/src/scanner.c" ] && [ -f "$dir/LICENSE" ] || return 1
  (cd "$dir" && sha256sum --quiet --strict -c .weft-sha256 >/dev/null 2>&1)
}

# Downloads NAME@VERSION's tarball into <dest-file> (npm pack, or curl as a fallback).
fetch_tarball() {
  local name="$1" version="$2" dest="$3" tmp
  tmp="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
  if command -v npm >/dev/null 2>&1; then
    (cd "$tmp" && npm pack "$name@$version" --ignore-scripts --silent >/dev/null) ||
      { rm -rf "$tmp"; die "npm pack $name@$version failed (is the npm registry reachable?)"; }
  elif command -v curl >/dev/null 2>&1; then
    local registry="${npm_config_registry:-https://registry.npmjs.org/}"
    registry="${registry%/}"
    curl -fsSL --retry 3 -o "$tmp/$name-$version.tgz" "$registry/$name/-/$name-$version.tgz" ||
      { rm -rf "$tmp"; die "downloading $name@$version from $registry failed"; }
  else
    rm -rf "$tmp"
    die "neither npm nor curl is installed (run scripts/deps.sh)"
  fi
  [ -f "$tmp/$name-$version.tgz" ] || { rm -rf "$tmp"; die "npm pack did not produce $name-$version.tgz"; }
  mv -f "$tmp/$name-$version.tgz" "$dest"
  rm -rf "$tmp"
}

verify_tarball() {
  [ -f "$1" ] && [ "$(sha512_hex "$1")" = "$(integrity_hex "$2")" ]
}

install_one() {
  local lang="$1" name="$2" version="$3" integrity="$4"
  local dir="$CACHE/$lang" tgz="$CACHE/tarballs/$name-$version.tgz"

  if unpacked_ok "$dir" "$integrity"; then
    echo "grammars: $name@$version already present"
    return 0
  fi

  mkdir -p "$CACHE/tarballs"
  if ! verify_tarball "$tgz" "$integrity"; then
    rm -f "$tgz"
    echo "grammars: fetching $name@$version"
    fetch_tarball "$name" "$version" "$tgz"
    if ! verify_tarball "$tgz" "$integrity"; then
      local got
      got="$(sha512_hex "$tgz")"
      rm -f "$tgz"
      die "$name@$version: integrity mismatch (expected sha512 $(integrity_hex "$integrity"), got $got); refusing to use it"
    fi
  fi

  # Unpack into a fresh dir, then swap it in, so an interrupted run never leaves a half tree.
  local tmp
  tmp="$(mktemp -d "$CACHE/.unpack.XXXXXX")"
  tar -xzf "$tgz" -C "$tmp" --no-same-owner --no-same-permissions --touch "${MEMBERS[@]}" ||
    { rm -rf "$tmp"; die "$name@$version: unpacking failed"; }
  mkdir -p "$tmp/out"
  mv "$tmp/package/src" "$tmp/out/src"
  mv "$tmp/package/LICENSE" "$tmp/out/LICENSE"
  (cd "$tmp/out" && find . -type f ! -name '.weft-*' -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum > .weft-sha256)
  printf '%s\n' "$integrity" > "$tmp/out/.weft-integrity"
  printf '%s@%s\n' "$name" "$version" > "$tmp/out/.weft-package"
  rm -rf "$dir"
  mv "$tmp/out" "$dir"
  rm -rf "$tmp"
  echo "grammars: $name@$version unpacked into $dir"
}

mkdir -p "$CACHE"
# One run at a time per cache dir (CI may call deps.sh from parallel jobs).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.lock"
  flock 9
fi
for entry in "${GRAMMARS[@]}"; do
  # shellcheck disable=SC2086
  install_one $entry
done
