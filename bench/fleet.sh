#!/usr/bin/env bash
# Replicas on one machine (docs/BENCHMARKS.md, "Fleet"): requests/s of one
# `snapformer serve` replica against two, in the same run, on classification
# requests that all miss the cache (--no-cache). Each replica runs with
# --threads 1, so two replicas use both cores of this machine; one replica
# with --threads 2 is measured beside them for reference.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-8}
BASE_PORT=${BASE_PORT:-18950}
cmake --build build --target snapformer snapformer_load >/dev/null

pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop_all EXIT
start() {  # start PORT THREADS
  build/snapformer serve --host 127.0.0.1 --port "$1" --threads "$2" --no-cache \
    --model models/lang-id-bert >"/tmp/snapformer-fleet-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf "localhost:$1/health" >/dev/null && return; sleep 0.05; done
  echo "replica on port $1 did not start" >&2
  exit 1
}
load() {  # load PORTS -> requests/s
  build/snapformer_load --port "$1" --path /models/lang-id-bert --hit-rate 0 \
    --body '{"inputs": "Das ist ein schöner Tag, nicht wahr? {n}"}' --connections "$CONNECTIONS" --seconds "$SECONDS_EACH" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.1f %.2f %.2f %d" % (r["requests_per_second"], r["p50_ms"], r["p99_ms"], r["errors"]))'
}

start "$BASE_PORT" 1
read -r one p50_one p99_one err_one < <(load "$BASE_PORT")
stop_all
start "$BASE_PORT" 1
start $((BASE_PORT + 1)) 1
read -r two p50_two p99_two err_two < <(load "$BASE_PORT,$((BASE_PORT + 1))")
stop_all
start "$BASE_PORT" 2
read -r wide p50_wide p99_wide err_wide < <(load "$BASE_PORT")
stop_all

echo "| fleet (lang-id-bert, $CONNECTIONS connections, ${SECONDS_EACH} s each) | requests/s | p50 ms | p99 ms | errors | vs 1 replica |"
echo "|---|---|---|---|---|---|"
echo "| 1 replica, 1 thread | $one | $p50_one | $p99_one | $err_one | 1.00x |"
echo "| 2 replicas, 1 thread each | $two | $p50_two | $p99_two | $err_two | $(python3 -c "print(f'{$two/$one:.2f}x')") |"
echo "| 1 replica, 2 threads (reference) | $wide | $p50_wide | $p99_wide | $err_wide | $(python3 -c "print(f'{$wide/$one:.2f}x')") |"
