#!/usr/bin/env bash
# Runs a command with a Node.js that raas's development commands can use (npm run
# example, npm test, npm run bench, .ci/run): the one on PATH when it will do, else Node 24
# from the npm package node@24, installed once into .tools/ of this checkout (or
# $RAAS_TOOLS_DIR) and put first on PATH. Said in one line when it installs.
#   usage: scripts/with-node.sh [--strip-types] <command> [args...]
#   --strip-types: the command runs .ts files directly (Node >= 22.18 or 23.6)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=("$root/bin/node-version.cjs" --check)
if [ "${1:-}" = --strip-types ]; then check+=(--strip-types); shift; fi
tools=${RAAS_TOOLS_DIR:-$root/.tools}

suits() { [ -x "$1" ] && "$1" "${check[@]}" 2>/dev/null; }

if ! suits "$(command -v node || echo /nonexistent)"; then
  if ! suits "$tools/node_modules/.bin/node"; then
    echo "raas: Node $(node --version 2>/dev/null || echo '(none)') is older than these commands need; installing Node 24 from npm (node@24) into $tools (once)" >&2
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error node@24 >&2
    suits "$tools/node_modules/.bin/node" || { echo "raas: $tools/node_modules/.bin/node does not run; remove $tools and try again" >&2; exit 2; }
  fi
  export PATH="$tools/node_modules/.bin:$PATH"
fi
exec "$@"
