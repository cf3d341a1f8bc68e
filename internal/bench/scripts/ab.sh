#!/usr/bin/env bash
# A B A B comparison of posd and the Node reference (bench/node-reference in
# this repository) with identical `posd bench` settings: each server is
# started fresh for every run, pinned to core 0, the bench pinned to core 1,
# both at nice -15 (and in an autogroup of nice -15) so other work on the
# machine disturbs them less (needs root; otherwise nice 0).
#
#   internal/bench/scripts/ab.sh ROUNDS CLIENTS RATE DURATION TAG TARGET...
#     TARGET: node | posd-native | posd-socketio, the posd ones optionally
#             as posd-native=BINARY to compare two builds (results are then
#             tagged posd-native-BASENAME)
#   env: POSD  posd binary                     (default /tmp/pb/posd)
#        NODE_REF  the Node reference's folder   (default bench/node-reference
#                  of this repository; `npm ci` is run there when its
#                  node_modules is missing)
#        OUT   directory for JSON results      (default /tmp/pb/runs)
#        BENCH posd binary that runs the bench  (default $POSD)
#        POSD_PORT, NODE_PORT                  (default 5070, 5055; each must be free)
#        BENCH_FLAGS  extra posd bench flags, e.g. "--poll-interval 0"
#        POSD_FLAGS   extra posd serve flags, e.g. "--ws-send-buffer -1"
#        FLOOR=1      also measure the floor (BenchmarkLoopbackWriteCrossProcess,
#                     three times) after the runs, into $OUT/$TAG-floor.txt, so
#                     the set's ratios to the floor come from the same hour
#
# Each run writes $OUT/$TAG-$TARGET-$ROUND.json (posd bench --json) and .log
# (progress); one summary line per run goes to stdout. Summarise with
#   internal/bench/scripts/summary.py $OUT/$TAG-*.json
set -u
# Linux autogroups: nice only ranks processes within one session's group, so
# the runs get a session of their own and that group is given nice -15.
if [ -z "${AB_SESSION:-}" ] && command -v setsid >/dev/null; then
  AB_SESSION=1 exec setsid -w "$0" "$@"
fi
if [ "$(id -u)" = 0 ] && [ -w /proc/self/autogroup ]; then
  echo -15 >/proc/self/autogroup 2>/dev/null
fi
ROUNDS=$1 CLIENTS=$2 RATE=$3 DUR=$4 TAG=$5
shift 5
repo=$(cd "$(dirname "$0")/../../.." && pwd)
POSD=${POSD:-/tmp/pb/posd} NODE_REF=${NODE_REF:-$repo/bench/node-reference} OUT=${OUT:-/tmp/pb/runs}
BENCH=${BENCH:-$POSD} POSD_PORT=${POSD_PORT:-5070} NODE_PORT=${NODE_PORT:-5055}
NICE="nice -n -15"
[ "$(id -u)" = 0 ] || NICE=""
mkdir -p "$OUT"
# absolute, because the Node reference runs from its own folder
OUT=$(cd "$OUT" && pwd)
srvpid=""

stop() {
  if [ -n "$srvpid" ]; then
    kill "$srvpid" 2>/dev/null
    wait "$srvpid" 2>/dev/null
    srvpid=""
  fi
}
trap stop EXIT

wait_up() {
  for _ in $(seq 100); do
    if ! kill -0 "$srvpid" 2>/dev/null; then
      echo "server for $1 exited (port taken?)" >&2
      return 1
    fi
    curl -sf "$1/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2
  return 1
}

free_port() {
  if curl -s -o /dev/null "http://127.0.0.1:$1/"; then
    echo "port $1 is already in use: set POSD_PORT / NODE_PORT" >&2
    exit 1
  fi
}
free_port "$POSD_PORT"
free_port "$NODE_PORT"

# Only when a node target is asked for: a posd-only set needs no Node.js.
need_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "the node target needs Node.js (>= 20) and npm on PATH" >&2
    exit 1
  fi
  if [ ! -f "$NODE_REF/server.js" ]; then
    echo "no Node reference at $NODE_REF (set NODE_REF)" >&2
    exit 1
  fi
  if [ ! -d "$NODE_REF/node_modules" ]; then
    echo "installing the Node reference's dependencies (npm ci in $NODE_REF)" >&2
    (cd "$NODE_REF" && npm ci --no-audit --no-fund >&2) || exit 1
  fi
}
case " $* " in *" node "*) need_node ;; esac

start_node() {
  rm -rf "$OUT/node-db" && mkdir -p "$OUT/node-db"
  (cd "$NODE_REF" && exec env PORT=$NODE_PORT DB_PATH="$OUT/node-db/bench.db" LOG_LEVEL=warn $NICE taskset -c 0 node server.js) >"$OUT/node.out" 2>&1 &
  srvpid=$!
  wait_up http://127.0.0.1:$NODE_PORT
}

start_posd() {
  rm -rf "$OUT/posd-db" && mkdir -p "$OUT/posd-db"
  # Every bench client dials from 127.0.0.1: lift the per-address caps
  # (builds older than those caps do not know the flags).
  local edge=""
  if "${1:-$POSD}" serve --help 2>&1 | grep -q max-conns-per-addr; then
    edge="--max-conns-per-addr $((CLIENTS + 1000))"
  fi
  if "${1:-$POSD}" serve --help 2>&1 | grep -q max-prelogin-per-addr; then
    edge="$edge --max-prelogin-per-addr $((CLIENTS + 1000))"
  fi
  $NICE taskset -c 0 "${1:-$POSD}" serve --addr 127.0.0.1:$POSD_PORT --db "$OUT/posd-db/posd.db" --auth=off --log-level warn $edge ${POSD_FLAGS:-} >"$OUT/posd.out" 2>&1 &
  srvpid=$!
  wait_up http://127.0.0.1:$POSD_PORT
}

for r in $(seq "$ROUNDS"); do
  for target in "$@"; do
    t=${target%%=*} bin=""
    if [ "$t" != "$target" ]; then
      bin=${target#*=}
      t=$t-$(basename "$bin")
    fi
    case ${target%%=*} in
      node) start_node || exit 1; srv=http://127.0.0.1:$NODE_PORT proto=socketio ;;
      posd-native) start_posd "$bin" || exit 1; srv=http://127.0.0.1:$POSD_PORT proto=native ;;
      posd-socketio) start_posd "$bin" || exit 1; srv=http://127.0.0.1:$POSD_PORT proto=socketio ;;
      *) echo "unknown target $t" >&2; exit 2 ;;
    esac
    sleep 1
    out=$OUT/$TAG-$t-$r.json
    load=$(cut -d' ' -f1 /proc/loadavg)
    # --yes: the servers above are this script's own scratch servers.
    $NICE taskset -c 1 "$BENCH" bench --proto "$proto" --server "$srv" --setup --yes --json \
      --clients "$CLIENTS" --tenants 10 --display-share 0.05 --rate "$RATE" --duration "$DUR" \
      --server-pid "$srvpid" ${BENCH_FLAGS:-} >"$out" 2>"$OUT/$TAG-$t-$r.log"
    rc=$?
    stop
    if [ -s "$out" ]; then
      echo "$TAG $t round $r (load $load, exit $rc): $(python3 "$(dirname "$0")/summary.py" --line "$out")"
    else
      echo "$TAG $t round $r (load $load, exit $rc): no result; see $OUT/$TAG-$t-$r.log"
    fi
  done
done

if [ "${FLOOR:-0}" = 1 ]; then
  (cd "$repo" && go test -c -o "$OUT/bench.test" ./internal/bench) || exit 1
  $NICE "$OUT/bench.test" -test.run '^$' -test.bench CrossProcess -test.benchtime 100000x -test.count 3 >"$OUT/$TAG-floor.txt" 2>&1
  echo "$TAG floor (cpu-ns/write):" $(awk '/CrossProcess/ {for (i = 1; i < NF; i++) if ($(i+1) == "cpu-ns/write") printf "%s=%s ", $1, $i}' "$OUT/$TAG-floor.txt" | sed 's/BenchmarkLoopbackWriteCrossProcess\/conns=//g; s/-[0-9]*=/=/g')
fi
