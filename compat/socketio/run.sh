#!/usr/bin/env bash
# Runs the socket.io-client compatibility suite against a freshly built posd.
# Usage (from anywhere): bash compat/socketio/run.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/posd" ./cmd/posd)
cd "$here"
if [ ! -d node_modules/socket.io-client ]; then
  npm ci --no-audit --no-fund
fi
echo "node $(node --version), socket.io-client $(node -p "require('./node_modules/socket.io-client/package.json').version")"
POSD_BIN="$tmp/posd" node --test --test-concurrency=1 test/*.test.js
